"""The layout's promises: the domain and the rpc pipeline stay free of frameworks and drivers."""

from __future__ import annotations

import ast
from pathlib import Path

import cstp

SRC = Path(cstp.__file__).parent


def imported_modules(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (SRC / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module.split(".")[0] if node.level == 0 else "")
        found[str(path.relative_to(SRC))] = names
    return found


def test_domain_imports_no_web_framework_database_driver_or_http_client() -> None:
    for module, names in imported_modules("domain").items():
        assert not names & {"fastapi", "starlette", "chromadb", "httpx", "uvicorn"}, module


def test_rpc_imports_neither_fastapi_nor_the_domain_services() -> None:
    for module, names in imported_modules("rpc").items():
        assert not names & {"fastapi", "starlette", "chromadb", "httpx"}, module


def test_only_settings_reads_the_environment() -> None:
    readers = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if "os.environ.get(" in p.read_text() or "os.getenv(" in p.read_text()
    ]
    assert readers == ["settings.py"]


def test_package_exports_its_version() -> None:
    assert cstp.__version__ and cstp.__version__ != "0.0.0"
