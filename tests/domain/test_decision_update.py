"""DecisionService.update and id resolution, without a server."""

from __future__ import annotations

import pytest

from cstp.adapters.memory_store import MemoryStore
from cstp.domain.decisions import DecisionService, ReviewInput
from cstp.domain.errors import AmbiguousId, DecisionNotFound, InvalidInput
from cstp.domain.records import Decision, DecisionDraft, Reason, utcnow
from tests.domain.test_decision_service import CountingEmbedder


def service() -> tuple[DecisionService, MemoryStore]:
    store = MemoryStore("test-3")
    return DecisionService(store, CountingEmbedder()), store


def recorded(svc: DecisionService, text: str = "Use a queue for webhooks") -> str:
    draft = DecisionDraft(decision=text, confidence=0.7, category="integration", details={"trace": [1]})
    return svc.record(draft, "agent-1").decision.id


def test_update_replaces_the_fields_bumps_rev_stamps_and_reindexes() -> None:
    svc, store = service()
    rid = recorded(svc)
    before = store.get(rid)
    assert before is not None and before.updated_at is None
    changes = {"decision": " Use a stream ", "reasons": (Reason("analysis", "ordering"),), "bridge": {"a": 1}}
    updated, indexed = svc.update(rid, changes, "agent-2")
    assert indexed is True and store.get(rid) == updated
    assert updated.decision == "Use a stream" and updated.reasons == (Reason("analysis", "ordering"),)
    assert updated.details == {"trace": [1], "bridge": {"a": 1}}  # other details are kept
    assert updated.rev == 2 and updated.updated_at is not None and updated.updated_at >= before.date
    assert (updated.id, updated.date, updated.recorded_by) == (before.id, before.date, "agent-1")
    assert store.index_versions() == {rid: 2}  # the vector was rewritten with the record
    assert svc.update(rid, {"bridge": None}, "agent-2")[0].details == {"trace": [1]}


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"category": "security"}, "category"), ({"decision": "  "}, "decision"), ({}, None)],
)
def test_update_refuses_what_it_may_not_change_and_writes_nothing(
    changes: dict[str, object], field: str
) -> None:
    svc, store = service()
    rid = recorded(svc)
    before = store.get(rid)
    with pytest.raises(InvalidInput) as raised:
        svc.update(rid, changes, "a")
    assert raised.value.field == field
    assert store.get(rid) == before


def test_update_of_an_unknown_id_raises_not_found() -> None:
    svc, _ = service()
    with pytest.raises(DecisionNotFound):
        svc.update("deadbeef", {"confidence": 0.1}, "a")


def stored(store: MemoryStore, *ids: str) -> None:
    now = utcnow()
    store.save(
        [(Decision(id=i, decision="d", confidence=0.5, category="process", date=now), None) for i in ids]
    )


def test_find_resolves_exact_then_unique_prefix_and_refuses_to_guess() -> None:
    svc, store = service()
    stored(store, "ab", "ab01", "ab02", "cd01")
    assert svc.find("ab") == store.get("ab")  # a full id wins although longer ids share it
    assert svc.find("c") == store.get("cd01") and svc.find("x") is None
    with pytest.raises(AmbiguousId) as raised:
        svc.find("ab0")
    assert raised.value.candidates == ("ab01", "ab02") and raised.value.field == "id"
    assert raised.value.more is False


def test_review_through_an_ambiguous_prefix_changes_nothing() -> None:
    svc, store = service()
    stored(store, "9a000001", "9b000002")
    with pytest.raises(AmbiguousId):
        svc.review("9", ReviewInput("success"), "a")
    assert all(d.review is None and d.rev == 1 for d in store.scan())
