"""The README stays true: its API examples run as a sequence against a live server, and its
statement of which reference clients work matches the registered methods."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cstp.app import all_methods
from tests.conftest import TOKEN

README = Path(__file__).resolve().parents[1] / "README.md"

# What each reference client calls (docs: /work/shared/CSTP-CLIENTS.md §1.11).
CLI = {
    "queryDecisions", "listGuardrails", "checkGuardrails", "recordDecision", "getDecision",
    "reviewDecision", "getCalibration", "getReasonStats",
}  # fmt: skip
DASHBOARD = {
    "listDecisions", "queryDecisions", "getStats", "getDecision", "reviewDecision", "getCalibration",
    "checkDrift", "debugTracker", "getNeighbors", "listBreakers", "resetCircuit",
}  # fmt: skip


def _missing(called: set[str]) -> set[str]:
    served = {name.removeprefix("cstp.") for name in all_methods()}
    return called - served


def _bullet(name: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^- \*\*{re.escape(name)}\*\*.*?(?=^- \*\*|^\(|^$)", text, re.M | re.S)
    assert match, f"README has no bullet for {name}"
    return match.group(0)


def test_readme_names_exactly_the_methods_the_dashboard_still_lacks() -> None:
    named = {m.removeprefix("cstp.") for m in re.findall(r"cstp\.\w+", _bullet("Dashboard"))}
    assert named == _missing(DASHBOARD)


def test_readme_cli_statement_holds() -> None:
    assert not _missing(CLI)
    assert f"all {len(CLI)} subcommands" in _bullet("CLI")


def test_readme_mcp_statement_holds(client: Any) -> None:
    served = client.post("/mcp", json={}).status_code != 404  # 401 without a token when served
    bullet = _bullet("MCP clients")
    assert ("not yet" in bullet) is not served
    if served:
        from cstp.web.mcp.tools import available

        assert f"all {len(available(all_methods()))} of the reference's tools" in bullet


def _examples() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## The API, one curl per method") :]
    section = section[: section.index("\n## ", 5)]
    return "\n".join(re.findall(r"```sh\n(.*?)```", section, re.S))


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_readme_api_examples_run_in_order(app_factory: Any) -> None:
    from tests.web.test_listener import _Served

    with _Served(app_factory()) as srv:
        script = _examples().replace("localhost:8100", f"127.0.0.1:{srv.port}")
        env = {**os.environ, "CSTP_TOKEN": TOKEN}
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], env=env, capture_output=True, text=True, timeout=120
        )
    assert done.returncode == 0, done.stderr
    replies = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert len(replies) == script.count("\ncstp cstp.") + script.startswith("cstp cstp.")
    failed = [
        r
        for r in replies
        if "error" in r or r["result"].get("success") is False or r["result"].get("found") is False
    ]
    assert not failed, failed
