"""The dashboard's pages (/ui/) on a server holding the benchmark's decisions.

One signed-in browser session (a cookie from the sign-in form), then each page requested one
at a time, `repeats` times after a warm-up: the figure is the server time of each response (its
`Server-Timing: app;dur=` header: routing, the session read, every method call and the template,
until the response starts) and the client's latency next to it. Target: server time p50 ≤ 100 ms
per page at 100k decisions (docs/PERFORMANCE.md).

    python -m bench --only ui                       # the mode's sizes, embedded Chroma
    python -m bench --only ui --sizes 100000        # the target's size alone
"""

from __future__ import annotations

import http.client
import re
import statistics
import time
from typing import Any
from urllib.parse import urlencode

from bench.harness import Harness
from bench.procs import HOST, Proc, rpc

_FORM = re.compile(r'name="form" value="([^"]+)"')
_TIMING = re.compile(r"app;dur=([0-9.]+)")


def pages(decision_id: str) -> dict[str, str]:
    return {
        "overview": "/ui/",
        "decisions (first page)": "/ui/decisions",
        "decisions (filtered, sorted)": "/ui/decisions?category=security&sort=confidence&order=desc",
        "decisions (full-text search)": "/ui/decisions?q=cache",
        "decisions (semantic)": "/ui/decisions?mode=semantic&q=which+database+for+billing",
        "decision": f"/ui/decisions/{decision_id}",
        "calibration": "/ui/calibration",
        "calibration (one category, 90d)": "/ui/calibration?category=architecture&window=90d",
        "guardrails": "/ui/guardrails",
        "agents at work": "/ui/agents",
    }


class Session:
    """One keep-alive connection carrying the session cookie."""

    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=120)
        self.cookie = ""
        page = self.get("/ui/signin")[2]
        found = _FORM.search(page)
        if found is None:
            raise RuntimeError("the sign-in page has no form token")
        body = urlencode({"form": found.group(1), "token": token, "next": "/ui/"})
        self.conn.request("POST", "/ui/signin", body, {"Content-Type": "application/x-www-form-urlencoded"})
        response = self.conn.getresponse()
        response.read()
        cookie = response.getheader("set-cookie") or ""
        if response.status != 303 or not cookie:
            raise RuntimeError(f"sign-in failed: HTTP {response.status}")
        self.cookie = cookie.split(";", 1)[0]

    def get(self, path: str) -> tuple[int, float | None, str]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        self.conn.request("GET", path, headers=headers)
        response = self.conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        timing = _TIMING.search(response.getheader("server-timing") or "")
        return response.status, float(timing.group(1)) if timing else None, text

    def close(self) -> None:
        self.conn.close()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(h: Harness, server: Proc, store: str, size: int, repeats: int | None = None) -> None:
    """Rows in `h.floors["ui"][store][size]`: per page, server-time and latency p50/p95."""
    n = repeats or (40 if h.config.mode == "full" else 15)
    listed = rpc(server.port, h.token, "cstp.listDecisions", {"limit": 1})
    decision_id = listed["decisions"][0]["id"]
    session = Session(server.port, h.token)
    out: dict[str, Any] = {}
    try:
        for name, path in pages(decision_id).items():
            for _ in range(3):  # warm-up: the first calls take lazy paths (BM25 index, caches)
                status, _, text = session.get(path)
                if status != 200 or 'class="alert"' in text:
                    raise RuntimeError(f"{path}: HTTP {status} or an error on the page")
            server_ms: list[float] = []
            latency_ms: list[float] = []
            for _ in range(n):
                started = time.perf_counter()
                status, timing, _ = session.get(path)
                latency_ms.append((time.perf_counter() - started) * 1000)
                if status != 200 or timing is None:
                    raise RuntimeError(f"{path}: HTTP {status}")
                server_ms.append(timing)
            out[name] = {
                "path": path,
                "requests": n,
                "server_p50_ms": round(statistics.median(server_ms), 2),
                "server_p95_ms": round(_pct(server_ms, 0.95), 2),
                "latency_p50_ms": round(statistics.median(latency_ms), 2),
            }
            h.log(f"ui {store}-{size} {name}: server p50 {out[name]['server_p50_ms']} ms")
    finally:
        session.close()
    h.floors.setdefault("ui", {}).setdefault(store, {})[str(size)] = out


def run_alone(h: Harness, use_cache: bool = True) -> None:
    """`--only ui`: the mode's sizes on embedded Chroma, each loaded, served and measured."""
    from bench import preload
    from bench.procs import start_cstp
    from bench.scenarios.browse import wait_for_catalogue
    from cstp.adapters.chroma.store import ChromaStore
    from cstp.adapters.onnx_embedder import OnnxEmbedder

    embedder = OnnxEmbedder()
    try:
        real = preload.real_vectors(embedder, use_cache=use_cache)
        vectors = preload.vectors_for(max(h.config.sizes), real.matrix)
        space = embedder.space
    finally:
        embedder.close()
    for size in h.config.sizes:
        data_dir = h.workdir / f"data-ui-{size}"
        store = ChromaStore.embedded(data_dir / "chroma", prefix="cstp", space=space)
        h.log(f"loading {size} decisions into embedded Chroma ...")
        try:
            seconds = preload.load(store, size, vectors)
        finally:
            store.close()
        h.loads.append({"store": "embedded", "size": size, "seconds": round(seconds, 2)})
        server = start_cstp(
            h.registry, f"ui-{size}", token=h.token, logs=h.workdir / "logs", data_dir=data_dir
        )
        try:
            wait_for_catalogue(server)
            run(h, server, "embedded", size)
        finally:
            h.registry.stop(server)
