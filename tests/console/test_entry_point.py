"""The `cstp` console script as a process: declared in pyproject, exit codes from a real shell."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CSTP_")}
    return subprocess.run(
        [sys.executable, "-m", "cstp.console", *args],
        env={**clean, "PYTHONPATH": str(ROOT / "src"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_the_console_script_is_declared_beside_the_server() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["cstp"] == "cstp.console.main:main"
    assert scripts["cstp-server"] == "cstp.cli:main"


def test_help_lists_every_command() -> None:
    result = _run("--help")
    assert result.returncode == 0
    for command in (
        "record",
        "get",
        "query",
        "list",
        "check",
        "review",
        "calibration",
        "stats",
        "guardrails",
        "link",
        "update",
        "export",
        "import",
        "backup",
        "restore",
    ):
        assert command in result.stdout


def test_a_usage_error_exits_2() -> None:
    result = _run("query", "--limit", "many")
    assert result.returncode == 2 and "Usage:" in result.stderr and "--limit" in result.stderr


def test_an_unreachable_server_exits_1_with_the_reason() -> None:
    result = _run("stats", CSTP_URL="http://127.0.0.1:9", CSTP_TOKEN="whatever-token")
    assert result.returncode == 1 and "cannot reach http://127.0.0.1:9/cstp" in result.stderr
