"""Operations with the Docker image: size, start to /ready 200, and `docker stop` to exit.

Runs only when a Docker engine answers (`docker info`, with the environment of
`../shared/tools/container-engine env` when that script exists); otherwise the section is skipped
with the reason. The image is built from the repository's Dockerfile with the classic builder and
host networking (`docker build --network host -t cstp:bench .`); containers run with
`--network host` on a free loopback port and are removed whatever happens.
"""

from __future__ import annotations

import os
import shlex
import statistics
import subprocess
import time
from typing import Any

from bench.harness import Harness
from bench.procs import HOST, ROOT, clean_env, free_port, http_get

IMAGE = "cstp:bench"
ENGINE_SCRIPT = ROOT.parent / "shared" / "tools" / "container-engine"


def docker_env() -> dict[str, str]:
    """The environment for `docker`: ours, plus what `container-engine env` exports, if present."""
    env = clean_env()
    if ENGINE_SCRIPT.exists() and "DOCKER_HOST" not in os.environ:
        try:
            out = subprocess.run([str(ENGINE_SCRIPT), "env"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return env
        for line in out.stdout.splitlines():
            if line.startswith("export ") and "=" in line:
                key, _, value = line.removeprefix("export ").partition("=")
                env[key.strip()] = shlex.split(value)[0] if value.strip() else ""
    return env


def _docker(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=timeout)


def _size(env: dict[str, str], image: str) -> int | None:
    out = _docker(env, "image", "inspect", "-f", "{{.Size}}", image)
    return int(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip().isdigit() else None


def _base_image() -> str:
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("ARG PYTHON_IMAGE="):
            return line.partition("=")[2].strip()
    return "python:3.11-slim"


def run(h: Harness, build_timeout: float) -> None:
    env = docker_env()
    h.registry.docker_env = env
    try:
        info = _docker(env, "info", "--format", "{{.ServerVersion}}", timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        h.docker = {"skipped": f"docker client unusable: {e}"}
        return
    if info.returncode != 0:
        h.docker = {"skipped": "no Docker engine reachable (docker info failed)"}
        h.log("Docker: skipped (no engine)")
        return
    result: dict[str, Any] = {"engine": info.stdout.strip(), "image": IMAGE}
    h.docker = result
    h.log("Docker: building the image ...")
    started = time.perf_counter()
    try:
        build = _docker(env, "build", "--network", "host", "-t", IMAGE, str(ROOT), timeout=build_timeout)
    except subprocess.TimeoutExpired:
        result["skipped"] = f"docker build took longer than {build_timeout:.0f}s"
        return
    result["build_s"] = round(time.perf_counter() - started, 1)
    if build.returncode != 0:
        result["skipped"] = "docker build failed: " + (build.stderr.strip().splitlines() or ["?"])[-1][:300]
        return
    base = _base_image()
    size, base_size = _size(env, IMAGE), _size(env, base)
    result["base_image"] = base
    if size is not None:
        result["image_mb"] = round(size / 1e6, 1)
    if size is not None and base_size is not None:
        result["base_mb"] = round(base_size / 1e6, 1)
        result["above_base_mb"] = round((size - base_size) / 1e6, 1)
    starts, stops = [], []
    for i in range(h.config.docker_repeats):
        ready, stop = _start_stop(h, env, i)
        starts.append(ready)
        stops.append(stop)
    result["start_to_ready_s"] = [round(x, 3) for x in starts]
    result["stop_s"] = [round(x, 3) for x in stops]
    result["start_to_ready_median_s"] = round(statistics.median(starts), 3)
    result["stop_median_s"] = round(statistics.median(stops), 3)
    h.log(
        f"Docker: image {result.get('image_mb')} MB ({result.get('above_base_mb')} MB above {base}), "
        f"ready in {result['start_to_ready_median_s']}s, stop {result['stop_median_s']}s"
    )


def _start_stop(h: Harness, env: dict[str, str], i: int) -> tuple[float, float]:
    port = free_port()
    name = f"cstp-bench-{os.getpid()}-{i}"
    argv = [
        "run",
        "-d",
        "--rm",
        "--name",
        name,
        "--network",
        "host",
        "-e",
        f"CSTP_HOST={HOST}",
        "-e",
        f"CSTP_PORT={port}",
        "-e",
        f"CSTP_AUTH_TOKENS=bench:{h.token}",
        "-e",
        "LOG_LEVEL=WARNING",
        IMAGE,
    ]
    started = time.perf_counter()
    out = _docker(env, *argv)
    if out.returncode != 0:
        raise RuntimeError(f"docker run failed: {out.stderr.strip()[:300]}")
    h.registry.containers.append(name)
    deadline = started + 120
    while time.perf_counter() < deadline:
        status, _ = http_get(f"http://{HOST}:{port}/ready", timeout=2)
        if status == 200:
            break
        time.sleep(0.02)
    else:
        logs = _docker(env, "logs", "--tail", "20", name).stdout
        raise RuntimeError(f"container not ready after 120s:\n{logs}")
    ready = time.perf_counter() - started
    started = time.perf_counter()
    _docker(env, "stop", "-t", "10", name, timeout=30)
    stop = time.perf_counter() - started
    h.registry.containers.remove(name)
    return ready, stop
