"""compact, getCompacted, setPreserve and getWisdom over JSON-RPC: levels, shapes, filters, limits,
preservation that survives a restart and is seen by a second server, and bad params."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cstp.adapters.memory_store import MemoryData, MemoryStore
from cstp.app import Adapters, create_app
from cstp.domain.records import Decision, Reason, Review
from tests.conftest import rpc
from tests.fakes import HashEmbedder

DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)


def old(id: str, age: timedelta, *, outcome: str | None = "success", **fields: Any) -> Decision:
    # The clock is read per decision: a module-level "now" goes stale while a long suite runs, and
    # the band tests sit a minute from each boundary.
    now = datetime.now(UTC)
    values: dict[str, Any] = {"decision": f"decision {id}", "confidence": 0.8, "category": "process"}
    d = Decision(id=id, date=now - age, recorded_by="tester", **values | fields)
    return d.with_review(Review(outcome, now, "tester")) if outcome else d


def seed(client: Any, *decisions: Decision) -> None:
    client.app.state.adapters.store.save([(d, None) for d in decisions])


@pytest.fixture
def aged(client: Any) -> Any:
    """One decision per band, a pending and an old preserved one, and one security decision."""
    seed(
        client,
        old(
            "f0000001",
            DAY,
            context="why",
            reasons=(Reason("analysis", "measured"),),
            tags=("db",),
            pattern="measure first",
            details={"bridge": {"structure": "s", "function": "f"}, "deliberation": {"steps": 2}},
        ),
        old("50000001", 10 * DAY, pattern="measure first", stakes="high", outcome="partial"),
        old("d0000001", 40 * DAY, decision="d" * 100),
        old("e0000001", 120 * DAY),
        old("e0000002", 400 * DAY, outcome=None),  # pending: full at any age
        old("e0000003", 200 * DAY, preserve=True),
        old("5ec00001", 10 * DAY, category="security"),
    )
    return client


def compacted(client: Any, **params: Any) -> dict[str, Any]:
    reply = rpc(client, "cstp.getCompacted", params)
    assert "result" in reply, reply
    result: dict[str, Any] = reply["result"]
    return result


def by_id(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in result["decisions"]}


def test_compact_counts_each_level_and_writes_nothing(aged: Any) -> None:
    before = aged.app.state.adapters.store.record_versions()
    for params in ({"dryRun": True}, {}, {"dry_run": False}):
        result = rpc(aged, "cstp.compact", params)["result"]
        assert result["levels"] == {"full": 3, "summary": 2, "digest": 1, "wisdom": 1}
        assert result["compacted"] == 7 and result["preserved"] == 1
        assert result["dryRun"] == bool(params.get("dryRun"))
    assert aged.app.state.adapters.store.record_versions() == before
    security = rpc(aged, "cstp.compact", {"category": "security"})["result"]
    assert security["compacted"] == 1 and security["levels"]["summary"] == 1


def test_each_level_has_its_shape(aged: Any) -> None:
    rows = by_id(compacted(aged))
    full = rows["f0000001"]
    assert full["level"] == "full" and full["date"] == (datetime.now(UTC) - DAY).date().isoformat()
    assert full["context"] == "why" and full["tags"] == ["db"] and full["pattern"] == "measure first"
    assert full["reasons"] == [{"type": "analysis", "text": "measured", "strength": 0.8}]
    assert full["bridge"] == {"structure": "s", "function": "f"} and full["deliberation"] == {"steps": 2}
    assert full["outcome"] == "success" and full["actualConfidence"] == 1.0 and full["confidence"] == 0.8
    summary = rows["50000001"]
    assert summary["level"] == "summary" and summary["actualConfidence"] == 0.5
    assert {"stakes", "pattern", "outcome", "confidence"} <= summary.keys()
    assert not {"context", "reasons", "tags", "oneLine", "preserved"} & summary.keys()
    digest = rows["d0000001"]
    assert digest["level"] == "digest" and digest["oneLine"] == "d" * 77 + "..."
    assert set(digest) == {"id", "level", "decision", "category", "date", "oneLine"}
    assert rows["e0000003"]["level"] == "full" and rows["e0000003"]["preserved"] is True
    assert rows["e0000002"]["level"] == "full"  # pending
    assert "e0000001" not in rows  # wisdom age: counted, read through getWisdom


def test_without_a_level_wisdom_is_counted_not_listed(aged: Any) -> None:
    result = compacted(aged)
    assert result["levels"] == {"full": 3, "summary": 2, "digest": 1, "wisdom": 1}
    assert result["total"] == len(result["decisions"]) == 6
    dates = [row["date"] for row in result["decisions"]]
    assert dates == sorted(dates, reverse=True)


def test_level_category_and_preserved_filters(aged: Any) -> None:
    wisdom = compacted(aged, level="wisdom")
    assert [(r["id"], r["level"]) for r in wisdom["decisions"]] == [("e0000001", "wisdom")]
    assert "oneLine" in wisdom["decisions"][0]
    assert wisdom["levels"] == {"full": 0, "summary": 0, "digest": 0, "wisdom": 1}
    assert set(by_id(compacted(aged, level="summary"))) == {"50000001", "5ec00001"}
    assert set(by_id(compacted(aged, level="summary", category="security"))) == {"5ec00001"}
    assert set(by_id(compacted(aged, level="full"))) == {"f0000001", "e0000002", "e0000003"}
    assert "e0000003" not in by_id(compacted(aged, includePreserved=False))
    assert "e0000003" not in by_id(compacted(aged, level="full", include_preserved=False))
    assert set(by_id(compacted(aged, level=""))) == set(by_id(compacted(aged)))


def test_limit_is_clamped_and_keeps_the_newest(aged: Any) -> None:
    two = compacted(aged, limit=2)
    assert [r["id"] for r in two["decisions"]] == ["f0000001", "5ec00001"]  # same day: by id
    assert two["total"] == 6
    assert len(compacted(aged, limit=0)["decisions"]) == 1
    assert len(compacted(aged, limit=10_000)["decisions"]) == 6


@pytest.mark.parametrize(
    ("age", "level"),
    [
        (7 * DAY - MINUTE, "full"),
        (7 * DAY, "summary"),
        (30 * DAY - MINUTE, "summary"),
        (30 * DAY, "digest"),
        (90 * DAY - MINUTE, "digest"),
        (90 * DAY, "wisdom"),
    ],
)
def test_band_boundaries_over_the_wire(client: Any, age: timedelta, level: str) -> None:
    seed(client, old("b0000001", age))
    (row,) = compacted(client, level=level)["decisions"]
    assert row["id"] == "b0000001"


def test_set_preserve_keeps_an_old_decision_full(aged: Any) -> None:
    reply = rpc(aged, "cstp.setPreserve", {"decisionId": "d0000001"})["result"]
    assert reply == {"success": True, "decisionId": "d0000001", "preserve": True}
    row = by_id(compacted(aged))["d0000001"]
    assert row["level"] == "full" and row["preserved"] is True
    assert rpc(aged, "cstp.getDecision", {"id": "d0000001"})["result"]["decision"]["preserve"] is True
    assert rpc(aged, "cstp.compact", {})["result"]["preserved"] == 2
    rpc(aged, "cstp.setPreserve", {"decision_id": "e0000003", "preserve": False})
    rpc(aged, "cstp.setPreserve", {"id": "d0000001", "preserve": "false"})  # a string is parsed
    levels = rpc(aged, "cstp.compact", {})["result"]
    assert levels["preserved"] == 0 and levels["levels"]["wisdom"] == 2


def test_set_preserve_of_an_unknown_decision_reports_it_in_the_result(client: Any) -> None:
    reply = rpc(client, "cstp.setPreserve", {"id": "ffffffff"})["result"]
    assert reply == {
        "success": False,
        "decisionId": "ffffffff",
        "preserve": True,
        "error": "Decision not found: ffffffff",
    }


@pytest.mark.parametrize("params", [{}, {"decisionId": ""}, {"preserve": True}])
def test_set_preserve_without_an_id_is_invalid_params(client: Any, params: dict[str, Any]) -> None:
    error = rpc(client, "cstp.setPreserve", params)["error"]
    assert error["code"] == -32602 and error["message"] == "decisionId is required"
    assert error["data"] == {"field": "decisionId"}


@pytest.mark.parametrize(
    ("method", "params", "field"),
    [
        ("cstp.setPreserve", {"id": "a/b"}, "id"),
        ("cstp.setPreserve", {"id": "d0000001", "preserve": "maybe"}, "preserve"),
        ("cstp.getCompacted", {"level": "ancient"}, "level"),
        ("cstp.getCompacted", {"limit": "x"}, "limit"),
        ("cstp.getCompacted", {"category": "bogus"}, "category"),
        ("cstp.compact", {"dryRun": "perhaps"}, "dryRun"),
        ("cstp.getWisdom", {"minDecisions": "many"}, "minDecisions"),
    ],
)
def test_bad_params_are_invalid_params_naming_the_field(
    client: Any, method: str, params: dict[str, Any], field: str
) -> None:
    error = rpc(client, method, params)["error"]
    assert error["code"] == -32602 and field in error["message"]


def _two_apps_on(data: MemoryData, settings_factory: Any) -> tuple[Any, Any]:
    def app() -> Any:
        return create_app(
            settings_factory(), adapters=Adapters(MemoryStore(HashEmbedder.space, data), HashEmbedder())
        )

    return app(), app()


def test_preservation_is_seen_by_another_server_on_the_same_store(settings_factory: Any) -> None:
    data = MemoryData()
    first_app, second_app = _two_apps_on(data, settings_factory)
    with TestClient(first_app) as first, TestClient(second_app) as second:
        seed(first, old("d0000001", 40 * DAY))
        assert rpc(first, "cstp.setPreserve", {"id": "d0000001"})["result"]["success"]
        assert by_id(compacted(second))["d0000001"]["level"] == "full"


def test_preservation_survives_a_restart_on_embedded_chroma(tmp_path: Path, settings_factory: Any) -> None:
    from cstp.adapters.chroma.store import ChromaStore

    def app() -> Any:
        store = ChromaStore.embedded(tmp_path / "chroma", prefix="cstp", space=HashEmbedder.space)
        return create_app(settings_factory(), adapters=Adapters(store, HashEmbedder()))

    with TestClient(app()) as before:
        seed(before, old("d0000001", 40 * DAY))
        rpc(before, "cstp.setPreserve", {"id": "d0000001"})
    with TestClient(app()) as after:
        row = by_id(compacted(after))["d0000001"]
        assert row["level"] == "full" and row["preserved"] is True


@pytest.fixture
def learnt(client: Any) -> Any:
    """Old reviewed architecture decisions (4 successes sharing a pattern, 2 failures) and security."""
    plan = [("success", "small steps", 0.9)] * 4 + [("failure", "rewrite", 0.6)] * 2
    seed(
        client,
        *(
            old(f"a{n:07d}", (100 + n) * DAY, outcome=o, pattern=p, confidence=c, category="architecture")
            for n, (o, p, c) in enumerate(plan)
        ),
        old("a0000099", 5 * DAY, category="architecture"),  # too young for wisdom
        *(old(f"5{n:07d}", 95 * DAY, category="security", confidence=1.0) for n in range(2)),
    )
    return client


def test_wisdom_per_category(learnt: Any) -> None:
    result = rpc(learnt, "cstp.getWisdom", {})["result"]
    assert result["categoriesAnalyzed"] == 1 and result["totalDecisions"] == 6
    (entry,) = result["wisdom"]
    assert entry == {
        "category": "architecture",
        "decisions": 6,
        "successRate": 0.667,
        "keyPrinciples": [
            {"text": "small steps", "confirmations": 4, "exampleIds": ["a0000000", "a0000001", "a0000002"]}
        ],
        "commonFailureMode": "rewrite",
        "avgConfidence": 0.8,
        "brierScore": round((4 * 0.01 + 2 * 0.36) / 6, 4),
    }


def test_wisdom_min_decisions_and_category(learnt: Any) -> None:
    everything = rpc(learnt, "cstp.getWisdom", {"min_decisions": 0})["result"]  # clamped to 1
    assert [w["category"] for w in everything["wisdom"]] == ["architecture", "security"]
    security = everything["wisdom"][1]
    assert security == {
        "category": "security",
        "decisions": 2,
        "successRate": 1.0,
        "avgConfidence": 1.0,
        "brierScore": 0.0,
    }
    only = rpc(learnt, "cstp.getWisdom", {"category": "security", "minDecisions": 2})["result"]
    assert [w["category"] for w in only["wisdom"]] == ["security"]
    assert rpc(learnt, "cstp.getWisdom", {"minDecisions": 1000})["result"]["wisdom"] == []


def test_review_reports_the_level_the_decision_now_has(aged: Any) -> None:
    seed(aged, old("d0000009", 40 * DAY, outcome=None))
    review = rpc(aged, "cstp.reviewDecision", {"id": "d0000009", "outcome": "success"})["result"]
    assert review["compactionLevel"] == "digest"
    rpc(aged, "cstp.setPreserve", {"id": "d0000001"})
    again = rpc(aged, "cstp.reviewDecision", {"id": "d0000001", "outcome": "failure"})["result"]
    assert again["compactionLevel"] == "full"


def test_compacted_query_rows_carry_their_level_and_skip_wisdom(aged: Any) -> None:
    plain = rpc(aged, "cstp.queryDecisions", {"limit": 50})["result"]
    assert len(plain["decisions"]) == 7 and "compactionLevel" not in plain["decisions"][0]
    result = rpc(aged, "cstp.queryDecisions", {"limit": 50, "compacted": True})["result"]
    levels = {row["id"]: row["compactionLevel"] for row in result["decisions"]}
    assert levels == {
        "f0000001": "full",
        "50000001": "summary",
        "5ec00001": "summary",
        "d0000001": "digest",
        "e0000002": "full",
        "e0000003": "full",  # preserved
    }
    assert result["total"] == 6
