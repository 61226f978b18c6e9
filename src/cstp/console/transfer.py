"""`cstp export` and `cstp import`: decisions out as JSON Lines, and in from JSON Lines or the
reference server's YAML tree or SQLite database (`console.sources`), through the admin methods
`cstp.exportDecisions` / `cstp.importDecisions`.

Import sends batches of `--batch-size` records (and at most `MAX_BATCH_BYTES`), two in flight, so
the server embeds one batch while it stores the previous one. Re-running an import is safe: what
is already stored comes back `unchanged`, so a killed import is resumed by running it again.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from cstp.client import RpcFailure, TransportFailure
from cstp.console import output, sources
from cstp.console.progress import bar
from cstp.console.session import Session, failures, session_of, usage_error

# A line of an export file: `json.dumps(line, ensure_ascii=False)` (the documented format), with
# one encoder for the whole export instead of one built per line by `json.dumps`.
_LINE = json.JSONEncoder(ensure_ascii=False)
MAX_BATCH_BYTES = 16 * 1024 * 1024  # well under the server's default CSTP_IMPORT_MAX_BODY_BYTES
Opt = typer.Option


def export(
    ctx: typer.Context,
    out: Annotated[Path | None, Opt("--out", "-o", help="File to write (default: stdout).")] = None,
    page_size: Annotated[int, Opt(min=1, max=5000)] = 1000,
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
    """Write decisions (with review, deliberation, tags, project and edges) as JSON Lines."""
    session = session_of(ctx)
    filters = {
        k: v
        for k, v in {
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
        }.items()
        if v is not None and v != []
    }
    sink: IO[str] = out.open("w", encoding="utf-8") if out else sys.stdout
    written = 0
    try:
        with bar("decisions") as progress, ThreadPoolExecutor(1, thread_name_prefix="cstp-export") as pool:
            task = progress.add_task("export", total=None)

            def fetch(offset: int) -> Future[Any]:
                params = {"offset": offset, "limit": page_size, "filters": filters}
                return pool.submit(session.client.call, "cstp.exportDecisions", params)

            # The next page is requested before this one is written: the server reads while we write.
            pending: Future[Any] | None = fetch(0)
            while pending is not None:
                with failures():
                    page = pending.result()
                next_offset = page.get("nextOffset")
                pending = fetch(next_offset) if next_offset is not None else None
                if page.get("total") is not None:
                    progress.update(task, total=page["total"])
                sink.write("".join(_LINE.encode(line) + "\n" for line in page["lines"]))
                written += len(page["lines"])
                progress.update(task, completed=written)
            progress.update(task, total=written)
    finally:
        if out:
            sink.close()
        else:
            sink.flush()
    report = {"exported": written, "file": str(out) if out else None}
    if session.json and out:
        output.emit_json(report)
    else:
        output.err.print(
            f"Exported [bold]{written}[/bold] decisions" + (f" to {output.escape(out)}" if out else "")
        )


@dataclass
class ImportTally:
    imported: int = 0
    replaced: int = 0
    unchanged: int = 0
    edges: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "replaced": self.replaced,
            "unchanged": self.unchanged,
            "edges": self.edges,
            "skipped": self.skipped,
        }


def _batches(items: Iterator[sources.Item], size: int, tally: ImportTally) -> Iterator[list[sources.Item]]:
    batch: list[sources.Item] = []
    nbytes = 0
    for item in items:
        if item.line is None:
            tally.skipped.append({"where": item.where, "id": None, "reason": item.error})
            continue
        length = len(json.dumps(item.line, ensure_ascii=False))
        if batch and (len(batch) >= size or nbytes + length > MAX_BATCH_BYTES):
            yield batch
            batch, nbytes = [], 0
        batch.append(item)
        nbytes += length
    if batch:
        yield batch


def import_(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(help="A .jsonl file, a reference YAML tree or SQLite database, or a directory.")
    ],
    fmt: Annotated[str, Opt("--format", help="auto|jsonl|yaml|sqlite")] = "auto",
    batch_size: Annotated[int, Opt(min=1, max=5000)] = 200,
    replace: Annotated[bool, Opt(help="Overwrite stored decisions whose content differs.")] = False,
) -> None:
    """Import decisions, keeping their ids, dates, agents and reviews; safe to run again."""
    session = session_of(ctx)
    if not path.exists():
        raise usage_error(f"{path} does not exist")
    try:
        kind = sources.detect(path) if fmt == "auto" else fmt
    except ValueError as e:
        raise usage_error(str(e)) from None
    if kind not in ("jsonl", "yaml", "sqlite"):
        raise usage_error(f"--format must be auto, jsonl, yaml or sqlite, not {fmt!r}")
    total = sources.count(path, kind)
    tally = ImportTally()
    with bar("decisions") as progress, ThreadPoolExecutor(2, thread_name_prefix="cstp-import") as pool:
        task = progress.add_task(f"import {kind}", total=total)
        pending: list[tuple[list[sources.Item], Future[Any]]] = []

        def settle(batch: list[sources.Item], future: Future[Any]) -> None:
            try:
                report = future.result()
            except (RpcFailure, TransportFailure):
                # What was stored stays stored: say so, and that running again resumes.
                output.err.print(
                    f"stopped: imported {tally.imported}, unchanged {tally.unchanged} so far; "
                    "run the same command again to resume"
                )
                with failures():
                    raise
            _tally(tally, batch, report)
            progress.advance(task, len(batch))

        for batch in _batches(sources.read(path, kind), batch_size, tally):
            lines = [item.line for item in batch]
            future = pool.submit(
                session.client.call, "cstp.importDecisions", {"decisions": lines, "replace": replace}
            )
            pending.append((batch, future))
            if len(pending) >= 2:
                settle(*pending.pop(0))
        for batch, future in pending:
            settle(batch, future)
        done = progress.tasks[0].completed + len(tally.skipped)
        progress.update(task, total=done, completed=done)
    _report(session, tally)


def _tally(tally: ImportTally, batch: list[sources.Item], report: dict[str, Any]) -> None:
    tally.imported += report["imported"]
    tally.replaced += report.get("replaced", 0)
    tally.unchanged += report["unchanged"]
    tally.edges += report.get("edges", 0)
    for s in report["skipped"]:
        where = batch[s["index"]].where if 0 <= s["index"] < len(batch) else None
        tally.skipped.append({"where": where, "id": s.get("id"), "reason": s["reason"]})


def _report(session: Session, tally: ImportTally) -> None:
    if session.json:
        output.emit_json(tally.to_json())
        return
    output.out.print(
        f"imported [bold]{tally.imported}[/bold], replaced {tally.replaced}, unchanged {tally.unchanged}, "
        f"skipped {len(tally.skipped)}; edges written {tally.edges}"
    )
    # One line per skipped record (a table would squeeze long file paths into unreadable columns).
    for s in tally.skipped:
        label = f"{s['where']}" + (f" ({s['id']})" if s["id"] else "")
        output.out.print(f"  skipped {output.escape(label)}: {output.escape(s['reason'])}")
