"""Start a real ChromaDB server on 127.0.0.1 for tests (the `chroma` CLI next to the interpreter).

    url, process = start_chroma_server(tmp_path / "chroma")
    ...
    stop_chroma_server(process)

Used by the store contract suite (tests/ports) and by integration tests that run cstp against a
Chroma server. The server's output goes to `<path>/../chroma-server.log`, quoted when it fails to
start.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

# Chroma needs about 0.6 s to answer; a loaded 2-core CI machine can be much slower.
START_TIMEOUT = 60.0
TELEMETRY_OFF = {
    "ORT_DISABLE_TELEMETRY": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "HF_HUB_OFFLINE": "1",
}


def chroma_executable() -> Path | None:
    """The `chroma` CLI installed with chromadb in this interpreter's environment, if any."""
    candidate = Path(sys.executable).parent / ("chroma.exe" if os.name == "nt" else "chroma")
    return candidate if candidate.exists() else None


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_chroma_server(path: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """Run `chroma run` on a free loopback port with data in `path`; return (url, process).

    Returns once `/api/v2/heartbeat` answers 200. Raises RuntimeError (with the server log's
    tail) if the executable is missing or the server does not come up.
    """
    exe = chroma_executable()
    if exe is None:
        raise RuntimeError(f"no chroma executable next to {sys.executable}")
    path.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = path.parent / f"chroma-server-{port}.log"
    env = {**os.environ, **TELEMETRY_OFF}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(exe), "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=1.0).status_code == 200:
                return url, process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_chroma_server(process)
    tail = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"chroma server on {url} did not become ready; log tail:\n{tail}")


def stop_chroma_server(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM, wait, then SIGKILL if it is still running."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)
