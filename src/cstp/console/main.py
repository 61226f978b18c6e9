"""The `cstp` command: global options, and the commands that map one-to-one onto protocol methods.

Flags are named like the protocol's params (`--min-confidence` → `filters.minConfidence`,
`--review-in` → `reviewIn`). Transfer commands (export, import, backup, restore) live in
`console.transfer` and `console.backup`.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from cstp.console import backup, output, transfer
from cstp.console.session import DEFAULT_URL, Session, find_token, session_of, usage_error


class RetrievalMode(StrEnum):
    """queryDecisions' retrievalMode (a choice, so a typo is a usage error, exit 2)."""

    semantic = "semantic"
    keyword = "keyword"
    hybrid = "hybrid"


class BridgeSide(StrEnum):
    structure = "structure"
    function = "function"


app = typer.Typer(
    name="cstp",
    help="Use a CSTP decision server from the terminal: record, query, review; export, import, backup.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def connect(
    ctx: typer.Context,
    url: Annotated[str, typer.Option(envvar="CSTP_URL", help="Server base URL.")] = DEFAULT_URL,
    token: Annotated[
        str | None, typer.Option(envvar="CSTP_TOKEN", help="Bearer token (default: <data-dir>/auth_token).")
    ] = None,
    data_dir: Annotated[
        Path,
        typer.Option(envvar="CSTP_DATA_DIR", help="A server's data directory, to read its generated token."),
    ] = Path("data"),
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON, for scripts.")] = False,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for each call.")] = 300.0,
) -> None:
    ctx.obj = Session(url=url, token=find_token(token, data_dir), json=as_json, timeout=timeout)
    ctx.call_on_close(ctx.obj.close)


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None and v != [] and v != {}}


def _reasons(values: list[str]) -> list[dict[str, Any]]:
    """`type:text[:strength]` → reason objects (the reference CLI's syntax)."""
    reasons = []
    for value in values:
        kind, sep, rest = value.partition(":")
        if not sep or not rest:
            raise usage_error(f"--reason must look like type:text[:strength], got {value!r}")
        text, _, strength = rest.rpartition(":")
        reason: dict[str, Any] = {"type": kind, "text": rest}
        if text and strength.replace(".", "", 1).isdigit():
            reason = {"type": kind, "text": text, "strength": float(strength)}
        reasons.append(reason)
    return reasons


def _pairs(values: list[str], flag: str, number: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key:
            raise usage_error(f"{flag} must look like key=value, got {value!r}")
        if number:
            try:
                out[key] = float(raw)
            except ValueError:
                raise usage_error(f"{flag} {key} needs a number, got {raw!r}") from None
        else:
            try:
                out[key] = json.loads(raw)
            except ValueError:
                out[key] = raw
    return out


def _show(session: Session, result: Any, human: Any) -> None:
    if session.json:
        output.emit_json(result)
    else:
        human(result)


Opt = typer.Option


@app.command()
def record(
    ctx: typer.Context,
    decision: Annotated[str, typer.Argument(help="What was decided.")],
    confidence: Annotated[float | None, Opt(min=0.0, max=1.0)] = None,
    category: Annotated[str | None, Opt(help="architecture|process|integration|tooling|security")] = None,
    stakes: Annotated[str | None, Opt(help="low|medium|high|critical")] = None,
    context: Annotated[str | None, Opt()] = None,
    reason: Annotated[list[str] | None, Opt(help="type:text[:strength], repeatable.")] = None,
    tag: Annotated[list[str] | None, Opt(help="Repeatable.")] = None,
    pattern: Annotated[str | None, Opt()] = None,
    project: Annotated[str | None, Opt()] = None,
    feature: Annotated[str | None, Opt()] = None,
    pr: Annotated[int | None, Opt()] = None,
    file: Annotated[str | None, Opt()] = None,
    line: Annotated[int | None, Opt()] = None,
    commit: Annotated[str | None, Opt()] = None,
    review_in: Annotated[str | None, Opt(help='e.g. "7d", "2w", "1m".')] = None,
    mental_state: Annotated[str | None, Opt()] = None,
) -> None:
    """Record a decision (cstp.recordDecision)."""
    session = session_of(ctx)
    params = _drop_none(
        {
            "decision": decision,
            "confidence": confidence,
            "category": category,
            "stakes": stakes,
            "context": context,
            "reasons": _reasons(reason or []),
            "tags": tag,
            "pattern": pattern,
            "project": project,
            "feature": feature,
            "pr": pr,
            "file": file,
            "line": line,
            "commit": commit,
            "reviewIn": review_in,
            "mentalState": mental_state,
        }
    )
    result = session.call("cstp.recordDecision", params)

    def human(r: dict[str, Any]) -> None:
        output.out.print(
            f"Recorded [bold]{r['id']}[/bold]" + ("" if r.get("indexed") else " (not indexed yet)")
        )
        quality = r.get("quality") or {}
        output.fields([("quality", quality.get("score"))])
        for s in quality.get("suggestions", []):
            output.out.print(f"  - {output.escape(s)}")
        for w in r.get("guardrail_warnings") or []:
            rule, message = output.escape(w.get("guardrail_id")), output.escape(w.get("message"))
            output.err.print(f"[yellow]guardrail {rule}:[/yellow] {message}")

    _show(session, result, human)


@app.command()
def get(ctx: typer.Context, id: Annotated[str, typer.Argument(help="Decision id or unique prefix.")]) -> None:
    """Show one decision (cstp.getDecision)."""
    session = session_of(ctx)
    result = session.call("cstp.getDecision", {"id": id})
    if not result.get("found"):
        if session.json:
            output.emit_json(result)
        output.err.print(f"[red]Error:[/red] {output.escape(result.get('error') or 'not found')}")
        raise typer.Exit(1)

    def human(r: dict[str, Any]) -> None:
        d = r["decision"]
        output.fields((k, d.get(k)) for k in ("id", "decision", "category", "stakes", "confidence", "status"))
        output.fields(
            (k, v)
            for k, v in d.items()
            if k not in ("id", "decision", "summary", "category", "stakes", "confidence", "status")
        )

    _show(session, result, human)


@app.command()
def query(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="Query text; empty lists newest first.")] = "",
    limit: Annotated[int | None, Opt(min=1)] = None,
    mode: Annotated[RetrievalMode | None, Opt("--mode", "--retrieval-mode")] = None,
    hybrid_weight: Annotated[float | None, Opt(min=0.0, max=1.0)] = None,
    bridge_side: Annotated[BridgeSide | None, Opt()] = None,
    include_reasons: Annotated[bool, Opt()] = False,
    include_detail: Annotated[bool, Opt()] = False,
    compacted: Annotated[bool, Opt()] = False,
    category: Annotated[str | None, Opt()] = None,
    min_confidence: Annotated[float | None, Opt()] = None,
    max_confidence: Annotated[float | None, Opt()] = None,
    date_after: Annotated[str | None, Opt()] = None,
    date_before: Annotated[str | None, Opt()] = None,
    stakes: Annotated[list[str] | None, Opt(help="Repeatable.")] = None,
    status: Annotated[list[str] | None, Opt(help="Repeatable.")] = None,
    project: Annotated[str | None, Opt()] = None,
    feature: Annotated[str | None, Opt()] = None,
    pr: Annotated[int | None, Opt()] = None,
    has_outcome: Annotated[bool | None, Opt("--has-outcome/--no-outcome")] = None,
    tag: Annotated[list[str] | None, Opt(help="Repeatable.")] = None,
    agent: Annotated[str | None, Opt()] = None,
) -> None:
    """Search decisions (cstp.queryDecisions), in every mode and with every filter."""
    session = session_of(ctx)
    filters = _drop_none(
        {
            "category": category,
            "minConfidence": min_confidence,
            "maxConfidence": max_confidence,
            "dateAfter": date_after,
            "dateBefore": date_before,
            "stakes": stakes,
            "status": status,
            "project": project,
            "feature": feature,
            "pr": pr,
            "hasOutcome": has_outcome,
            "tags": tag,
            "agent": agent,
        }
    )
    params = _drop_none(
        {
            "query": text,
            "limit": limit,
            "retrievalMode": mode.value if mode else None,
            "hybridWeight": hybrid_weight,
            "bridgeSide": bridge_side.value if bridge_side else None,
            "includeReasons": include_reasons or None,
            "includeDetail": include_detail or None,
            "compacted": compacted or None,
            "filters": filters,
        }
    )
    result = session.call("cstp.queryDecisions", params)

    def human(r: dict[str, Any]) -> None:
        output.table(
            f"{r.get('total', 0)} decisions ({r.get('retrievalMode')})",
            ["id", "distance", "category", "stakes", "conf", "status", "title"],
            (
                [
                    d["id"],
                    d.get("distance"),
                    d.get("category"),
                    d.get("stakes"),
                    d.get("confidence"),
                    d.get("status"),
                    d.get("title"),
                ]
                for d in r.get("decisions", [])
            ),
        )

    _show(session, result, human)


@app.command("list")
def list_(
    ctx: typer.Context,
    limit: Annotated[int | None, Opt(min=1)] = None,
    offset: Annotated[int | None, Opt(min=0)] = None,
    category: Annotated[str | None, Opt()] = None,
    stakes: Annotated[str | None, Opt()] = None,
    status: Annotated[str | None, Opt()] = None,
    agent: Annotated[str | None, Opt()] = None,
    tag: Annotated[list[str] | None, Opt(help="Repeatable.")] = None,
    project: Annotated[str | None, Opt()] = None,
    date_from: Annotated[str | None, Opt()] = None,
    date_to: Annotated[str | None, Opt()] = None,
    search: Annotated[str | None, Opt()] = None,
    sort: Annotated[str | None, Opt(help="created_at|confidence|category|stakes|status")] = None,
    order: Annotated[str | None, Opt(help="asc|desc")] = None,
) -> None:
    """List decisions page by page (cstp.listDecisions)."""
    session = session_of(ctx)
    params = _drop_none(
        {
            "limit": limit,
            "offset": offset,
            "category": category,
            "stakes": stakes,
            "status": status,
            "agent": agent,
            "tags": tag,
            "project": project,
            "dateFrom": date_from,
            "dateTo": date_to,
            "search": search,
            "sort": sort,
            "order": order,
        }
    )
    result = session.call("cstp.listDecisions", params)

    def human(r: dict[str, Any]) -> None:
        shown = len(r.get("decisions", []))
        output.table(
            f"{r.get('offset', 0) + 1 if shown else 0}-{r.get('offset', 0) + shown} of {r.get('total', 0)}",
            ["id", "date", "category", "stakes", "conf", "status", "decision"],
            (
                [
                    d["id"],
                    d.get("date"),
                    d.get("category"),
                    d.get("stakes"),
                    d.get("confidence"),
                    d.get("status"),
                    (d.get("decision") or "")[:80],
                ]
                for d in r.get("decisions", [])
            ),
        )

    _show(session, result, human)


@app.command()
def check(
    ctx: typer.Context,
    description: Annotated[str, typer.Argument(help="The action about to be taken.")],
    category: Annotated[str | None, Opt()] = None,
    stakes: Annotated[str | None, Opt()] = None,
    confidence: Annotated[float | None, Opt(min=0.0, max=1.0)] = None,
    context: Annotated[list[str] | None, Opt(help="key=value (JSON values allowed), repeatable.")] = None,
) -> None:
    """Check an action against the guardrails (cstp.checkGuardrails).

    Exits 0 whether the action is allowed or blocked: the verdict is the output."""
    session = session_of(ctx)
    action = _drop_none(
        {
            "description": description,
            "category": category,
            "stakes": stakes,
            "confidence": confidence,
            "context": _pairs(context or [], "--context"),
        }
    )
    result = session.call("cstp.checkGuardrails", {"action": action})

    def human(r: dict[str, Any]) -> None:
        verdict = "[green]allowed[/green]" if r.get("allowed") else "[red]blocked[/red]"
        output.out.print(f"{verdict} ({r.get('evaluated', 0)} guardrails evaluated)")
        for finding in [*r.get("violations", []), *r.get("warnings", [])]:
            severity = output.escape(finding.get("severity") or "block")
            rule, message = output.escape(finding.get("guardrailId")), output.escape(finding.get("message"))
            style = "red" if severity == "block" else "yellow"
            output.out.print(f"  [{style}]{severity}[/{style}] {rule}: {message}")

    _show(session, result, human)


@app.command()
def review(
    ctx: typer.Context,
    id: Annotated[str, typer.Argument()],
    outcome: Annotated[str, Opt(help="success|partial|failure|abandoned")],
    actual_result: Annotated[str | None, Opt()] = None,
    lessons: Annotated[str | None, Opt()] = None,
    notes: Annotated[str | None, Opt()] = None,
    kpi: Annotated[list[str] | None, Opt("--affected-kpi", help="name=number, repeatable.")] = None,
) -> None:
    """Record a decision's outcome (cstp.reviewDecision)."""
    session = session_of(ctx)
    params = _drop_none(
        {
            "id": id,
            "outcome": outcome,
            "actualResult": actual_result,
            "lessons": lessons,
            "notes": notes,
            "affectedKpis": _pairs(kpi or [], "--affected-kpi", number=True),
        }
    )
    result = session.call("cstp.reviewDecision", params)
    _show(
        session,
        result,
        lambda r: output.out.print(f"Reviewed [bold]{r['id']}[/bold]: {output.escape(outcome)}"),
    )


@app.command()
def calibration(
    ctx: typer.Context,
    agent: Annotated[str | None, Opt()] = None,
    category: Annotated[str | None, Opt()] = None,
    stakes: Annotated[str | None, Opt()] = None,
    since: Annotated[str | None, Opt()] = None,
    until: Annotated[str | None, Opt()] = None,
    min_decisions: Annotated[int | None, Opt(min=1)] = None,
    project: Annotated[str | None, Opt()] = None,
    feature: Annotated[str | None, Opt()] = None,
    window: Annotated[str | None, Opt(help="30d|60d|90d|all")] = None,
) -> None:
    """How well confidence predicted outcomes (cstp.getCalibration)."""
    session = session_of(ctx)
    filters = _drop_none(
        {
            "agent": agent,
            "category": category,
            "stakes": stakes,
            "since": since,
            "until": until,
            "minDecisions": min_decisions,
            "project": project,
            "feature": feature,
        }
    )
    result = session.call("cstp.getCalibration", _drop_none({"filters": filters, "window": window}))

    def human(r: dict[str, Any]) -> None:
        overall = r.get("overall")
        if overall:
            output.fields(
                (k, overall.get(k))
                for k in (
                    "brierScore",
                    "accuracy",
                    "calibrationGap",
                    "interpretation",
                    "reviewedDecisions",
                    "totalDecisions",
                )
            )
        else:
            output.out.print("Not enough reviewed decisions for a calibration yet.")
        buckets = r.get("byConfidenceBucket") or []
        if buckets:
            output.table(
                "by confidence",
                ["bucket", "decisions", "success rate", "expected", "gap"],
                (
                    [b["bucket"], b["decisions"], b["successRate"], b["expectedRate"], b["gap"]]
                    for b in buckets
                ),
            )
        for rec in r.get("recommendations", []):
            output.out.print(f"- {output.escape(rec.get('message'))}")

    _show(session, result, human)


@app.command()
def stats(
    ctx: typer.Context,
    date_from: Annotated[str | None, Opt()] = None,
    date_to: Annotated[str | None, Opt()] = None,
    project: Annotated[str | None, Opt()] = None,
) -> None:
    """Counts by category, stakes, status and agent (cstp.getStats)."""
    session = session_of(ctx)
    result = session.call(
        "cstp.getStats", _drop_none({"dateFrom": date_from, "dateTo": date_to, "project": project})
    )

    def human(r: dict[str, Any]) -> None:
        output.out.print(f"[bold]{r.get('total', 0)}[/bold] decisions")
        for key in ("byCategory", "byStakes", "byStatus", "byAgent"):
            counts = r.get(key) or {}
            if counts:
                output.table(key, ["value", "count"], sorted(counts.items(), key=lambda kv: -kv[1]))

    _show(session, result, human)


@app.command()
def guardrails(
    ctx: typer.Context, scope: Annotated[str | None, Opt(help="Only rules for this project scope.")] = None
) -> None:
    """List the loaded guardrails (cstp.listGuardrails)."""
    session = session_of(ctx)
    result = session.call("cstp.listGuardrails", _drop_none({"scope": scope}))
    _show(
        session,
        result,
        lambda r: output.table(
            f"{r.get('count', 0)} guardrails",
            ["id", "action", "scope", "description"],
            (
                [g["id"], g.get("action"), ",".join(g.get("scope") or []), g.get("description")]
                for g in r.get("guardrails", [])
            ),
        ),
    )


@app.command()
def link(
    ctx: typer.Context,
    source_id: Annotated[str, typer.Argument()],
    target_id: Annotated[str, typer.Argument()],
    edge_type: Annotated[
        str, Opt("--edge-type", "--type", help="relates_to|supersedes|depends_on")
    ] = "relates_to",
    weight: Annotated[float | None, Opt()] = None,
    context: Annotated[str | None, Opt()] = None,
) -> None:
    """Link two decisions in the graph (cstp.linkDecisions)."""
    session = session_of(ctx)
    params = _drop_none(
        {
            "sourceId": source_id,
            "targetId": target_id,
            "edgeType": edge_type,
            "weight": weight,
            "context": context,
        }
    )
    result = session.call("cstp.linkDecisions", params)
    if not result.get("success", True):
        if session.json:
            output.emit_json(result)
        output.err.print(f"[red]Error:[/red] {output.escape(result.get('error'))}")
        raise typer.Exit(1)
    _show(session, result, lambda r: output.out.print(f"Linked {source_id} -{edge_type}-> {target_id}"))


@app.command()
def update(
    ctx: typer.Context,
    id: Annotated[str, typer.Argument()],
    decision: Annotated[str | None, Opt()] = None,
    confidence: Annotated[float | None, Opt(min=0.0, max=1.0)] = None,
    context: Annotated[str | None, Opt()] = None,
    pattern: Annotated[str | None, Opt()] = None,
    tag: Annotated[list[str] | None, Opt(help="Replaces the tags; repeatable.")] = None,
    reason: Annotated[list[str] | None, Opt(help="Replaces the reasons: type:text[:strength].")] = None,
    bridge: Annotated[str | None, Opt(help="The bridge as a JSON object.")] = None,
) -> None:
    """Change what a decision says (cstp.updateDecision)."""
    session = session_of(ctx)
    updates = _drop_none(
        {
            "decision": decision,
            "confidence": confidence,
            "context": context,
            "pattern": pattern,
            "tags": tag,
            "reasons": _reasons(reason or []) or None,
        }
    )
    if bridge is not None:
        try:
            updates["bridge"] = json.loads(bridge)
        except ValueError:
            raise usage_error("--bridge must be a JSON object") from None
    if not updates:
        raise usage_error("give at least one field to change")
    result = session.call("cstp.updateDecision", {"id": id, "updates": updates})
    if not result.get("success"):
        if session.json:
            output.emit_json(result)
        output.err.print(f"[red]Error:[/red] {output.escape(result.get('error'))}")
        raise typer.Exit(1)
    _show(
        session,
        result,
        lambda r: output.out.print(f"Updated {r['id']}: {', '.join(r.get('updated_fields') or [])}"),
    )


app.command("export")(transfer.export)
app.command("import")(transfer.import_)
app.command("backup")(backup.backup)
app.command("restore")(backup.restore)


def main() -> None:
    app()
