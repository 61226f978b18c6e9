"""DecisionService: record, fetch, review and re-index decisions.

The service owns the write path: it embeds the decision's document, writes record and vector through
the store, and keeps the store's vector index consistent with its records (`reconcile` at startup
repairs entries a crash left missing or stale; `reindex` rebuilds the whole index).
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from cstp.domain.errors import CstpError, DecisionNotFound, EmbedderUnavailable, InvalidInput
from cstp.domain.models import Decision, DecisionFilter, Reason, Review, utcnow
from cstp.domain.ports import DecisionStore, Embedder, Vector

logger = logging.getLogger("cstp.decisions")

REINDEX_BATCH = 256


@dataclass(frozen=True, slots=True)
class NewDecision:
    """What a caller supplies to record a decision (already validated at the edge)."""

    decision: str
    confidence: float
    category: str
    stakes: str = "medium"
    context: str | None = None
    reasons: tuple[Reason, ...] = ()
    tags: tuple[str, ...] = ()
    pattern: str | None = None
    project: str | None = None
    feature: str | None = None
    pr: int | None = None
    file: str | None = None
    line: int | None = None
    commit: str | None = None
    review_in: timedelta | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Recorded:
    decision: Decision
    indexed: bool
    quality_score: float
    suggestions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReviewInput:
    outcome: str
    actual_result: str | None = None
    lessons: str | None = None
    notes: str | None = None
    affected_kpis: dict[str, float] | None = None


@dataclass(frozen=True, slots=True)
class ReindexReport:
    indexed: int
    errors: int
    duration_ms: int


def quality(d: NewDecision) -> tuple[float, tuple[str, ...]]:
    """A 0..1 score of how reviewable the record is, with what would improve it."""
    checks: list[tuple[bool, str]] = [
        (len(d.decision.split()) >= 5, "Describe the decision in at least a short sentence"),
        (bool(d.context), "Add context: what situation prompted this decision"),
        (len(d.reasons) >= 1, "Add at least one reason"),
        (len({r.type for r in d.reasons}) >= 2, "Use reasons of two or more types"),
        (bool(d.tags), "Add tags so the decision can be found by topic"),
        (d.project is not None, "Name the project the decision belongs to"),
    ]
    passed = sum(ok for ok, _ in checks)
    return round(passed / len(checks), 2), tuple(msg for ok, msg in checks if not ok)


class DecisionService:
    """Write and read decisions. Thread-safe: request handlers call it from a thread pool."""

    def __init__(
        self,
        store: DecisionStore,
        embedder: Embedder,
        *,
        embed: Callable[[Sequence[str]], list[list[float]]] | None = None,
        save: Callable[[Sequence[tuple[Decision, Vector | None]]], object] | None = None,
    ) -> None:
        self._store = store
        self._embedder = embedder
        # `embed`/`save` may be group-commit wrappers (see ports.coalesce); default: direct calls.
        self._embed = embed or (lambda texts: embedder.embed(texts, "document"))
        self._save = save or store.save
        self._ids_lock = threading.Lock()
        self._issued: set[str] = set()  # ids this process handed out
        self._known: set[str] | None = None  # every stored id, once `reconcile` has read them
        self.index_state = "not checked"  # for /ready: not checked, checking, ok, ...

    # --- startup ---------------------------------------------------------------------------------
    def reconcile(self) -> int:
        """Index every record whose vector is missing or older than the record; return how many."""
        self.index_state = "checking"
        records = self._store.record_versions()
        with self._ids_lock:
            self._known = set(records)
        indexed = self._store.index_versions()
        stale = {i for i, rev in records.items() if indexed.get(i) != rev}
        if not stale:
            self.index_state = "ok"
            return 0
        repaired = 0
        batch: list[Decision] = []
        for d in self._store.scan():
            if d.id in stale:
                batch.append(d)
            if len(batch) >= REINDEX_BATCH:
                repaired += self._index_batch(batch)
                batch = []
        if batch:
            repaired += self._index_batch(batch)
        logger.info("reconciled index", extra={"entries": repaired, "stale": len(stale)})
        self.index_state = "ok" if repaired == len(stale) else f"{len(stale) - repaired} unindexed"
        return repaired

    def reconcile_in_background(self) -> threading.Thread:
        """Run `reconcile` on a daemon thread, so the server is ready while a large index is
        checked (reading 100k versions takes seconds). Failures are logged, never raised."""

        def run() -> None:
            try:
                self.reconcile()
            except CstpError as e:
                self.index_state = "check failed"
                logger.warning("index check failed; it runs again at the next start", extra={"error": str(e)})

        thread = threading.Thread(target=run, name="cstp-reconcile", daemon=True)
        thread.start()
        return thread

    def _index_batch(self, batch: list[Decision]) -> int:
        try:
            vectors = self._embedder.embed([d.document() for d in batch], "document")
        except EmbedderUnavailable as e:
            # Serve anyway: the records are safe, and the next start or cstp.reindex retries.
            logger.warning("index repair postponed: embedder failed", extra={"error": str(e)})
            return 0
        self._store.reindex(list(zip(batch, vectors, strict=True)))
        return len(batch)

    # --- writes ----------------------------------------------------------------------------------
    def _new_id(self) -> str:
        # 8 hex chars as the protocol's ids; collisions are likely past ~50k decisions, so every
        # id is checked against the stored ids (loaded by `reconcile`, or asked of the store before that).
        while True:
            candidate = secrets.token_hex(4)
            with self._ids_lock:
                known = self._known
                if candidate in self._issued or (known is not None and candidate in known):
                    continue
                self._issued.add(candidate)
            # Until `reconcile` has loaded every stored id, ask the store (a point read).
            if known is None and self._store.get(candidate) is not None:
                continue
            return candidate

    def _write(self, d: Decision) -> bool:
        """Embed and save; returns whether the vector index was written too."""
        vector: list[float] | None
        try:
            vector = self._embed([d.document()])[0]
        except EmbedderUnavailable as e:
            logger.warning("embedding failed; decision saved unindexed", extra={"error": str(e)})
            vector = None
        self._save([(d, vector)])
        return vector is not None

    def record(self, new: NewDecision, agent: str) -> Recorded:
        if not new.decision.strip():
            raise InvalidInput("decision must not be empty", field="decision")
        now = utcnow()
        details = dict(new.details)
        if new.review_in is not None:
            details["review_by"] = (now + new.review_in).date().isoformat()
        d = Decision(
            id=self._new_id(),
            decision=new.decision.strip(),
            category=new.category,
            confidence=new.confidence,
            stakes=new.stakes,
            date=now,
            context=new.context,
            reasons=new.reasons,
            tags=new.tags,
            pattern=new.pattern,
            recorded_by=agent,
            project=new.project,
            feature=new.feature,
            pr=new.pr,
            file=new.file,
            line=new.line,
            commit=new.commit,
            details=details,
        )
        try:
            indexed = self._write(d)
        except BaseException:
            with self._ids_lock:
                self._issued.discard(d.id)
            raise
        score, suggestions = quality(new)
        return Recorded(d, indexed, score, suggestions)

    def review(self, decision_id: str, review: ReviewInput, agent: str) -> tuple[Decision, bool]:
        """Attach an outcome to a decision; re-embeds it (the outcome becomes searchable)."""
        current = self.get(decision_id)
        reviewed = current.with_review(
            Review(
                outcome=review.outcome,
                reviewed_at=utcnow(),
                reviewed_by=agent,
                actual_result=review.actual_result,
                lessons=review.lessons,
                review_notes=review.notes,
                affected_kpis=review.affected_kpis,
            )
        )
        return reviewed, self._write(reviewed)

    def update(self, decision_id: str, changes: dict[str, Any]) -> tuple[Decision, bool]:
        """Replace some fields of a decision (the wire layer limits which)."""
        current = self.get(decision_id)
        updated = dataclasses.replace(current, **changes, rev=current.rev + 1)
        return updated, self._write(updated)

    # --- reads -----------------------------------------------------------------------------------
    def find(self, decision_id: str) -> Decision | None:
        """Exact id first, then a unique-enough prefix (clients show 8-char ids)."""
        return self._store.get(decision_id) or self._store.get_by_prefix(decision_id)

    def get(self, decision_id: str) -> Decision:
        found = self.find(decision_id)
        if found is None:
            raise DecisionNotFound(decision_id)
        return found

    def count(self) -> int:
        return self._store.count()

    def scan(self, flt: DecisionFilter | None = None) -> Iterator[Decision]:
        """Every stored decision matching `flt` (calibration's input)."""
        return self._store.scan(flt)

    # --- maintenance -----------------------------------------------------------------------------
    def reindex(self) -> ReindexReport:
        """Rebuild this embedding space's index from the stored records."""
        started = time.perf_counter()
        self._store.reset_index()
        indexed = errors = 0
        batch: list[Decision] = []

        def flush() -> None:
            nonlocal indexed, errors
            try:
                vectors = self._embedder.embed([d.document() for d in batch], "document")
                self._store.reindex(list(zip(batch, vectors, strict=True)))
                indexed += len(batch)
            except EmbedderUnavailable:
                errors += len(batch)
            batch.clear()

        for d in self._store.scan():
            batch.append(d)
            if len(batch) >= REINDEX_BATCH:
                flush()
        if batch:
            flush()
        return ReindexReport(indexed, errors, int((time.perf_counter() - started) * 1000))


def parse_review_in(value: str) -> timedelta:
    """`"<int>d|w|m"` → timedelta (m = 30 days)."""
    value = value.strip().lower()
    unit = value[-1:] if value else ""
    days = {"d": 1, "w": 7, "m": 30}.get(unit)
    number = value[:-1]
    if days is None or not number.isdigit():
        raise InvalidInput('reviewIn must look like "7d", "2w" or "1m"', field="reviewIn")
    return timedelta(days=int(number) * days)
