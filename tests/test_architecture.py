"""The layout's promises that import-linter cannot state, plus a check that its contracts run.

The layers themselves (web > methods > domain, rpc without the domain, adapters behind the
composition root, no frameworks in the domain) are import-linter contracts in pyproject.toml, run by
`make lint`; `test_import_contracts_are_kept` runs them here too, so `pytest` alone catches a break.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import cstp

SRC = Path(cstp.__file__).parent
ROOT = SRC.parent.parent


def _reads_environment(tree: ast.AST) -> bool:
    """Any use of os.environ / os.getenv / os.putenv, however it was imported or spelled."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os":
            if node.attr in {"environ", "getenv", "environb", "putenv", "unsetenv"}:
                return True
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            if {a.name for a in node.names} & {"environ", "getenv", "environb"}:
                return True
    return False


def test_only_settings_reads_the_environment() -> None:
    # cli.py *writes* three telemetry switches before chromadb/onnxruntime load (os.environ.setdefault);
    # that is the one other use, and it reads nothing back.
    users = sorted(
        str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if _reads_environment(ast.parse(p.read_text()))
    )
    assert users == ["cli.py", "settings.py"]
    cli = (SRC / "cli.py").read_text()
    assert "os.environ.setdefault" in cli and "os.environ.get" not in cli and "os.environ[" not in cli


def test_public_surface_is_pinned() -> None:
    assert cstp.__all__ == ["Settings", "__version__", "create_app"]
    from cstp.app import create_app
    from cstp.settings import Settings

    assert cstp.create_app is create_app and cstp.Settings is Settings
    assert cstp.__version__ and cstp.__version__ != "0.0.0"


def test_importing_cstp_loads_no_framework_or_driver() -> None:
    code = (
        "import sys, cstp; print(sorted(m for m in ('fastapi','chromadb','onnxruntime') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_import_contracts_are_kept() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC.parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout[-3000:]
