"""Moving decisions in and out of a server: the transfer line format, bulk import, paged export.

A transfer line (one JSON object per line of a `cstp export` file, documented in docs/CLI.md):

    {"format": "cstp.decision", "version": 1,
     "decision": <the raw record, exactly as cstp.getDecision returns it (domain.codec)>,
     "edges": [<the graph edges leaving this decision>]}

Import keeps what the record says: id, date, recorder, review, rev. It is idempotent: a decision
already stored with the same content is reported `unchanged` and not written again, so importing
a file twice, or resuming an import that was killed halfway, changes nothing the first run wrote.
A stored decision whose content differs is left alone and reported as skipped, unless the caller
asks to replace it. A record that cannot be read is skipped with the reason; a batch embeds every
new document in one call and then saves the records whole (a record is never half-written: each
is one store item, and the vector index is repaired from the records if a crash cuts a save).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, get_args

from cstp.domain import codec
from cstp.domain.decisions import DecisionService
from cstp.domain.edges import Edge, EdgeType
from cstp.domain.errors import InvalidInput
from cstp.domain.filters import DecisionFilter
from cstp.domain.ports import DecisionStore, RawRecord, Vector
from cstp.domain.records import (
    Category,
    Decision,
    MentalState,
    OutcomeValue,
    ReasonType,
    Stakes,
    Status,
    aware,
)

FORMAT = "cstp.decision"
VERSION = 1

_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_ENUMS: dict[str, tuple[str, ...]] = {
    "category": get_args(Category),
    "stakes": get_args(Stakes),
    "status": get_args(Status),
    "outcome": get_args(OutcomeValue),
    "mental_state": get_args(MentalState),
}
_REASON_TYPES = get_args(ReasonType)
_EDGE_TYPES = get_args(EdgeType)
Embed = Callable[[Sequence[str]], list[list[float]]]


@dataclass(frozen=True, slots=True)
class Entry:
    """One importable decision with the edges leaving it."""

    decision: Decision
    edges: tuple[Edge, ...] = ()


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record that was not imported: its position in the request, its id if known, and why."""

    index: int
    id: str | None
    reason: str


@dataclass(slots=True)
class ImportReport:
    imported: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    edges: int = 0  # edges written (new or changed)


def to_line(d: Decision, edges: Sequence[Edge]) -> dict[str, Any]:
    """The transfer line of `d` (edges: those leaving it)."""
    return line_of_record(codec.to_record(d), edges)


def line_of_record(record: RawRecord, edges: Sequence[Edge]) -> dict[str, Any]:
    """The transfer line of a raw record as the store keeps it (`codec.to_record` of a decision).

    Export builds lines from the stored record without rebuilding the `Decision`: the store wrote
    that record with `codec.to_record`, so it is the same object `to_line` would produce (for a
    record last written by an older version, minus the keys the codec gained since, which
    `decision_from_record` reads as their defaults).
    """
    return {
        "format": FORMAT,
        "version": VERSION,
        "decision": record,
        "edges": edge_list(edges),
    }


def edge_list(edges: Sequence[Edge]) -> list[dict[str, Any]]:
    """A line's `edges`: each as `edge_to_dict`, in key order."""
    return [edge_to_dict(e) for e in sorted(edges, key=lambda e: e.key)]


def edge_to_dict(e: Edge) -> dict[str, Any]:
    out: dict[str, Any] = {
        "source": e.source,
        "target": e.target,
        "type": e.type,
        "weight": e.weight,
        "created_at": e.created_at.isoformat(),
    }
    if e.created_by is not None:
        out["created_by"] = e.created_by
    if e.context is not None:
        out["context"] = e.context
    return out


def entry_from_line(line: Mapping[str, Any]) -> Entry:
    """Read one transfer line (or a bare record); raises InvalidInput saying what is wrong."""
    if not isinstance(line, Mapping):
        raise InvalidInput("a transfer line must be a JSON object")
    if "decision" in line and isinstance(line["decision"], Mapping):
        if line.get("format", FORMAT) != FORMAT:
            raise InvalidInput(f"unknown format {line.get('format')!r}", field="format")
        version = line.get("version", VERSION)
        if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= VERSION:
            raise InvalidInput(f"unsupported version {version!r} (this server reads 1)", field="version")
        record, raw_edges = line["decision"], line.get("edges") or []
    else:
        record, raw_edges = line, []
    decision = decision_from_record(record)
    if not isinstance(raw_edges, list):
        raise InvalidInput("edges must be a list", field="edges")
    edges = tuple(_edge(e, decision.id, decision.date) for e in raw_edges)
    return Entry(decision, edges)


def decision_from_record(record: Mapping[str, Any]) -> Decision:
    """A stored decision from a raw record (ours, or the reference's); raises InvalidInput."""
    rec = dict(record)
    if not rec.get("decision") and isinstance(rec.get("summary"), str):
        rec["decision"] = rec["summary"]
    decision_id = rec.get("id")
    if not isinstance(decision_id, str) or not _ID.match(decision_id):
        raise InvalidInput("id must be 1-64 letters, digits or '-'", field="id")
    text = rec.get("decision")
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("decision text is missing or empty", field="decision")
    confidence = rec.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
        raise InvalidInput("confidence must be a number from 0 to 1", field="confidence")
    rec.setdefault("category", "process")
    rec.setdefault("stakes", "medium")
    for name, allowed in _ENUMS.items():
        value = rec.get(name)
        if value is not None and value not in allowed:
            raise InvalidInput(f"{name} {value!r} is not one of {', '.join(allowed)}", field=name)
    if rec.get("outcome"):
        rec["status"] = "reviewed"
    date = rec.get("date")
    if not isinstance(date, str | datetime):
        raise InvalidInput("date is missing", field="date")
    for name in ("date", "reviewed_at", "updated_at"):
        value = rec.get(name)
        if isinstance(value, datetime):
            rec[name] = value.isoformat()
        elif value is not None and not _is_iso(value):
            raise InvalidInput(f"{name} {value!r} is not an ISO 8601 date", field=name)
    reasons = rec.get("reasons") or []
    if not isinstance(reasons, list) or not all(
        isinstance(r, Mapping) and isinstance(r.get("text"), str) for r in reasons
    ):
        raise InvalidInput("reasons must be a list of {type, text, strength}", field="reasons")
    rec["reasons"] = [{"type": "analysis", **r} for r in reasons]
    for r in rec["reasons"]:
        if r["type"] not in _REASON_TYPES:
            raise InvalidInput(f"reason type {r['type']!r} is unknown", field="reasons")
    tags = rec.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidInput("tags must be a list of strings", field="tags")
    try:
        d = codec.from_record(rec)
    except (KeyError, TypeError, ValueError) as e:
        raise InvalidInput(f"malformed record: {e}") from None
    d = dataclasses.replace(
        d,
        decision=text.strip(),
        date=aware(d.date),
        updated_at=aware(d.updated_at) if d.updated_at else None,
    )
    if d.review is not None:
        d = dataclasses.replace(
            d, review=dataclasses.replace(d.review, reviewed_at=aware(d.review.reviewed_at))
        )
    return d


def _is_iso(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _edge(raw: Any, source: str, default_date: datetime) -> Edge:
    """An edge leaving `source`; one without a creation time (older side files) gets the date of
    its source decision."""
    if not isinstance(raw, Mapping):
        raise InvalidInput("an edge must be an object", field="edges")
    if raw.get("source", source) != source:
        raise InvalidInput("an edge must leave the decision it is listed under", field="edges")
    target, edge_type, weight = raw.get("target"), raw.get("type"), raw.get("weight", 1.0)
    if not isinstance(target, str) or not _ID.match(target):
        raise InvalidInput("edge target must be a decision id", field="edges")
    if edge_type not in _EDGE_TYPES:
        raise InvalidInput(f"edge type {edge_type!r} is unknown", field="edges")
    if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
        raise InvalidInput("edge weight must be a positive number", field="edges")
    created = raw.get("created_at") or default_date.isoformat()
    if not _is_iso(created):
        raise InvalidInput("edge created_at must be an ISO 8601 date", field="edges")
    return Edge(
        source=source,
        target=target,
        type=str(edge_type),
        weight=float(weight),
        created_at=aware(datetime.fromisoformat(str(created))),
        created_by=raw.get("created_by"),
        context=raw.get("context"),
    )


def same_content(a: Decision, b: Decision) -> bool:
    """Whether two decisions say the same thing (their `rev` aside)."""
    ra, rb = codec.to_record(a), codec.to_record(b)
    ra.pop("rev", None)
    rb.pop("rev", None)
    return ra == rb


class TransferService:
    """Bulk import and paged export over the decision store.

    Thread safety: stateless besides its collaborators, which are thread-safe; two concurrent
    imports of the same records both find them missing and write the same values.
    """

    def __init__(
        self,
        store: DecisionStore,
        embed: Embed,
        decisions: DecisionService,
        writing: Callable[[Sequence[Decision]], AbstractContextManager[None]] = lambda ds: nullcontext(),
    ) -> None:
        """`embed` embeds documents in one batch (the embedder batches internally); an import's
        store write runs inside `writing(decisions)`, which tells the in-memory read models."""
        self._store = store
        self._embed = embed
        self._decisions = decisions
        self._writing = writing

    def import_lines(self, lines: Sequence[Any], *, replace: bool = False) -> ImportReport:
        """Import transfer lines (or bare records); see the module docstring for the rules."""
        report = ImportReport()
        entries: list[tuple[int, Entry]] = []
        seen: set[str] = set()
        for index, line in enumerate(lines):
            try:
                entry = entry_from_line(line)
            except InvalidInput as e:
                report.skipped.append(Skipped(index, _id_of(line), str(e)))
                continue
            if entry.decision.id in seen:
                report.skipped.append(Skipped(index, entry.decision.id, "the id appears twice in this batch"))
                continue
            seen.add(entry.decision.id)
            entries.append((index, entry))
        existing = self._store.get_many([e.decision.id for _, e in entries])
        to_write: list[Decision] = []
        for index, entry in entries:
            d, old = entry.decision, existing.get(entry.decision.id)
            if old is None:
                to_write.append(d)
                report.imported.append(d.id)
            elif same_content(old, d):
                report.unchanged.append(d.id)
            elif replace:
                to_write.append(dataclasses.replace(d, rev=max(old.rev, d.rev) + 1))
                report.replaced.append(d.id)
            else:
                report.skipped.append(
                    Skipped(index, d.id, "a different decision with this id is stored (replace to overwrite)")
                )
        if to_write:
            vectors: list[Vector | None] = list(self._embed([d.document() for d in to_write]))
            with self._writing(to_write):
                self._store.save(list(zip(to_write, vectors, strict=True)))
        report.edges = self._save_edges([e for _, e in entries])
        return report

    def _save_edges(self, entries: Sequence[Entry]) -> int:
        wanted = {edge.key: edge for entry in entries for edge in entry.edges}
        if not wanted:
            return 0
        stored = {e.key: e for e in self._store.edges({s for s, _, _ in wanted}, "outgoing")}
        written = 0
        for key, edge in wanted.items():
            if stored.get(key) != edge:
                self._store.save_edge(edge)
                written += 1
        return written

    def count(self) -> int:
        """Number of stored decisions (an export's total)."""
        return self._store.count()

    def export_page(self, flt: DecisionFilter | None, offset: int, limit: int) -> list[str]:
        """Transfer lines of decisions `offset`..`offset+limit` (store order), with their edges,
        each as its JSON text (see `line_text`).

        Built from the stored record JSON as it is (`DecisionStore.page_records`): never parsed,
        rebuilt into decisions or encoded again; the reply carries each line's text unchanged.
        """
        page = self._store.page_records(flt, offset, limit)
        if not page:
            return []
        by_source: dict[str, list[Edge]] = {decision_id: [] for decision_id, _ in page}
        for edge in self._store.edges(list(by_source), "outgoing"):
            if edge.source in by_source:
                by_source[edge.source].append(edge)
        return [line_text(text, by_source[decision_id]) for decision_id, text in page]


_LINE_HEAD = f'{{"format":{json.dumps(FORMAT)},"version":{VERSION},"decision":'


def line_text(record_text: str, edges: Sequence[Edge]) -> str:
    """`line_of_record` as compact JSON text, around a record's JSON text taken as it is.

    Parsed, it is exactly `line_of_record(json.loads(record_text), edges)` (same keys, same
    order), so a client that decodes a page and writes each line sees no difference; the server
    saves decoding and re-encoding every record of the page.
    """
    if not edges:
        return f'{_LINE_HEAD}{record_text},"edges":[]}}'
    encoded = json.dumps(edge_list(edges), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return f'{_LINE_HEAD}{record_text},"edges":{encoded}}}'


def _id_of(line: Any) -> str | None:
    if isinstance(line, Mapping):
        inner = line.get("decision")
        candidate = inner.get("id") if isinstance(inner, Mapping) else line.get("id")
        return candidate if isinstance(candidate, str) else None
    return None
