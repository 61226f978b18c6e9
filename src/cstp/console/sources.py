"""What `cstp import` reads: our JSON Lines, and the reference server's YAML tree and SQLite database.

Each source yields `Item`s: a transfer line for the server (`domain.transfer`'s format, built
here from the wire shape only), or the reason a record could not be read (reported and skipped).
Field mapping from the reference (its storage as described in docs/CLI.md):

- YAML tree `decisions/YYYY/MM/YYYY-MM-DD-decision-<id>.yaml`: the record keys are ours already
  (the reference's record schema is the protocol's); YAML timestamps and dates become ISO strings,
  a numeric-looking id is read as text, and the file's own bookkeeping (`_file`, `path`) is dropped.
  Keys cstp has no typed field for (trace, deliberation, bridge, related_to, kpi_indicators,
  mental_state, review_by, pre_decision, ...) are kept verbatim.
- SQLite `decisions.db`: `decisions` columns by name (`created_at` → date, `outcome_result` →
  actual_result, `outcome_lessons` → lessons, `outcome_notes` → review_notes), plus
  `decision_tags`, `decision_reasons` (in id order), `decision_bridge` and
  `decision_deliberation` (`inputs_json`, `steps_json`, `total_duration_ms`).
- `graph_edges.jsonl` next to either (the reference's graph side file): each edge is attached to
  the line of its source decision.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

FORMAT = "cstp.decision"
VERSION = 1
_YAML_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}-decision-(?P<id>[A-Za-z0-9-]+)\.yaml$")
_DROPPED_YAML_KEYS = ("_file", "path")
# The reference server's side files are not decisions (edges are attached; breaker state is its own).
_SIDE_FILES = frozenset({"graph_edges.jsonl", "circuit_breakers.jsonl"})


@dataclass(frozen=True, slots=True)
class Item:
    """One record read from a source: a transfer line, or why it could not be read."""

    where: str  # file (and line) it came from
    line: dict[str, Any] | None
    error: str | None = None

    @property
    def id(self) -> str | None:
        if self.line is None:
            return None
        record = self.line.get("decision")
        value = record.get("id") if isinstance(record, dict) else None
        return value if isinstance(value, str) else None


def _plain(value: Any) -> Any:
    """YAML's native values as JSON ones (timestamps and dates as ISO strings)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _line(record: dict[str, Any], edges: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "decision": record, "edges": edges or []}


def detect(path: Path) -> str:
    """`jsonl`, `yaml` or `sqlite` for a file; for a directory, what it holds (YAML tree first:
    it is the reference's most complete copy), else raises ValueError."""
    if path.is_file():
        if path.suffix in (".yaml", ".yml"):
            return "yaml"
        with path.open("rb") as fh:
            if fh.read(16) == b"SQLite format 3\x00":
                return "sqlite"
        return "jsonl"
    if not path.is_dir():
        raise ValueError(f"{path} is neither a file nor a directory")
    if any(_yaml_files(path)):
        return "yaml"
    if any(path.rglob("*.db")):
        return "sqlite"
    if any(path.glob("*.jsonl")):
        return "jsonl"
    raise ValueError(f"{path} holds no decisions (no *-decision-*.yaml, *.db or *.jsonl)")


def read(path: Path, kind: str) -> Iterator[Item]:
    """Every record under `path` as `kind` (see `detect`), edges attached from a side file."""
    if kind == "jsonl":
        files = [path] if path.is_file() else sorted(path.glob("*.jsonl"))
        for file in files:
            if file.name not in _SIDE_FILES:
                yield from read_jsonl(file)
        return
    edges = _side_edges(path)
    items = read_yaml(path) if kind == "yaml" else read_sqlite(path)
    for item in items:
        if item.line is not None and item.id in edges:
            item.line["edges"] = edges.pop(item.id)
        yield item
    for source, left in sorted(edges.items()):
        yield Item(
            "graph_edges.jsonl", None, f"{len(left)} edge(s) from {source}: no such decision in this import"
        )


def count(path: Path, kind: str) -> int | None:
    """How many records `read` will yield (for the progress bar); None if unknown cheaply."""
    if kind == "yaml":
        return sum(1 for _ in _yaml_files(path))
    if kind == "sqlite":
        total = 0
        for db in _databases(path):
            with _connect(db) as conn:
                total += int(conn.execute("SELECT count(*) FROM decisions").fetchone()[0])
        return total
    files = (
        [path] if path.is_file() else [p for p in sorted(path.glob("*.jsonl")) if p.name not in _SIDE_FILES]
    )
    total = 0
    for file in files:
        with file.open("rb") as fh:
            total += sum(1 for raw in fh if raw.strip())
    return total


def read_jsonl(file: Path) -> Iterator[Item]:
    with file.open(encoding="utf-8") as fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            where = f"{file}:{n}"
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as e:
                yield Item(where, None, f"not valid JSON ({e.msg})")
                continue
            if not isinstance(value, dict):
                yield Item(where, None, "a line must be a JSON object")
            elif isinstance(value.get("decision"), dict):
                yield Item(where, value)
            else:
                yield Item(where, _line(value))  # a bare record (getDecision's shape)


def _yaml_files(path: Path) -> Iterator[Path]:
    candidates = [path] if path.is_file() else sorted(path.rglob("*.yaml"))
    return (p for p in candidates if _YAML_NAME.match(p.name) or path.is_file())


def read_yaml(path: Path) -> Iterator[Item]:
    for file in _yaml_files(path):
        try:
            value = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            yield Item(str(file), None, f"not valid YAML ({str(e).splitlines()[0]})")
            continue
        if not isinstance(value, dict):
            yield Item(str(file), None, "a decision file must hold a mapping")
            continue
        record = _plain(value)
        for key in _DROPPED_YAML_KEYS:
            record.pop(key, None)
        named = _YAML_NAME.match(file.name)
        if isinstance(record.get("id"), int | float) and not isinstance(record.get("id"), bool):
            record["id"] = named.group("id") if named else str(record["id"])
        record.setdefault("id", named.group("id") if named else None)
        yield Item(str(file), _line(record))


def _databases(path: Path) -> list[Path]:
    return [path] if path.is_file() else sorted(path.rglob("*.db"))


def _connect(db: Path) -> sqlite3.Connection:
    # Read-only: importing must never change the reference's database (or its WAL).
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return conn


def _json_or_text(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


_COLUMNS = {
    "created_at": "date",
    "outcome_result": "actual_result",
    "outcome_lessons": "lessons",
    "outcome_notes": "review_notes",
}
_SKIPPED_COLUMNS = {"updated_at"}


def read_sqlite(path: Path) -> Iterator[Item]:
    for db in _databases(path):
        try:
            conn = _connect(db)
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.Error as e:
            yield Item(str(db), None, f"not a readable SQLite database ({e})")
            continue
        with conn:
            if "decisions" not in tables:
                yield Item(str(db), None, "no decisions table")
                continue
            yield from _sqlite_records(db, conn, tables)
        conn.close()


def _grouped(conn: sqlite3.Connection, sql: str) -> dict[str, list[sqlite3.Row]]:
    out: dict[str, list[sqlite3.Row]] = {}
    for row in conn.execute(sql):
        out.setdefault(row["decision_id"], []).append(row)
    return out


def _sqlite_records(db: Path, conn: sqlite3.Connection, tables: set[str]) -> Iterator[Item]:
    tags = _grouped(conn, "SELECT * FROM decision_tags") if "decision_tags" in tables else {}
    reasons = (
        _grouped(conn, "SELECT * FROM decision_reasons ORDER BY id") if "decision_reasons" in tables else {}
    )
    bridges = _grouped(conn, "SELECT * FROM decision_bridge") if "decision_bridge" in tables else {}
    deliberations = (
        _grouped(conn, "SELECT * FROM decision_deliberation") if "decision_deliberation" in tables else {}
    )
    for row in conn.execute("SELECT * FROM decisions ORDER BY created_at, id"):
        where = f"{db}:decisions[{row['id']}]"
        try:
            record = _sqlite_record(
                row, tags.get(row["id"], []), reasons.get(row["id"], []), bridges, deliberations
            )
        except (ValueError, TypeError, KeyError) as e:
            yield Item(where, None, f"unreadable row ({e})")
            continue
        yield Item(where, _line(record))


def _sqlite_record(
    row: sqlite3.Row,
    tags: list[sqlite3.Row],
    reasons: list[sqlite3.Row],
    bridges: dict[str, list[sqlite3.Row]],
    deliberations: dict[str, list[sqlite3.Row]],
) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for key in row.keys():  # noqa: SIM118 - sqlite3.Row is not a mapping
        value = row[key]
        if value is None or key in _SKIPPED_COLUMNS:
            continue
        record[_COLUMNS.get(key, key)] = value
    if row["updated_at"] is not None and row["updated_at"] != row["created_at"] and not row["reviewed_at"]:
        record["updated_at"] = row["updated_at"]
    record["summary"] = record.get("decision")
    if tags:
        record["tags"] = [t["tag"] for t in tags]
    if reasons:
        record["reasons"] = [
            {"type": r["type"] or "analysis", "text": r["text"], "strength": r["strength"] or 0.8}
            for r in reasons
        ]
    for b in bridges.get(row["id"], []):
        bridge = {k: _json_or_text(b[k]) for k in b.keys() if k != "decision_id" and b[k] is not None}  # noqa: SIM118
        if bridge:
            record["bridge"] = bridge
    for d in deliberations.get(row["id"], []):
        deliberation: dict[str, Any] = {}
        if d["inputs_json"]:
            deliberation["inputs"] = json.loads(d["inputs_json"])
        if d["steps_json"]:
            deliberation["steps"] = json.loads(d["steps_json"])
        if d["total_duration_ms"] is not None:
            deliberation["total_duration_ms"] = d["total_duration_ms"]
        if deliberation:
            record["deliberation"] = deliberation
    return record


def _side_edges(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Edges from a `graph_edges.jsonl` in or beside `path`, by source id (unreadable lines are
    left out here; the server reports edges it cannot accept with their decision)."""
    base = path if path.is_dir() else path.parent
    files = sorted(base.rglob("graph_edges.jsonl")) or sorted(base.parent.glob("*/graph_edges.jsonl"))
    edges: dict[str, list[dict[str, Any]]] = {}
    for file in files[:1]:
        for raw in file.read_text(encoding="utf-8").splitlines():
            try:
                value = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(value, dict):
                continue
            edge = {
                "source": _first(value, "source_id", "sourceId", "source"),
                "target": _first(value, "target_id", "targetId", "target"),
                "type": _first(value, "edge_type", "edgeType", "type"),
                "weight": value.get("weight", 1.0),
                "created_at": _first(value, "created_at", "createdAt", "timestamp"),
            }
            for out, names in (("created_by", ("created_by", "createdBy")), ("context", ("context",))):
                if (v := _first(value, *names)) is not None:
                    edge[out] = v
            if isinstance(edge["source"], str):
                edges.setdefault(edge["source"], []).append(edge)
    return edges


def _first(value: dict[str, Any], *names: str) -> Any:
    for name in names:
        if value.get(name) is not None:
            return value[name]
    return None
