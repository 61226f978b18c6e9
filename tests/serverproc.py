"""Run `cstp-server` as a real process on a free loopback port (for signal and crash tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """A cstp-server subprocess. Use as a context manager; it is killed on exit if still running."""

    def __init__(
        self,
        env: dict[str, str],
        args: tuple[str, ...] = (),
        cwd: Path | None = None,
        port: int | None = None,  # a restart on the same port (behind a balancer); default: a free one
    ):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CSTP_", "CHROMA_", "GEMINI_", "GUARDRAILS_", "EMBEDDING_"))
        }
        base |= {"CSTP_HOST": "127.0.0.1", "CSTP_PORT": str(self.port), "LOG_LEVEL": "INFO"}
        base |= env
        self.log = (cwd or Path(env.get("CSTP_DATA_DIR", "."))).parent / f"server-{self.port}.log"
        self._log_fh = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(BIN / "cstp-server"), *args],
            env=base,
            cwd=cwd,
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not ready in {timeout}s:\n{self.output()}")

    def output(self) -> str:
        self._log_fh.flush()
        return self.log.read_text(errors="replace")

    def rpc(self, token: str, method: str, params: dict[str, Any], timeout: float = 60) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        r = httpx.post(
            f"{self.url}/cstp",
            json=body,
            timeout=timeout,
            headers={"Authorization": f"Bearer {token}"},
        )
        r.raise_for_status()
        return r.json()

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._log_fh.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
