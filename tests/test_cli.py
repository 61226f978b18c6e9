"""`cstp-server` in-process: check-config refuses what the server refuses; a port in use fails
before anything announces readiness."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from cstp import cli


@pytest.mark.parametrize(
    ("tokens", "needle"),
    [("agent:short", "shorter than 8"), ("no-colon-here", "agent:token"), ("agent:", "agent:token")],
)
def test_check_config_refuses_tokens_the_server_refuses(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    tokens: str,
    needle: str,
) -> None:
    monkeypatch.setenv("CSTP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CSTP_AUTH_TOKENS", tokens)
    assert cli.main(["check-config"]) == 2
    assert needle in capsys.readouterr().err


def test_check_config_accepts_good_tokens(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("CSTP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CSTP_AUTH_TOKENS", "ops:long-enough-token")
    assert cli.main(["check-config"]) == 0
    assert "configuration OK; 1 token(s)" in capsys.readouterr().out


def test_a_port_in_use_fails_before_ready_is_logged(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.INFO)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        monkeypatch.setenv("CSTP_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("CSTP_AUTH_TOKENS", "ops:long-enough-token")
        code = cli.main(["--host", "127.0.0.1", "--port", str(port)])
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    assert not any(r.getMessage() == "cstp ready" for r in caplog.records)
