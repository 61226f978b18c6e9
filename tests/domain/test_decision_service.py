"""DecisionService without a server: ids, index repair, embedder failures, re-indexing."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence

import pytest

from cstp.adapters.memory_store import MemoryStore
from cstp.domain.decisions import DecisionService, ReviewInput, quality
from cstp.domain.errors import DecisionNotFound, EmbedderUnavailable
from cstp.domain.filters import DecisionFilter
from cstp.domain.ports import Vector
from cstp.domain.records import Decision, DecisionDraft, Review, utcnow


class CountingEmbedder:
    """A tiny deterministic embedder for service logic (semantics are tested with the real model)."""

    space = "test-3"
    dimension = 3

    def __init__(self) -> None:
        self.failing = False
        self.calls = 0

    def embed(self, texts: Sequence[str], purpose: str = "document") -> list[list[float]]:
        self.calls += 1
        if self.failing:
            raise EmbedderUnavailable("model offline")
        return [[1.0, float(len(t) % 7), 0.5] for t in texts]

    def close(self) -> None:
        pass


def service() -> tuple[DecisionService, MemoryStore, CountingEmbedder]:
    store, embedder = MemoryStore("test-3"), CountingEmbedder()
    return DecisionService(store, embedder), store, embedder


def new(text: str = "Use a queue for webhooks") -> DecisionDraft:
    return DecisionDraft(decision=text, confidence=0.7, category="integration")


def test_record_writes_record_and_vector() -> None:
    svc, store, _ = service()
    recorded = svc.record(new(), "agent-1")
    assert recorded.indexed is True
    assert store.get(recorded.decision.id) == recorded.decision
    assert store.index_versions() == {recorded.decision.id: 1}
    assert recorded.decision.recorded_by == "agent-1"


def test_a_completed_draft_keeps_the_early_embedding_when_its_document_is_the_same() -> None:
    svc, store, embedder = service()
    seen: list[str] = []

    def complete(draft: DecisionDraft) -> DecisionDraft:
        seen.append(draft.decision)
        return dataclasses.replace(draft, details={**draft.details, "deliberation": {"inputs": []}})

    recorded = svc.record(new(), "a", complete=complete)
    assert seen == ["Use a queue for webhooks"] and embedder.calls == 1
    assert recorded.decision.details["deliberation"] == {"inputs": []}
    assert store.get(recorded.decision.id) == recorded.decision


def test_a_completed_draft_with_another_document_is_embedded_again() -> None:
    svc, store, embedder = service()
    recorded = svc.record(new(), "a", complete=lambda d: dataclasses.replace(d, context="a longer context"))
    assert embedder.calls == 2
    stored = store.search(embedder.embed([recorded.decision.document()])[0], DecisionFilter(), 1)
    assert stored[0].decision.id == recorded.decision.id and stored[0].distance == pytest.approx(0.0)


def test_embedder_failure_still_saves_the_record_unindexed() -> None:
    svc, store, embedder = service()
    embedder.failing = True
    recorded = svc.record(new(), "a")
    assert recorded.indexed is False
    assert store.get(recorded.decision.id) is not None
    assert store.index_versions() == {}


def test_reconcile_indexes_missing_and_stale_entries() -> None:
    svc, store, embedder = service()
    embedder.failing = True
    missing = svc.record(new("first"), "a").decision
    embedder.failing = False
    fresh = svc.record(new("second"), "a").decision
    stale = fresh.with_review(Review("success", utcnow(), "a"))
    store.save([(stale, None)])  # record newer than its vector, as after a crash mid-write
    restarted = DecisionService(store, embedder)
    assert restarted.reconcile() == 2
    assert store.index_versions() == {missing.id: 1, fresh.id: 2}
    assert restarted.reconcile() == 0


def test_reconcile_with_a_failing_embedder_does_not_raise() -> None:
    svc, store, embedder = service()
    embedder.failing = True
    svc.record(new(), "a")
    assert DecisionService(store, embedder).reconcile() == 0


def test_ids_are_unique_and_never_reuse_stored_ones() -> None:
    svc, store, _ = service()
    existing = Decision(
        id="0000abcd", decision="x", category="process", confidence=0.5, stakes="low", date=utcnow()
    )
    store.save([(existing, None)])
    svc.reconcile()
    ids = {svc.record(new(f"d{i}"), "a").decision.id for i in range(300)}
    assert len(ids) == 300 and "0000abcd" not in ids


def test_review_of_unknown_id_raises_not_found() -> None:
    svc, _, _ = service()
    with pytest.raises(DecisionNotFound):
        svc.review("ffffffff", ReviewInput("success"), "a")


def test_review_bumps_revision_and_reindexes() -> None:
    svc, store, _ = service()
    d = svc.record(new(), "a").decision
    reviewed, indexed = svc.review(d.id[:6], ReviewInput("failure", lessons="too slow"), "b")
    assert indexed and reviewed.rev == 2 and reviewed.status == "reviewed"
    assert store.index_versions()[d.id] == 2
    assert "Outcome: failure" in reviewed.document()


def test_reindex_rebuilds_every_vector() -> None:
    svc, store, _ = service()
    for i in range(5):
        svc.record(new(f"decision {i}"), "a")
    store.reset_index()
    report = svc.reindex()
    assert (report.indexed, report.errors) == (5, 0)
    assert len(store.index_versions()) == 5


def test_quality_rewards_context_reasons_and_tags() -> None:
    bare, hints = quality(DecisionDraft(decision="Go", confidence=0.5, category="process"))
    assert bare == 0.0 and len(hints) == 6


def test_new_ids_are_16_hex_characters_from_the_system_random_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[int] = []

    def token_hex(n: int) -> str:
        asked.append(n)
        return "0123456789abcdef"

    monkeypatch.setattr("cstp.domain.decisions.secrets.token_hex", token_hex)
    svc, _, _ = service()
    assert svc.record(new(), "a").decision.id == "0123456789abcdef"
    assert asked == [8]


def test_stored_8_hex_ids_and_prefixes_of_new_ids_resolve() -> None:
    svc, store, _ = service()
    old = Decision(
        id="0000abcd", decision="x", category="process", confidence=0.5, stakes="low", date=utcnow()
    )
    store.save([(old, None)])
    fresh = svc.record(new(), "a").decision
    assert re.fullmatch(r"[0-9a-f]{16}", fresh.id)
    assert svc.get("0000abcd").id == "0000abcd"
    assert svc.get("0000a").id == "0000abcd"
    assert svc.get(fresh.id[:8]).id == fresh.id


def test_background_index_check_repairs_and_reports_state() -> None:
    _, store, embedder = service()
    embedder.failing = True
    missing = DecisionService(store, embedder).record(new(), "a").decision
    embedder.failing = False
    restarted = DecisionService(store, embedder)
    assert restarted.index_state == "not checked"
    restarted.reconcile_in_background().join(10)
    assert restarted.index_state == "ok"
    assert missing.id in store.index_versions()


def test_new_records_take_the_insert_path_and_every_other_write_the_save_path() -> None:
    # Only a just-drawn id is known to be absent; a review, an update, a preserve mark or an
    # added thought rewrites a stored decision and must replace it (save).
    store, embedder = MemoryStore("test-3"), CountingEmbedder()
    writes: list[tuple[str, str]] = []

    def via(path: str) -> Callable[[Sequence[tuple[Decision, Vector | None]]], None]:
        def call(items: Sequence[tuple[Decision, Vector | None]]) -> None:
            writes.extend((path, d.id) for d, _ in items)
            getattr(store, path)(items)

        return call

    svc = DecisionService(store, embedder, save=via("save"), insert=via("insert"))
    d = svc.record(new(), "a").decision
    assert writes == [("insert", d.id)]
    svc.review(d.id, ReviewInput(outcome="success"), "a")
    svc.update(d.id, {"decision": "Use a durable queue for webhooks"}, "a")
    svc.set_preserve(d.id, True)
    assert writes[1:] == [("save", d.id)] * 3
    assert store.get(d.id).preserve is True  # type: ignore[union-attr]
