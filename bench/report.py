"""The Markdown report (stdout) and the performance targets, evaluated from the figures.

Nothing here asserts: a missed target is reported as "missed" with the figure and the limit.
"""

from __future__ import annotations

from typing import Any


def _f(value: Any, digits: int = 2) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _pair(a: Any, b: Any) -> str:
    return "" if a is None else f"{_f(a)} / {_f(b)}"


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_f(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _find(results: list[dict[str, Any]], scenario: str, **match: Any) -> dict[str, Any] | None:
    for r in results:
        if r["scenario"] == scenario and all(r.get(k) == v for k, v in match.items()):
            return r
    return None


# The dashboard pages with a target row (bench/scenarios/ui.py measures these and a few variants).
UI_TARGET_PAGES = (
    "overview",
    "decisions (first page)",
    "decisions (filtered, sorted)",
    "decisions (semantic)",
    "decision",
    "calibration",
    "guardrails",
    "agents at work",
)


def targets(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Each performance target with the measured value, the limit and met / missed / not measured."""
    res = data["results"]
    out: list[dict[str, Any]] = []

    def add(name: str, value: float | None, limit: float, higher_is_better: bool, unit: str) -> None:
        met = None if value is None else (value >= limit if higher_is_better else value <= limit)
        out.append(
            {
                "target": name,
                "value": None if value is None else round(value, 3),
                "limit": limit,
                "unit": unit,
                "status": "not measured" if met is None else ("met" if met else "missed"),
            }
        )

    for mode in ("semantic", "filtered"):
        r = _find(res, f"queryDecisions {mode}", store="embedded", size=10_000, concurrency=1)
        add(
            f"queryDecisions {mode} p50, 10k, c=1, embedded ÷ (embed + raw Chroma)",
            r and r.get("ratio_p50"),
            1.25,
            False,
            "×",
        )
    hf = (data["floors"].get("http_floor") or {}).get("cstp", {})
    ref = (data["floors"].get("http_floor") or {}).get("reference", {})
    add(
        "HTTP floor (listGuardrails) p50 at c=1 ≤ the reference server's",
        hf.get("c=1", {}).get("p50_ms"),
        ref.get("p50_ms_c1", 0.0),
        False,
        "ms",
    )
    add(
        "HTTP floor (listGuardrails) req/s at c=16 ≥ the reference server's",
        hf.get("c=16", {}).get("rps"),
        ref.get("rps_c16", 0.0),
        True,
        "req/s",
    )
    pairs = (data["floors"].get("mcp") or {}).get("pairs", {})
    for tool in ("check_action", "get_decision"):
        pair = pairs.get(tool) or {}
        add(
            f"MCP {tool} p50 − its JSON-RPC twin's p50 ({pair.get('method', 'twin')}), c=1",
            pair.get("extra_p50_ms"),
            2.0,
            False,
            "ms",
        )
    for scenario in ("listDecisions (one filter, sorted, page of 50)", "getStats"):
        r = _find(res, scenario, store="embedded", size=100_000, concurrency=1)
        add(f"{scenario} p50, 100k, c=1, embedded", r and r["p50_ms"], 50, False, "ms")
    r = _find(res, "preAction (autoRecord off)", store="embedded", size=10_000, concurrency=1)
    add(
        "preAction p50 − queryDecisions semantic p50, 10k, c=1, embedded",
        r and r.get("overhead_p50_ms"),
        5.0,
        False,
        "ms",
    )
    add(
        "preAction p50 − category-filtered query p50 (like for like), 10k, c=1, embedded",
        r and r.get("like_for_like_overhead_p50_ms"),
        5.0,
        False,
        "ms",
    )
    r = _find(res, "getSessionContext", store="embedded", size=10_000, concurrency=1)
    add("getSessionContext p50, 10k, c=1, embedded", r and r["p50_ms"], 50, False, "ms")
    r = _find(res, "recordDecision", concurrency=16)
    add("recordDecision throughput at c=16", r and r["rps"], 300, True, "req/s")
    g200 = [r for r in res if r["scenario"].startswith("checkGuardrails") and (r.get("rules") or 0) >= 150]
    g10 = [r for r in res if r["scenario"].startswith("checkGuardrails") and (r.get("rules") or 0) < 150]
    c1 = next((r for r in g200 if r["concurrency"] == 1), None)
    c16 = next((r for r in g200 if r["concurrency"] == 16), None)
    add("checkGuardrails 200 rules p50 at c=1", c1 and c1["p50_ms"], 1.0, False, "ms")
    add("checkGuardrails 200 rules throughput at c=16", c16 and c16["rps"], 2000, True, "req/s")
    two = next(
        (r for r in res if r["scenario"].startswith("workers: checkGuardrails") and r.get("workers") == 2),
        None,
    )
    add(
        "checkGuardrails 200 rules at c=16: 2 workers ÷ 1 worker req/s (one Chroma server)",
        two and two.get("vs_one_worker"),
        1.7,
        True,
        "×",
    )
    t10 = next((r for r in g10 if r["concurrency"] == 16), None)
    add(
        "checkGuardrails 10 rules req/s ÷ HTTP floor req/s (c=16)",
        t10 and t10.get("rps_vs_http_floor"),
        0.5,
        True,
        "×",
    )
    t = data["floors"].get("transfer") or {}
    add(
        "cstp import at 10k ÷ batched-embedding ceiling (same run)",
        t.get("import_vs_ceiling"),
        0.8,
        True,
        "×",
    )
    add("cstp export at 10k", t.get("export_per_s"), 5000, True, "decisions/s")
    ui_pages = ((data["floors"].get("ui") or {}).get("embedded") or {}).get("100000") or {}
    for page in UI_TARGET_PAGES:
        figures = ui_pages.get(page) or {}
        add(
            f"dashboard {page}: server time p50, 100k, embedded",
            figures.get("server_p50_ms"),
            100,
            False,
            "ms",
        )
    mixed_rows = [r for r in res if r["scenario"].startswith("mixed load")]
    for mode in ("semantic", "keyword", "hybrid", "list"):
        r = next((x for x in mixed_rows if x["scenario"].endswith(f"query {mode}")), None)
        add(f"mixed load, 32 clients: query {mode} p99 ÷ p50", r and r.get("p99_over_p50"), 4.0, False, "×")
    # Every request counts, refusals too; a record's end-to-end time with its retries is no request.
    requests = [r for r in mixed_rows if not r["scenario"].endswith("end to end")]
    worst = max((r["max_ms"] for r in requests if r.get("max_ms") is not None), default=None)
    add("mixed load, 32 clients: slowest request", worst, 2000, False, "ms")
    d = data.get("docker") or {}
    add("container start → /ready 200 (median)", d.get("start_to_ready_median_s"), 2.0, False, "s")
    add("docker stop → exit, idle (median)", d.get("stop_median_s"), 1.0, False, "s")
    add("image size above its base", d.get("above_base_mb"), 350, False, "MB")
    mem = [m for m in data["memory"] if m["store"] == "embedded" and m["size"] == 10_000]
    rss = max((v for m in mem for k, v in m.items() if k.startswith("rss_") and v), default=None)
    add("server RSS at 10k decisions, embedded (max seen)", rss, 300, False, "MB")
    return out


def markdown(data: dict[str, Any]) -> str:
    meta = data["meta"]
    dirty = " (src/ modified)" if meta["git_dirty"] else ""
    if meta.get("source_changed_during_run"):
        dirty += f"; src/ changed during the run (ended at {meta.get('git_commit_at_end')})"
    parts = [
        f"# cstp benchmark ({meta['mode']} mode)",
        "",
        f"cstp {meta['cstp_version']} at {meta['git_commit']}{dirty}, "
        f"Python {meta['python']}, {meta['cpus']} CPUs, load client {meta['client']}, "
        f"load average at start {', '.join(f'{x:.2f}' for x in meta['load_average_at_start'])}, "
        f"{meta['duration_s']} s in all.",
        "",
        *([f"**Incomplete run:** {data['incomplete']}", ""] if data.get("incomplete") else []),
        "## Results (each with its floor, measured in this run)",
        "",
    ]
    rows = []
    for r in data["results"]:
        rows.append(
            [
                r["scenario"],
                r.get("store") or "",
                r.get("size") or "",
                r["concurrency"],
                round(r["rps"], 1),
                r["p50_ms"],
                r["p95_ms"],
                r["p99_ms"],
                r.get("floor", ""),
                r.get("floor_p50_ms"),
                r.get("ratio_p50"),
                r.get("rps_vs_http_floor"),
                r["server_cpu_ms"] and round(r["server_cpu_ms"], 2),
                r["errors"],
                r.get("loadavg_1m"),
            ]
        )
    parts.append(
        _table(
            [
                "scenario",
                "store",
                "N",
                "c",
                "req/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "floor",
                "floor p50 ms",
                "p50 ÷ floor",
                "req/s ÷ HTTP floor",
                "server CPU ms/req",
                "errors",
                "load 1m",
            ],
            rows,
        )
    )
    fl = data["floors"]
    wrows = [
        [
            r["scenario"].removeprefix("workers: "),
            r["workers"],
            (fl.get("workers") or {}).get(str(r["workers"]), {}).get("rss_mb"),
            round(r["rps"], 1),
            r.get("vs_one_worker", "1.0" if r["workers"] == 1 else None),
            r["p50_ms"],
            r["p99_ms"],
            r["server_cpu_ms"] and round(r["server_cpu_ms"], 2),
            r["errors"],
            r.get("loadavg_1m"),
        ]
        for r in data["results"]
        if r["scenario"].startswith("workers: ")
    ]
    if wrows:
        parts += ["", "## CSTP_WORKERS on one Chroma server (c=16)", ""]
        parts.append(
            "1 worker is the plain single server process. Server CPU counts the supervisor, the "
            "workers and the Chroma server; RSS is the supervisor's and the workers' together."
        )
        parts.append("")
        headers = ["method", "workers", "RSS MB", "req/s", "÷ 1 worker", "p50 ms", "p99 ms"]
        parts.append(_table([*headers, "server CPU ms/req", "errors", "load 1m"], wrows))
    if fl.get("http_floor"):
        hf = fl["http_floor"]
        ref = hf["reference"]
        parts += ["", f"## HTTP floor: {hf['method']} against the reference server", ""]
        parts.append(
            f"Medians of {hf['repeats']} runs per concurrency. The reference server's figures were "
            "measured on this machine with the same client."
        )
        parts.append("")
        hrows = [["reference server", 1, "–", ref["p50_ms_c1"], "–", "–"]]
        hrows.append(["reference server", 16, ref["rps_c16"], "–", "–", "–"])
        for c, m in hf["cstp"].items():
            hrows.append(
                ["cstp", int(c.removeprefix("c=")), m["rps"], m["p50_ms"], m["p99_ms"], m["server_cpu_ms"]]
            )
        parts.append(_table(["server", "c", "req/s", "p50 ms", "p99 ms", "server CPU ms/req"], hrows))
    if fl.get("ui"):
        parts += ["", "## Dashboard pages (/ui/), one signed-in session, c=1", ""]
        parts.append(
            "Server time: the response's `Server-Timing` (session read, method calls, template). "
            "Target: p50 ≤ 100 ms per page at 100k decisions."
        )
        parts.append("")
        urows = []
        for store, sizes in fl["ui"].items():
            for size, by_page in sizes.items():
                for page, m in by_page.items():
                    urows.append(
                        [
                            page,
                            store,
                            int(size),
                            m["server_p50_ms"],
                            m["server_p95_ms"],
                            m["latency_p50_ms"],
                            100,
                        ]
                    )
        headers = [
            "page",
            "store",
            "decisions",
            "server p50 ms",
            "server p95 ms",
            "latency p50 ms",
            "target ms",
        ]
        parts.append(_table(headers, urows))
    if fl.get("mcp"):
        mc = fl["mcp"]
        parts += ["", "## MCP tool calls against their JSON-RPC twins (one server, c=1)", ""]
        parts.append(f"Medians of {mc['repeats']} alternating runs per pair.")
        parts.append("")
        mrows = [
            [
                tool,
                m["method"],
                m["mcp_p50_ms"],
                m["rpc_p50_ms"],
                m["extra_p50_ms"],
                m["mcp_server_cpu_ms"],
                m["rpc_server_cpu_ms"],
            ]
            for tool, m in mc["pairs"].items()
        ]
        headers = ["tool", "twin", "tool p50 ms", "twin p50 ms", "extra ms", "tool CPU ms", "twin CPU ms"]
        parts.append(_table(headers, mrows))
    t = fl.get("transfer")
    if t:
        parts += ["", f"## Transfer: cstp import / export of {t['size']:,} decisions (embedded, ONNX)", ""]
        parts.append(
            _table(
                ["figure", "value"],
                [
                    ["import, decisions/s", t["import_per_s"]],
                    [
                        "batched-embedding ceiling, docs/s (same model, same run)",
                        t["embed_ceiling_docs_per_s"],
                    ],
                    ["import ÷ ceiling", t["import_vs_ceiling"]],
                    ["re-import (all unchanged), decisions/s", t["reimport_unchanged_per_s"]],
                    ["export, decisions/s", t["export_per_s"]],
                    ["export file, bytes", t["export_bytes"]],
                    # CPU figures (absent from runs before they were recorded)
                    *(
                        [label, t[key]]
                        for label, key in (
                            ("import, server CPU ms per decision", "import_server_cpu_ms_per_decision"),
                            ("ceiling, CPU ms per document", "ceiling_cpu_ms_per_doc"),
                            ("export, server CPU ms per 1,000", "export_server_cpu_ms_per_1k"),
                            ("export, client CPU ms per 1,000", "export_client_cpu_ms_per_1k"),
                            ("load average (1 min) at the end", "load_average"),
                        )
                        if key in t
                    ),
                ],
            )
        )
    parts += ["", "## Floors (in-process, same model, same collections)", ""]
    frows = []
    for store, sizes in fl.get("embed_query", {}).items():
        for size, e in sizes.items():
            frows.append(
                ["embed 1 query (OnnxEmbedder)", store, int(size), e["p50_ms"], e["p95_ms"], e["p99_ms"], ""]
            )
    if "embed_document" in fl:
        e = fl["embed_document"]
        frows.append(
            [
                "embed 1 document",
                "",
                "",
                e["p50_ms"],
                e["p95_ms"],
                e["p99_ms"],
                f"{e['batch_docs_per_s']} docs/s batched",
            ]
        )
    for store, sizes in fl.get("chroma", {}).items():
        for size, modes in sizes.items():
            for mode, s in modes.items():
                frows.append(
                    [
                        f"raw Chroma query ({mode})",
                        store,
                        int(size),
                        s["p50_ms"],
                        s["p95_ms"],
                        s["p99_ms"],
                        "",
                    ]
                )
    parts.append(_table(["floor", "store", "N", "p50 ms", "p95 ms", "p99 ms", "note"], frows))
    if fl.get("client_overhead"):
        parts += ["", "## Load clients compared (HTTP floor)", ""]
        parts.append(
            _table(
                [
                    "client",
                    "req/s",
                    "p50 ms",
                    "p99 ms",
                    "client CPU µs/req",
                    "server CPU ms/req",
                    "Little's law",
                ],
                [
                    [
                        k,
                        v["rps"],
                        v["p50_ms"],
                        v.get("p99_ms"),
                        v["client_cpu_us_per_request"],
                        v["server_cpu_ms_per_request"],
                        v.get("littles_law"),
                    ]
                    for k, v in fl["client_overhead"].items()
                ],
            )
        )
    parts += ["", "## Memory (VmRSS of the server process, MiB)", ""]
    parts.append(
        _table(
            [
                "store",
                "N",
                "at /ready",
                "after queries",
                "after recordDecision",
                "Chroma server at ready / after",
            ],
            [
                [
                    m["store"],
                    m["size"],
                    m.get("rss_ready_mb"),
                    m.get("rss_after_queries_mb"),
                    m.get("rss_after_record_mb"),
                    _pair(m.get("chroma_server_rss_ready_mb"), m.get("chroma_server_rss_after_queries_mb")),
                ]
                for m in data["memory"]
            ],
        )
    )
    parts += ["", "## Start-up and loading", ""]
    load_s = {(x["store"], x["size"]): x["seconds"] for x in data["loads"]}
    parts.append(
        _table(
            ["server", "N", "rules", "bulk load s (library)", "start → /ready s", "SIGTERM → exit s"],
            [
                [
                    s["store"],
                    s["size"],
                    s.get("rules", ""),
                    load_s.get((s["store"], s["size"])),
                    s["ready_s"],
                    s.get("stop_s"),
                ]
                for s in data["servers"]
            ],
        )
    )
    d = data.get("docker") or {}
    parts += ["", "## Docker", ""]
    if "skipped" in d:
        parts.append(f"Skipped: {d['skipped']}.")
    elif d:
        parts.append(
            _table(
                [
                    "image",
                    "size MB",
                    "base",
                    "base MB",
                    "above base MB",
                    "start → /ready s",
                    "stop s",
                    "build s",
                ],
                [
                    [
                        d["image"],
                        d.get("image_mb"),
                        d.get("base_image"),
                        d.get("base_mb"),
                        d.get("above_base_mb"),
                        f"{d.get('start_to_ready_median_s')} (runs {d.get('start_to_ready_s')})",
                        f"{d.get('stop_median_s')} (runs {d.get('stop_s')})",
                        d.get("build_s"),
                    ]
                ],
            )
        )
    parts += ["", "## Targets", ""]
    parts.append(
        _table(
            ["target", "measured", "limit", "status"],
            [
                [t["target"], f"{_f(t['value'], 3)} {t['unit']}", f"{t['limit']} {t['unit']}", t["status"]]
                for t in data["targets"]
            ],
        )
    )
    if data.get("notes"):
        parts += ["", "## Notes", ""] + [f"- {n}" for n in data["notes"]]
    return "\n".join(parts) + "\n"
