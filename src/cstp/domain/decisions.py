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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cstp.domain.errors import AmbiguousId, CstpError, DecisionNotFound, EmbedderUnavailable, InvalidInput
from cstp.domain.filters import DecisionFilter
from cstp.domain.ports import DecisionStore, Embedder, Vector
from cstp.domain.records import Decision, DecisionDraft, Review, utcnow

logger = logging.getLogger("cstp.decisions")

REINDEX_BATCH = 256
ID_BYTES = 8  # new decision ids: 16 hex characters

# `DecisionService.index_state` before the start-up index check has finished; afterwards it is
# "ok", "check failed" or "<n> unindexed".
INDEX_STARTING = frozenset({"not checked", "checking"})


@dataclass(frozen=True, slots=True)
class Recorded:
    """What recording a decision produced: the stored decision and what the caller is told."""

    decision: Decision
    indexed: bool
    quality_score: float
    suggestions: tuple[str, ...]
    warnings: tuple[Any, ...] = ()  # record-phase guardrail findings (see RecordPolicy)


# Checks a just-recorded decision (with its quality score) on behalf of an agent and returns the
# findings to report. The composition root wires it to the record-phase guardrails.
RecordPolicy = Callable[[Decision, float, str], Sequence[Any]]


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


def quality(d: DecisionDraft) -> tuple[float, tuple[str, ...]]:
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
    """Write and read decisions: the record use case (store, then record-phase policy) lives here.

    Thread safety: request handlers call it from a thread pool. It keeps no id bookkeeping (ids
    are random, see `_new_id`); the store and embedder are thread-safe themselves; `index_state` is
    a single string attribute replaced whole (readers see the old or the new value).
    """

    def __init__(
        self,
        store: DecisionStore,
        embedder: Embedder,
        *,
        embed: Callable[[Sequence[str]], list[list[float]]] | None = None,
        save: Callable[[Sequence[tuple[Decision, Vector | None]]], object] | None = None,
        insert: Callable[[Sequence[tuple[Decision, Vector | None]]], object] | None = None,
        record_policy: RecordPolicy | None = None,
        on_review: Callable[[Decision], None] | None = None,
        id_prefixes: Callable[[str, int], list[str] | None] | None = None,
    ) -> None:
        self._store = store
        # Prefix lookups from memory (the browse catalogue's `ids_with_prefix`); None from it, or
        # none given: the store's, which pages through every id.
        self._id_prefixes = id_prefixes
        self._embedder = embedder
        # `embed`/`save` may be group-commit wrappers (see runtime.coalesce); default: direct calls.
        self._embed = embed or (lambda texts: embedder.embed(texts, "document"))
        self._save = save or store.save
        # New records (fresh random ids) take the store's `insert`, which skips the read a
        # replacing write needs; without a wrapper, `save` (correct for any id, one read more).
        self._insert = insert or self._save
        self._record_policy = record_policy
        # Told about every stored review (the circuit breakers count outcomes).
        self._on_review = on_review
        self.index_state = "not checked"  # for /ready: not checked, checking, ok, ...

    # --- startup ---------------------------------------------------------------------------------
    def reconcile(self) -> int:
        """Index every record whose vector is missing or older than the record; return how many."""
        self.index_state = "checking"
        records = self._store.record_versions()
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
    @staticmethod
    def _new_id() -> str:
        """16 hex characters: 64 random bits, unique without asking anyone.

        Several server processes (and replicas) write to one store, so an id must not depend on
        what one process has seen. At a million decisions the chance that any two of them share
        an id is about 3 in 100 million (n² / 2⁶⁵). Hex keeps clients' id parsing working; they
        show 8 characters, and every method resolves an unambiguous prefix (`find`). Stored
        8-hex ids (the reference's, and this server's before) are ids like any other.
        """
        return secrets.token_hex(ID_BYTES)

    def _embedding(self, d: Decision) -> tuple[str, list[float] | None]:
        """`d`'s embedded document and its vector (None when the embedder failed: saved unindexed)."""
        text = d.document()
        try:
            return text, self._embed([text])[0]
        except EmbedderUnavailable as e:
            logger.warning("embedding failed; decision saved unindexed", extra={"error": str(e)})
            return text, None

    def _write(
        self, d: Decision, *, new: bool = False, embedded: tuple[str, list[float] | None] | None = None
    ) -> bool:
        """Embed and save (`new`: `d.id` was just drawn, so the store's `insert` path); returns
        whether the vector index was written too. `embedded`: an embedding made earlier, used if
        it is of `d`'s document."""
        if embedded is None or embedded[0] != d.document():
            embedded = self._embedding(d)
        vector = embedded[1]
        (self._insert if new else self._save)([(d, vector)])
        return vector is not None

    def record(
        self,
        draft: DecisionDraft,
        agent: str,
        *,
        review_in: timedelta | None = None,
        complete: Callable[[DecisionDraft], DecisionDraft] | None = None,
    ) -> Recorded:
        """Store `agent`'s decision, then run the record-phase policy on it (one use case, so a
        CLI or worker that records gets the same warnings as the JSON-RPC method).

        `complete(draft)`, when given, returns the draft with what the caller was still waiting
        for (recordDecision: the deliberation inputs, which the tracker reads from the store on
        another thread, started before this call). `draft` is embedded first and `complete`
        called after that, so the read overlaps the embedding instead of following it (150 and
        200 ms at the median under the mixed load, docs/PERFORMANCE.md). The vector is kept when
        the completed draft embeds the same document (deliberation and related decisions are not
        in it), else the completed one is embedded."""
        if not draft.decision.strip():
            raise InvalidInput("decision must not be empty", field="decision")
        now, decision_id = utcnow(), self._new_id()

        def decision_of(draft: DecisionDraft) -> tuple[DecisionDraft, Decision]:
            if review_in is not None:
                draft = dataclasses.replace(
                    draft, details={**draft.details, "review_by": (now + review_in).date().isoformat()}
                )
            draft = dataclasses.replace(draft, decision=draft.decision.strip())
            return draft, Decision.from_draft(draft, id=decision_id, now=now, agent=agent)

        embedded = None
        if complete is not None:
            embedded = self._embedding(decision_of(draft)[1])
            draft = complete(draft)
        draft, d = decision_of(draft)
        indexed = self._write(d, new=True, embedded=embedded)
        score, suggestions = quality(draft)
        warnings = tuple(self._record_policy(d, score, agent)) if self._record_policy else ()
        return Recorded(d, indexed, score, suggestions, warnings)

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
        indexed = self._write(reviewed)
        if self._on_review is not None:
            self._on_review(reviewed)
        return reviewed, indexed

    def set_preserve(self, decision_id: str, preserve: bool) -> Decision:
        """Mark a decision never to be compacted (or clear the mark), stored with the record.

        The mark is a record field written through `_write`, so it survives restarts and every
        process sharing the store sees it. Setting the value it already has writes nothing.
        """
        current = self.get(decision_id)
        if current.preserve == preserve:
            return current
        marked = current.with_preserve(preserve)
        self._write(marked)
        return marked

    def update(self, decision_id: str, changes: Mapping[str, Any], agent: str) -> tuple[Decision, bool]:
        """Change what a decision says (see `Decision.with_changes`) and re-embed it through the
        record path, so semantic and keyword search see the new text at once. Returns the stored
        decision and whether the index was written."""
        updated = self.get(decision_id).with_changes(changes, utcnow())
        indexed = self._write(updated)
        logger.info(
            "decision updated", extra={"decision_id": updated.id, "agent": agent, "changed": sorted(changes)}
        )
        return updated, indexed

    def add_thought(
        self, decision_id: str, thought: Mapping[str, Any], step: Mapping[str, Any]
    ) -> tuple[Decision, int]:
        """Append a reasoning input and step to a stored decision's deliberation (recordThought
        after the decision), numbering the step after the last one; returns it and the number."""
        current = self.get(decision_id)
        existing = current.details.get("deliberation")
        deliberation = dict(existing) if isinstance(existing, dict) else {}
        inputs = [i for i in deliberation.get("inputs") or [] if isinstance(i, dict)]
        steps = [s for s in deliberation.get("steps") or [] if isinstance(s, dict)]
        number = max((s["step"] for s in steps if isinstance(s.get("step"), int)), default=0) + 1
        deliberation["inputs"] = [*inputs, dict(thought)]
        deliberation["steps"] = [*steps, {**step, "step": number}]
        updated = dataclasses.replace(
            current,
            details={**current.details, "deliberation": deliberation},
            rev=current.rev + 1,
            updated_at=utcnow(),
        )
        self._write(updated)
        return updated, number

    # --- reads -----------------------------------------------------------------------------------
    def find(self, decision_id: str) -> Decision | None:
        """The decision with exactly this id, else the only one whose id starts with it (clients
        show short ids). Raises AmbiguousId when several ids start with it: never a guess. The
        prefix lookup comes from memory when it can (`id_prefixes`)."""
        exact = self._store.get(decision_id)
        if exact is not None:
            return exact
        limit = AmbiguousId.MAX_CANDIDATES
        ids = None if self._id_prefixes is None else self._id_prefixes(decision_id, limit + 1)
        if ids is None:
            ids = self._store.ids_with_prefix(decision_id, limit + 1)
        if len(ids) > 1:
            raise AmbiguousId(decision_id, tuple(ids[:limit]), more=len(ids) > limit)
        return self._store.get(ids[0]) if ids else None

    def get(self, decision_id: str) -> Decision:
        found = self.find(decision_id)
        if found is None:
            raise DecisionNotFound(decision_id)
        return found

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
