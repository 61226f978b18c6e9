"""The Chroma metadata layout of a decision, and `DecisionFilter` → Chroma `where` translation.

Both collections (`<prefix>-records` and `<prefix>-<space>`) carry the same metadata per decision:

    ============== ======= ===========================================================
    key            type    meaning
    ============== ======= ===========================================================
    category       str     Decision.category
    stakes         str     Decision.stakes
    status         str     Decision.status ("pending" | "reviewed")
    confidence     float   Decision.confidence (always a float, even for 1.0)
    date_us        int     Decision.date as integer microseconds since the Unix epoch
    project        str     Decision.project      (omitted when None)
    feature        str     Decision.feature      (omitted when None)
    pr             int     Decision.pr           (omitted when None)
    recorded_by    str     Decision.recorded_by  (omitted when None)
    tag:<tag>      bool    True, one key per tag (a tags filter is an `$or` of these)
    rev            int     Decision.rev, compared with the records to find stale index entries
    written_us     int     records only: the writer's clock (epoch µs) when it sent this revision;
                           `ChromaStore.changes` reads what was written since a cursor by it
    record         str     JSON of `codec.to_record(decision)`: a read returns whole decisions in one
                           call, and the decision is rebuilt with `codec.from_record`
    ============== ======= ===========================================================

Why microseconds rather than epoch seconds: `DecisionFilter.matches` (the reference semantics)
compares full datetimes, and decisions carry microseconds. With whole seconds a decision at
12:00:00.5 would pass `date_before=12:00:00` in Chroma but not in memory. Python datetimes have
microsecond resolution, so integer microseconds make the comparison exact (and stay below 2**53).

Chroma rejects None values on insert (and, on upsert, None means "delete this key"), so absent
fields are left out of the metadata; `chroma_store` sends None only to delete keys that an older
revision had. Chroma also rejects several top-level keys in one `where`, empty `$in` lists and
`$and`/`$or` with fewer than two operands: the functions below never produce those.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from cstp.domain import codec
from cstp.domain.facts import DecisionFacts, epoch_micros, search_text
from cstp.domain.filters import DecisionFilter
from cstp.domain.records import Decision

MetadataValue = str | int | float | bool
Metadata = dict[str, MetadataValue]
Where = dict[str, Any]

TAG_PREFIX = "tag:"
RECORD_KEY = "record"
WRITTEN_KEY = "written_us"


def tag_key(tag: str) -> str:
    """The boolean metadata key that marks a decision as carrying `tag`."""
    return f"{TAG_PREFIX}{tag}"


def metadata_for(decision: Decision) -> Metadata:
    """The metadata stored with `decision` in both collections (layout in the module docstring)."""
    meta: Metadata = {
        "category": decision.category,
        "stakes": decision.stakes,
        "status": decision.status,
        "confidence": float(decision.confidence),
        "date_us": epoch_micros(decision.date),
        "rev": int(decision.rev),
        RECORD_KEY: json.dumps(codec.to_record(decision), ensure_ascii=False, separators=(",", ":")),
    }
    for key, value in (
        ("project", decision.project),
        ("feature", decision.feature),
        ("recorded_by", decision.recorded_by),
    ):
        if value is not None:
            meta[key] = value
    if decision.pr is not None:
        meta["pr"] = int(decision.pr)
    for tag in decision.tags:
        meta[tag_key(tag)] = True
    return meta


def index_metadata_for(decision: Decision) -> Metadata:
    """The index collection's metadata: the filter keys only, without the `record` JSON.

    A large value in every row makes Chroma's filtered queries several times slower (20 ms → 53 ms
    at 10k decisions, measured), so the index keeps what `where` needs and search results are
    completed from the records collection by id.
    """
    meta = metadata_for(decision)
    del meta[RECORD_KEY]
    return meta


def facts_from_metadata(decision_id: str, meta: dict[str, Any]) -> DecisionFacts:
    """The listing facts from the filter keys, and the search text from the record JSON (without
    rebuilding and validating the whole decision)."""
    recorded_by, project = meta.get("recorded_by"), meta.get("project")
    record = json.loads(meta[RECORD_KEY])
    return DecisionFacts(
        id=decision_id,
        rev=int(meta["rev"]),
        date_us=int(meta["date_us"]),
        category=str(meta["category"]),
        stakes=str(meta["stakes"]),
        status=str(meta["status"]),
        confidence=float(meta["confidence"]),
        recorded_by=None if recorded_by is None else str(recorded_by),
        project=None if project is None else str(project),
        tags=tuple(sorted(k[len(TAG_PREFIX) :] for k, v in meta.items() if k.startswith(TAG_PREFIX) and v)),
        text=search_text(str(record["decision"]), record.get("context"), record.get("pattern")),
        outcome=None if record.get("outcome") is None else str(record["outcome"]),
    )


def record_text(meta: Mapping[str, Any]) -> str:
    """The raw record's JSON text under the `record` key, as `metadata_for` wrote it, unparsed.

    Exports send it on as it is (`DecisionStore.page_records`); parsing it here, dumping the
    result model and encoding it again for the reply cost 50-75 ms of CPU a 1,000-record page,
    a quarter to a third of the server's whole page (docs/PERFORMANCE.md). Only
    `metadata_for` writes this key, always one JSON object; the check catches a value something
    else wrote there, which would otherwise corrupt the whole reply it is spliced into.
    """
    text = meta[RECORD_KEY]
    if not isinstance(text, str) or not text.startswith("{") or not text.endswith("}"):
        raise ValueError("a stored record is not a JSON object")
    return text


def decision_from_metadata(meta: dict[str, Any]) -> Decision:
    """Rebuild the decision from the `record` key written by `metadata_for`."""
    return codec.from_record(json.loads(meta[RECORD_KEY]))


def is_unsatisfiable(flt: DecisionFilter) -> bool:
    """True when no decision can match (e.g. statuses=["pending"] with has_outcome=True).

    Chroma cannot express "match nothing" (an empty `$in` is rejected), so stores check this
    first and answer with an empty result without a round trip.
    """
    statuses = flt.effective_statuses()
    return statuses is not None and not statuses


def where_for(flt: DecisionFilter) -> Where | None:
    """The Chroma `where` clause selecting exactly the decisions `flt.matches`; None = no filter.

    Several conditions are joined with `$and` (Chroma refuses several top-level keys). Raises
    ValueError for an unsatisfiable filter: call `is_unsatisfiable` first.
    """
    if is_unsatisfiable(flt):
        raise ValueError("filter matches no decision; check is_unsatisfiable() first")
    clauses: list[Where] = []
    if flt.category is not None:
        clauses.append({"category": flt.category})
    if flt.min_confidence is not None:
        clauses.append({"confidence": {"$gte": float(flt.min_confidence)}})
    if flt.max_confidence is not None:
        clauses.append({"confidence": {"$lte": float(flt.max_confidence)}})
    if flt.date_after is not None:
        clauses.append({"date_us": {"$gte": epoch_micros(flt.date_after)}})
    if flt.date_before is not None:
        clauses.append({"date_us": {"$lte": epoch_micros(flt.date_before)}})
    if flt.stakes:
        clauses.append({"stakes": {"$in": _unique(flt.stakes)}})
    statuses = flt.effective_statuses()
    if statuses is not None:
        clauses.append({"status": {"$in": list(statuses)}})
    if flt.project is not None:
        clauses.append({"project": flt.project})
    if flt.feature is not None:
        clauses.append({"feature": flt.feature})
    if flt.pr is not None:
        clauses.append({"pr": int(flt.pr)})
    if flt.tags:
        # Any tag matches: one boolean key per tag, OR-ed.
        clauses.append(_join("$or", [{tag_key(t): True} for t in _unique(flt.tags)]))
    if flt.recorded_by is not None:
        clauses.append({"recorded_by": flt.recorded_by})
    return _join("$and", clauses) if clauses else None


def where_matches(where: Where, meta: dict[str, Any]) -> bool:
    """Evaluate the subset of Chroma's `where` dialect that `where_for` emits, as Chroma does.

    The filtered search uses it on an unfiltered nearest-neighbour result instead of asking Chroma
    to pre-filter (which scans the metadata of every row).

    `$and`, `$or`, `$in`, `$gte`, `$lte` and equality (a bare value or `$eq`). A key missing from the
    row never matches, as in Chroma. Anything else is a programming error (ValueError), so the
    dialect cannot grow here without a test noticing.
    """
    (key, cond), *rest = where.items()
    if rest:
        raise ValueError("a where clause has exactly one key (join several with $and)")
    if key == "$and":
        return all(where_matches(c, meta) for c in cond)
    if key == "$or":
        return any(where_matches(c, meta) for c in cond)
    if key not in meta:
        return False
    value = meta[key]
    if not isinstance(cond, dict):
        return bool(value == cond)
    (op, operand), *more = cond.items()
    if more:
        raise ValueError(f"one operator per key in a where clause, got {sorted(cond)}")
    if op == "$eq":
        return bool(value == operand)
    if op == "$in":
        return value in operand
    if op == "$gte":
        return bool(value >= operand)
    if op == "$lte":
        return bool(value <= operand)
    raise ValueError(f"where operator {op} is not part of the dialect cstp emits")


def _join(op: str, clauses: list[Where]) -> Where:
    """`{op: clauses}`, or the clause itself when there is only one (Chroma needs two or more)."""
    return clauses[0] if len(clauses) == 1 else {op: clauses}


def _unique(values: tuple[str, ...]) -> list[str]:
    """Values without duplicates, first occurrence first (stable clauses are easier to test)."""
    return list(dict.fromkeys(values))


def record_vector(decision_id: str) -> list[float]:
    """A 2-d vector derived from the id, for the records collection.

    Chroma requires a vector for every item, but records are never searched by vector: a tiny
    fixed dimension keeps them independent of any embedding model and cheap to store. It is
    spread by a hash (not a constant) because an HNSW graph full of identical points degrades.
    """
    digest = hashlib.sha256(decision_id.encode("utf-8")).digest()
    a = int.from_bytes(digest[:4], "big") / 2**32
    b = int.from_bytes(digest[4:8], "big") / 2**32
    return [a, b]
