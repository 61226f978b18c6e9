"""`cstp backup DIR` and `cstp restore DIR`: every stored collection of a running server, raw.

A backup directory holds one `<kind>.jsonl` per collection (one item a line: id, metadata, vector
as base64 float32, document) and `manifest.json`, written last: a directory without a manifest is
an interrupted backup and `restore` refuses it. The server reads the collections in an order that
keeps the snapshot consistent while clients write (see the server's `domain.snapshot`), and a
restore ends with `cstp.restoreFinish`, which re-embeds any index entry older than its record.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from cstp.console import output
from cstp.console.progress import bar
from cstp.console.session import session_of, usage_error

MANIFEST = "manifest.json"
FORMAT = "cstp.backup"
VERSION = 1
Opt = typer.Option


def backup(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Directory to write (created; must be empty).")],
    page_size: Annotated[int, Opt(min=1, max=5000)] = 1000,
) -> None:
    """Snapshot every collection of the running server (decisions, index vectors, edges, ...)."""
    session = session_of(ctx)
    if directory.exists() and any(directory.iterdir()):
        raise usage_error(f"{directory} is not empty")
    collections = session.call("cstp.backupCollections")["collections"]
    directory.mkdir(parents=True, exist_ok=True)
    written: list[dict[str, Any]] = []
    with bar("items") as progress:
        task = progress.add_task("backup", total=sum(c["count"] for c in collections))
        for collection in collections:
            kind = collection["kind"]
            file = directory / f"{kind}.jsonl"
            count = 0
            with file.open("w", encoding="utf-8") as fh:
                offset: int | None = 0
                while offset is not None:
                    page = session.call(
                        "cstp.backupRead", {"kind": kind, "offset": offset, "limit": page_size}
                    )
                    fh.write("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in page["items"]))
                    count += len(page["items"])
                    progress.advance(task, len(page["items"]))
                    offset = page.get("nextOffset")
                fh.flush()
                os.fsync(fh.fileno())
            written.append(
                {"kind": kind, "metadata": collection["metadata"], "file": file.name, "count": count}
            )
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "createdAt": datetime.now(UTC).isoformat(),
        "collections": written,
    }
    tmp = directory / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(directory / MANIFEST)
    if session.json:
        output.emit_json(manifest)
    else:
        output.table(
            f"backup in {directory}", ["collection", "items"], ([c["kind"], c["count"]] for c in written)
        )


def restore(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="A directory written by `cstp backup`.")],
    page_size: Annotated[int, Opt(min=1, max=5000)] = 1000,
    force: Annotated[bool, Opt(help="Restore even though the server already holds decisions.")] = False,
) -> None:
    """Write a backup into a server (meant for an empty one), then re-check its index."""
    session = session_of(ctx)
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise usage_error(
            f"{directory} holds no complete backup ({MANIFEST} missing or unreadable)"
        ) from None
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise usage_error(f"{directory}/{MANIFEST} is not a {FORMAT} version {VERSION} manifest")
    present = session.call("cstp.backupCollections")["collections"]
    stored = sum(c["count"] for c in present if c["kind"] == "records")
    if stored and not force:
        output.err.print(
            f"[red]Error:[/red] the server already holds {stored} decisions; restore into an empty "
            "server, or pass --force to merge the backup into it"
        )
        raise typer.Exit(1)
    restored: list[dict[str, Any]] = []
    with bar("items") as progress:
        task = progress.add_task("restore", total=sum(c["count"] for c in manifest["collections"]))
        for collection in manifest["collections"]:
            kind, count = collection["kind"], 0
            with (directory / collection["file"]).open(encoding="utf-8") as fh:
                batch: list[dict[str, Any]] = []
                for raw in fh:
                    if raw.strip():
                        batch.append(json.loads(raw))
                    if len(batch) >= page_size:
                        count += _write(session, kind, collection["metadata"], batch)
                        progress.advance(task, len(batch))
                        batch = []
                if batch or count == 0:  # an empty collection is still created
                    count += _write(session, kind, collection["metadata"], batch)
                    progress.advance(task, len(batch))
            restored.append({"kind": kind, "count": count})
    finished = session.call("cstp.restoreFinish")
    report = {"collections": restored, "reindexed": finished["reindexed"]}
    if session.json:
        output.emit_json(report)
    else:
        output.table("restored", ["collection", "items"], ([c["kind"], c["count"]] for c in restored))
        output.out.print(f"index entries re-embedded: {finished['reindexed']}")


def _write(session: Any, kind: str, metadata: Any, items: list[dict[str, Any]]) -> int:
    session.call("cstp.restoreWrite", {"kind": kind, "metadata": metadata, "items": items})
    return len(items)
