"""Deliberation capture: what an agent looked at before it decided.

The queries, guardrail checks, lookups, stats and thoughts an agent makes are captured as
`TrackedInput`s under a *tracker key*, and its next `recordDecision` consumes them: they become the
decision's `deliberation` (inputs plus one numbered step each) and the query hits become its
`related_to`.

Keys follow the reference server (most specific first when consuming):
`agent:<A>:decision:<D>` → `decision:<D>` → `agent:<A>` → the transport key `rpc:<caller>`.
Unlike the reference, every key lives *under the authenticated caller* (`owner`): an `agentId` a
client sends only narrows the key inside the caller's own inputs, it never reaches another agent's.
JSON-RPC and MCP calls reach the same handlers with the same caller, so they share one key scheme.

State lives in a `TrackerStore` every server process shares (the Chroma adapter keeps it in its
own collection), so a query answered by one process and the record handled by another still meet.
Capturing must not slow the call it observes: the observed methods `note` a tuple of plain
values (`Captured`) and hand it to a `sink` (the runtime's write-behind queue, or batches in
process memory); the input's text, dicts and id are built when it is written, or, in process
memory, only when it is read. `take` first asks the sink to flush, so the next record on this
process always sees what this process captured. Consuming (`consumed`) is written before the
record returns, batched across concurrent records by the server's group commit.

Lifetimes: an input is usable for `input_ttl` (300 s) after capture; consumption history entries
are kept `session_ttl` (1800 s), at most `history_size` (50) per caller; expired rows are purged.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

from cstp.domain.records import utcnow

if TYPE_CHECKING:  # ports imports this module's row type
    from cstp.domain.ports import TrackerStore

InputType = Literal["query", "guardrail", "lookup", "stats", "reasoning"]
Kind = Literal["input", "consumed"]

_ID_PREFIX: dict[str, str] = {"query": "q", "guardrail": "g", "lookup": "l", "stats": "s", "reasoning": "r"}
# Step types of the auto-built deliberation (as the reference maps them).
_STEP_TYPE: dict[str, str] = {
    "query": "analysis",
    "guardrail": "constraint",
    "lookup": "analysis",
    "stats": "empirical",
    "reasoning": "reasoning",
}
MAX_INPUTS_PER_RECORD = 100  # a record consumes at most this many (the newest) inputs
MAX_LIVE_INPUTS = 1000  # per agent: the purge deletes older ones beyond this
SUMMARY_INPUTS = 10  # inputs listed in a history entry
SUMMARY_TEXT = 80


@dataclass(frozen=True, slots=True)
class TrackerRow:
    """What a `TrackerStore` keeps: an input or a history entry, with its owner and expiry.

    `payload` is plain JSON data the tracker encodes and decodes; the store never looks inside.
    """

    id: str
    owner: str  # the authenticated agent the row belongs to
    kind: Kind
    key: str
    created_at: datetime
    expires_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TrackedInput:
    id: str
    type: str
    text: str
    source: str  # the method, e.g. "cstp:queryDecisions"
    captured_at: datetime
    key: str
    data: dict[str, Any] = field(default_factory=dict)  # e.g. a query's top results


@dataclass(frozen=True, slots=True)
class ConsumedEntry:
    """One line of the tracker history: a key consumed by a record, or left to expire."""

    key: str
    at: datetime
    input_count: int
    agent_id: str | None  # the `agentId` scoping part of the key, if any
    decision_id: str | None  # the decision that consumed the inputs
    status: Literal["consumed", "expired"]
    inputs_summary: tuple[dict[str, str], ...]


@dataclass(frozen=True, slots=True)
class Taken:
    """What a record is about to consume (nothing is deleted until `Tracker.consumed`)."""

    owner: str
    inputs: tuple[TrackedInput, ...]
    row_ids: tuple[str, ...] = ()  # the store rows holding them (deleted once consumed)

    def related(self) -> list[dict[str, Any]]:
        """`related_to` from the query inputs' top results: one per id, nearest first."""
        best: dict[str, dict[str, Any]] = {}
        for i in self.inputs:
            for r in i.data.get("top_results", []) if i.type == "query" else []:
                rid = r.get("id")
                if not rid:
                    continue
                distance = float(r.get("distance", 0.0))
                if rid not in best or distance < best[rid]["distance"]:
                    best[rid] = {"id": rid, "summary": r.get("summary", ""), "distance": distance}
        return sorted(best.values(), key=lambda r: r["distance"])


# --- keys -----------------------------------------------------------------------------------------
def transport_key(agent: str) -> str:
    """The key of an agent's un-scoped calls, the same over JSON-RPC and MCP."""
    return f"rpc:{agent}"


def scoped_key(agent: str, agent_id: str | None, decision_id: str | None) -> str:
    """Where a scoped call (recordThought, preAction) files its inputs; `agent` is the caller."""
    if agent_id and decision_id:
        return f"agent:{agent_id}:decision:{decision_id}"
    if agent_id:
        return f"agent:{agent_id}"
    if decision_id:
        return f"decision:{decision_id}"
    return transport_key(agent)


def consume_keys(agent: str, agent_id: str | None, decision_id: str | None) -> list[str]:
    """The keys a record consumes, most specific first (all under the caller `agent`)."""
    keys = []
    if agent_id and decision_id:
        keys.append(f"agent:{agent_id}:decision:{decision_id}")
    if decision_id:
        keys.append(f"decision:{decision_id}")
    if agent_id:
        keys.append(f"agent:{agent_id}")
    keys.append(transport_key(agent))
    return list(dict.fromkeys(keys))


def _agent_of(key: str) -> str | None:
    if key.startswith("agent:"):
        return key.removeprefix("agent:").split(":decision:")[0]
    return None


# --- deliberation ---------------------------------------------------------------------------------
def deliberation_of(inputs: Sequence[TrackedInput], explicit: dict[str, Any] | None) -> dict[str, Any]:
    """The explicit deliberation (if any) with the captured inputs and one step per input appended,
    steps renumbered after the explicit ones; input ids already present are not repeated."""
    out: dict[str, Any] = dict(explicit or {})
    given_inputs = [i for i in out.get("inputs") or [] if isinstance(i, dict)]
    given_steps = [s for s in out.get("steps") or [] if isinstance(s, dict)]
    seen = {i.get("id") for i in given_inputs}
    last = max((s["step"] for s in given_steps if isinstance(s.get("step"), int)), default=0)
    for n, i in enumerate(inputs, start=1):
        stamp = i.captured_at.isoformat()
        if i.id not in seen:
            given_inputs.append({"id": i.id, "text": i.text, "source": i.source, "timestamp": stamp})
        given_steps.append(
            {
                "step": last + n,
                "thought": i.text,
                "inputs_used": [i.id],
                "timestamp": stamp,
                "type": _STEP_TYPE.get(i.type, "analysis"),
                "conclusion": False,
            }
        )
    out["inputs"] = given_inputs
    out["steps"] = given_steps
    if len(inputs) >= 2 and "total_duration_ms" not in out:
        span = inputs[-1].captured_at - inputs[0].captured_at
        out["total_duration_ms"] = int(span.total_seconds() * 1000)
    return out


def _summary(inputs: Iterable[TrackedInput]) -> tuple[dict[str, str], ...]:
    return tuple(
        {"id": i.id, "type": i.type, "text": i.text[:SUMMARY_TEXT]} for i in list(inputs)[:SUMMARY_INPUTS]
    )


def _input_row(owner: str, i: TrackedInput, ttl: timedelta) -> TrackerRow:
    payload = {"type": i.type, "text": i.text, "source": i.source, "data": i.data}
    return TrackerRow(i.id, owner, "input", i.key, i.captured_at, i.captured_at + ttl, payload)


def _input_of(row: TrackerRow) -> TrackedInput:
    p = row.payload
    return TrackedInput(
        row.id,
        str(p["type"]),
        str(p["text"]),
        str(p["source"]),
        row.created_at,
        row.key,
        dict(p.get("data") or {}),
    )


def inputs_of(row: TrackerRow) -> list[TrackedInput]:
    """The inputs a row holds: one, a packed batch (see `pack`), or noted tuples kept as they are
    (`Tracker(keep_noted=True)`), built on every read with the ids drawn when they were stored."""
    noted = row.payload.get("noted")
    if isinstance(noted, tuple):
        return _noted_inputs(row.key, noted, str(row.payload["tokens"]))
    packed = row.payload.get("inputs")
    if not isinstance(packed, list):
        return [_input_of(row)]
    return [
        TrackedInput(
            str(p["id"]),
            str(p["type"]),
            str(p["text"]),
            str(p["source"]),
            datetime.fromisoformat(str(p["at"])),
            row.key,
            dict(p.get("data") or {}),
        )
        for p in packed
    ]


def _noted_inputs(key: str, noted: Sequence[Captured], tokens: str) -> list[TrackedInput]:
    out = []
    for n, c in enumerate(noted):
        type_, text, source, data = c.make(*c.args)
        row_id = f"{_ID_PREFIX[type_]}-{tokens[8 * n : 8 * n + 8]}"
        out.append(TrackedInput(row_id, type_, text, source, c.at, key, data))
    return out


def _held(row: TrackerRow) -> int:
    """How many inputs a row holds, without building them."""
    many = row.payload.get("noted", row.payload.get("inputs"))
    return len(many) if isinstance(many, list | tuple) else 1


def pack(rows: Sequence[TrackerRow]) -> list[TrackerRow]:
    """Input rows grouped into one row per (owner, key), history rows as they are.

    The write-behind writes a batch at a time; one store item per agent and key instead of one per
    captured call keeps each write small (a Chroma item costs far more than the bytes in it).
    """
    groups: dict[tuple[str, str], list[TrackerRow]] = {}
    out: list[TrackerRow] = []
    for r in rows:
        if r.kind == "input" and "inputs" not in r.payload:
            groups.setdefault((r.owner, r.key), []).append(r)
        else:
            out.append(r)
    for (owner, key), members in groups.items():
        if len(members) == 1:
            out.append(members[0])
            continue
        packed = [{"id": m.id, "at": m.created_at.isoformat(), **m.payload} for m in members]
        out.append(
            TrackerRow(
                f"b-{secrets.token_hex(6)}",
                owner,
                "input",
                key,
                min(m.created_at for m in members),
                max(m.expires_at for m in members),
                {"inputs": packed},
            )
        )
    return out


_SPENT_AT = datetime(1970, 1, 1, tzinfo=UTC)


def _spent(owner: str, row_id: str) -> TrackerRow:
    """A tombstone over a consumed row: same id, a kind no input read asks for, expired since the
    epoch (whatever the clocks of the processes reading it), deleted by the next purge."""
    return TrackerRow(row_id, owner, "consumed", "", _SPENT_AT, _SPENT_AT, {})


def _entry_row(owner: str, row_id: str, e: ConsumedEntry, ttl: timedelta) -> TrackerRow:
    payload = {
        "input_count": e.input_count,
        "agent_id": e.agent_id,
        "decision_id": e.decision_id,
        "status": e.status,
        "inputs_summary": list(e.inputs_summary),
    }
    return TrackerRow(row_id, owner, "consumed", e.key, e.at, e.at + ttl, payload)


def _entry_of(row: TrackerRow) -> ConsumedEntry:
    p = row.payload
    return ConsumedEntry(
        key=row.key,
        at=row.created_at,
        input_count=int(p["input_count"]),
        agent_id=p.get("agent_id"),
        decision_id=p.get("decision_id"),
        status="expired" if p.get("status") == "expired" else "consumed",
        inputs_summary=tuple(p.get("inputs_summary") or ()),
    )


@dataclass(frozen=True, slots=True)
class Consumption:
    """A stored record consumed `taken`: its rows are to be deleted and history lines written
    (`Tracker.apply` writes batches of these and captured rows alike)."""

    taken: Taken
    decision_id: str
    at: datetime


# What an input is built from: its type, text, source (the method) and data.
Fields = tuple[InputType, str, str, dict[str, Any]]


class Captured(NamedTuple):
    """An input as the observed call leaves it (`Tracker.note`): whose, under which key, when,
    and what to build it from (`make(*args)` gives its `Fields`).

    The observed call pays for this tuple only. The text, the data dicts, the id and the stored
    row are built when the item is written (`Tracker.apply`: on the write-behind thread, or in
    a batch of the process-memory sink), and most inputs an agent captures are never read
    (they expire unconsumed), so building them eagerly was most of what capturing cost a call:
    two frozen dataclasses, a random id and five dicts per check. `args` hold plain values
    copied from the call (strings, numbers, tuples), never the call's own objects.
    """

    owner: str
    key: str
    at: datetime
    make: Callable[..., Fields]
    args: tuple[Any, ...]


SinkItem = TrackerRow | Consumption | Captured


def _consumable(captured: Sequence[Captured]) -> dict[tuple[str, str], list[Captured]]:
    """`captured` grouped by (owner, key), each group cut to its newest MAX_INPUTS_PER_RECORD.

    A record consumes at most the newest MAX_INPUTS_PER_RECORD inputs of its keys (`take`), so of
    one batch's inputs under one key the older ones could never be consumed: they would only be
    stored, read back by every `take` and purge, and deleted. An agent checking in a tight loop
    (hundreds of calls per write-behind batch) otherwise made each stored row hundreds of inputs
    long, and the Chroma server's CPU per stored kilobyte was most of what capture cost a
    deployment of several workers (docs/PERFORMANCE.md, "Workers").
    """
    groups: dict[tuple[str, str], list[Captured]] = {}
    for c in captured:
        groups.setdefault((c.owner, c.key), []).append(c)
    return {group: noted[-MAX_INPUTS_PER_RECORD:] for group, noted in groups.items()}


class TrackerSink(Protocol):
    """Where `Tracker` sends its writes: the runtime's write-behind queue (which hands batches to
    `Tracker.apply`), or `DirectSink`."""

    def put(self, item: SinkItem) -> None:
        """Accept an item without waiting for I/O (or write it at once: `DirectSink`)."""
        ...

    def flush(self) -> object:
        """Return once every item put before the call is written."""
        ...


class DirectSink:
    """Applies each item at once (tests, tools, the in-memory rows): nothing is ever pending."""

    def __init__(self, apply: Callable[[Sequence[SinkItem]], None]) -> None:
        self._apply = apply

    def put(self, item: SinkItem) -> None:
        self._apply([item])

    def flush(self) -> None:
        """Nothing is pending."""


class Tracker:
    """Captures inputs and hands them to the next record of the same caller and key.

    Thread-safe: it holds no state of its own besides configuration; the store and sink are
    thread-safe.
    """

    def __init__(
        self,
        store: TrackerStore,
        *,
        sink: TrackerSink | None = None,
        input_ttl: float = 300,
        session_ttl: float = 1800,
        history_size: int = 50,
        clock: Callable[[], datetime] = utcnow,
        purge_every: float | None = None,
        commit: Callable[[Sequence[SinkItem]], object] | None = None,
        keep_noted: bool = False,
    ) -> None:
        """`commit` writes consumptions (`consumed`); the server passes a group-commit wrapper of
        `apply` (runtime.coalesce), so concurrent records share one batch of store calls.
        `purge_every`: purge from `capture` / `take` when that many seconds have passed since
        the last purge (for a store nothing else purges; the server's write-behind thread purges
        the shared one). `keep_noted`: the store keeps rows as the objects it is given (process
        memory, never serialised), so noted inputs are stored as their `Captured` tuples and
        built only when read: most are never read, they expire unconsumed."""
        self._store = store
        self._sink = sink or DirectSink(self.apply)
        self.input_ttl = timedelta(seconds=input_ttl)
        self.session_ttl = timedelta(seconds=session_ttl)
        self.history_size = history_size
        self._clock = clock
        self._purge_every = timedelta(seconds=purge_every) if purge_every is not None else None
        self._purged_at = clock()
        self._commit = commit or self.apply
        self._keep_noted = keep_noted

    def _maybe_purge(self) -> None:
        if self._purge_every is not None and self._clock() - self._purged_at >= self._purge_every:
            self._purged_at = self._clock()
            self.purge()

    def now(self) -> datetime:
        return self._clock()

    # --- capture (request path: must not block) ---------------------------------------------------
    def capture(
        self,
        owner: str,
        key: str,
        type: InputType,
        text: str,
        source: str,
        data: dict[str, Any] | None = None,
    ) -> TrackedInput:
        """Capture an input of `owner` under `key` (handed to the sink, not yet written)."""
        tracked = self.new_input(key, type, text, source, data)
        self.keep(owner, tracked)
        self._maybe_purge()
        return tracked

    def new_input(
        self, key: str, type: InputType, text: str, source: str, data: dict[str, Any] | None = None
    ) -> TrackedInput:
        """An input captured now, not kept anywhere yet (see `keep`)."""
        return TrackedInput(
            f"{_ID_PREFIX[type]}-{secrets.token_hex(4)}", type, text, source, self._clock(), key, data or {}
        )

    def keep(self, owner: str, tracked: TrackedInput) -> None:
        self._sink.put(_input_row(owner, tracked, self.input_ttl))

    def note(self, owner: str, key: str, make: Callable[..., Fields], *args: Any) -> None:
        """Capture an input built later from `make(*args)` (see `Captured`): the request path's
        way to capture, one tuple and one clock reading per call."""
        self._sink.put(Captured(owner, key, self._clock(), make, args))

    # --- consumption ------------------------------------------------------------------------------
    def take(self, owner: str, keys: Sequence[str]) -> Taken:
        """`owner`'s live inputs under `keys`, key priority first and oldest first within a key;
        at most the newest MAX_INPUTS_PER_RECORD (older ones of those keys go with them)."""
        self._sink.flush()
        self._maybe_purge()
        rank = {k: n for n, k in enumerate(keys)}
        rows = [r for r in self._store.rows(owner, "input", self._clock()) if r.key in rank]
        found = self._live(rows)
        found.sort(key=lambda i: i.captured_at)
        found = found[-MAX_INPUTS_PER_RECORD:]
        found.sort(key=lambda i: rank[i.key])  # stable: oldest first within a key
        return Taken(owner, tuple(found), tuple(r.id for r in rows))

    def _live(self, rows: Iterable[TrackerRow]) -> list[TrackedInput]:
        cutoff = self._clock() - self.input_ttl
        return [i for r in rows for i in inputs_of(r) if i.captured_at > cutoff]

    def consumed(self, taken: Taken, decision_id: str) -> None:
        """The record that took `taken` is stored: retire its inputs and write history lines,
        through `commit`, before returning (every process must see them consumed at once).

        A consumption is one store call: the history lines and a tombstone over each consumed
        row (`_spent`: same id, expired, so no read returns it) in one upsert; the purge deletes
        the tombstones and trims each owner's history to `history_size`. It used to be three to
        four calls per record (delete, history write, history read and trim), each a write Chroma
        serialises with the records' own: under 32 writing and querying clients, consuming took
        as long as storing the record (py-spy: 41 % of recordDecision's wall time against 48 %).
        Through the group commit, concurrent records' consumptions share that one call.
        """
        if taken.inputs:
            self._commit([Consumption(taken, decision_id, self._clock())])

    def apply(self, items: Sequence[SinkItem]) -> None:
        """Write a batch of the sink's items in one `add`: captured rows (packed, see `pack`),
        history lines, and a tombstone over each consumed row (see `consumed`)."""
        rows = [i for i in items if isinstance(i, TrackerRow)]
        done = [i for i in items if isinstance(i, Consumption)]
        history = [row for c in done for row in self._history_rows(c)]
        spent = {rid: _spent(c.taken.owner, rid) for c in done for rid in c.taken.row_ids}
        added = pack(rows) + self._built([i for i in items if isinstance(i, Captured)]) + history
        if added or spent:
            self._store.add([*added, *spent.values()])
        # A batch written is also the upkeep point of a tracker that purges by itself: inputs
        # captured by `note` alone (a loop of checks that never records) reach no `take`.
        self._maybe_purge()

    def _built(self, captured: Sequence[Captured]) -> list[TrackerRow]:
        """The stored rows of `captured`: one per (owner, key), packed as `pack` packs rows, built
        straight from the tuples (ids from one random draw for the whole batch)."""
        if not captured:
            return []
        if self._keep_noted:
            return self._kept(captured)
        kept = _consumable(captured)
        tokens = secrets.token_hex(4 * sum(len(cs) for cs in kept.values()))
        n = 0
        out = []
        for (owner, key), noted in kept.items():
            entries: list[dict[str, Any]] = []
            for c in noted:
                type_, text, source, data = c.make(*c.args)
                row_id = f"{_ID_PREFIX[type_]}-{tokens[8 * n : 8 * n + 8]}"
                n += 1
                at = c.at.isoformat()
                entries.append(
                    {"id": row_id, "at": at, "type": type_, "text": text, "source": source, "data": data}
                )
            first, last = min(c.at for c in noted), max(c.at for c in noted)
            if len(entries) == 1:
                e = entries[0]
                payload = {"type": e["type"], "text": e["text"], "source": e["source"], "data": e["data"]}
                out.append(TrackerRow(e["id"], owner, "input", key, first, first + self.input_ttl, payload))
                continue
            row_id = f"b-{secrets.token_hex(6)}"
            out.append(
                TrackerRow(row_id, owner, "input", key, first, last + self.input_ttl, {"inputs": entries})
            )
        return out

    def _kept(self, captured: Sequence[Captured]) -> list[TrackerRow]:
        """One row per (owner, key) holding the tuples themselves and the random part of their
        ids (`inputs_of` builds them on read)."""
        return [
            TrackerRow(
                f"b-{secrets.token_hex(6)}",
                owner,
                "input",
                key,
                min(c.at for c in noted),
                max(c.at for c in noted) + self.input_ttl,
                {"noted": tuple(noted), "tokens": secrets.token_hex(4 * len(noted))},
            )
            for (owner, key), noted in _consumable(captured).items()
        ]

    def _history_rows(self, c: Consumption) -> list[TrackerRow]:
        by_key: dict[str, list[TrackedInput]] = {}
        for i in c.taken.inputs:
            by_key.setdefault(i.key, []).append(i)
        return [
            _entry_row(
                c.taken.owner,
                f"c-{secrets.token_hex(6)}",
                ConsumedEntry(
                    key, c.at, len(items), _agent_of(key), c.decision_id, "consumed", _summary(items)
                ),
                self.session_ttl,
            )
            for key, items in by_key.items()
        ]

    # --- reading ----------------------------------------------------------------------------------
    def inputs(self, owner: str | None) -> list[tuple[str, TrackedInput]]:
        """(owner, input) of every live input of `owner` (None: every owner), oldest first."""
        self._sink.flush()
        cutoff = self._clock() - self.input_ttl
        found = [
            (r.owner, i)
            for r in self._store.rows(owner, "input", self._clock())
            for i in inputs_of(r)
            if i.captured_at > cutoff
        ]
        return sorted(found, key=lambda pair: pair[1].captured_at)

    def history(self, owner: str | None, limit: int = 20) -> list[tuple[str, ConsumedEntry]]:
        """(owner, entry), newest first (after the sink's pending consumptions are written); at
        most the newest `history_size` per owner, which the purge trims the store to."""
        self._sink.flush()
        rows = sorted(self._store.rows(owner, "consumed", self._clock()), key=lambda r: r.created_at)
        kept = self._newest_history(rows)
        return [(r.owner, _entry_of(r)) for r in reversed(rows) if r.id in kept][:limit]

    # --- upkeep -----------------------------------------------------------------------------------
    def purge(self) -> int:
        """Delete expired rows; a key whose inputs all expired unconsumed gets an "expired"
        history line (with a deterministic id, so processes purging together write it once)."""
        now = self._clock()
        live_rows = self._store.rows(None, "input", now)
        surplus = self._surplus(live_rows)
        history_rows = sorted(self._store.rows(None, "consumed", now), key=lambda r: r.created_at)
        kept = self._newest_history(history_rows)
        surplus += [r for r in history_rows if r.id not in kept]
        if surplus:
            self._store.delete([r.id for r in surplus])
        expired = self._store.expired(now)
        if not expired:
            return len(surplus)
        dropped = {r.id for r in surplus}
        live = {(r.owner, r.key) for r in live_rows if r.id not in dropped}
        lapsed: dict[tuple[str, str], list[TrackerRow]] = {}
        for r in expired:
            if r.kind == "input" and (r.owner, r.key) not in live:
                lapsed.setdefault((r.owner, r.key), []).append(r)
        self._store.delete([r.id for r in expired])
        history = []
        for (owner, key), rows in lapsed.items():
            rows.sort(key=lambda r: r.created_at)
            digest = hashlib.sha256(f"{owner}\0{key}\0{rows[-1].id}".encode()).hexdigest()[:12]
            entry = ConsumedEntry(
                key, now, 0, _agent_of(key), None, "expired", _summary(i for r in rows for i in inputs_of(r))
            )
            history.append(_entry_row(owner, f"x-{digest}", entry, self.session_ttl))
        if history:
            self._store.add(history)
        return len(expired) + len(surplus)

    @staticmethod
    def _surplus(rows: Sequence[TrackerRow]) -> list[TrackerRow]:
        """Each owner's oldest rows holding inputs beyond the newest MAX_LIVE_INPUTS (an agent
        capturing faster than the TTL drains must not grow the collection without bound). A
        packed row counts as the inputs it holds and goes whole."""
        by_owner: dict[str, list[TrackerRow]] = {}
        for r in rows:
            by_owner.setdefault(r.owner, []).append(r)
        out: list[TrackerRow] = []
        for owned in by_owner.values():
            held = sum(_held(r) for r in owned)
            if held <= MAX_LIVE_INPUTS:
                continue
            owned.sort(key=lambda r: r.created_at)
            for r in owned:
                if held <= MAX_LIVE_INPUTS:
                    break
                out.append(r)
                held -= _held(r)
        return out

    def _newest_history(self, rows: Sequence[TrackerRow]) -> set[str]:
        """Ids of each owner's newest `history_size` history rows (`rows` oldest first)."""
        seen: dict[str, int] = {}
        kept = set()
        for r in reversed(rows):
            seen[r.owner] = n = seen.get(r.owner, 0) + 1
            if n <= self.history_size:
                kept.add(r.id)
        return kept
