"""queryDecisions: every retrieval mode and every filter, alone and combined."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cstp.app import create_app
from cstp.domain.records import Decision, Reason, Review
from cstp.settings import Settings
from tests.conftest import TOKEN, rpc

NOW = datetime.now(UTC)

SEED: list[dict[str, Any]] = [
    dict(
        id="a0000001",
        decision="Use PostgreSQL as the primary database for billing",
        category="architecture",
        confidence=0.9,
        stakes="high",
        project="billing",
        feature="invoices",
        pr=10,
        tags=("db", "storage"),
        days=200,
        outcome="success",
    ),
    dict(
        id="a0000002",
        decision="Adopt trunk-based development with short-lived branches",
        category="process",
        confidence=0.6,
        stakes="medium",
        project="platform",
        feature="ci",
        pr=11,
        tags=("git",),
        days=100,
        outcome=None,
    ),
    dict(
        id="a0000003",
        decision="Integrate Stripe webhooks through a retrying queue",
        category="integration",
        confidence=0.75,
        stakes="critical",
        project="billing",
        feature="payments",
        pr=12,
        tags=("queue", "payments"),
        days=30,
        outcome="failure",
    ),
    dict(
        id="a0000004",
        decision="Pin every Python dependency with a lock file",
        category="tooling",
        confidence=0.95,
        stakes="low",
        project="platform",
        feature="ci",
        pr=13,
        tags=("deps",),
        days=5,
        outcome=None,
    ),
    dict(
        id="a0000005",
        decision="Require hardware keys for production SSH access",
        category="security",
        confidence=0.4,
        stakes="critical",
        project="infra",
        feature="access",
        pr=14,
        tags=("ssh", "auth"),
        days=1,
        outcome="partial",
    ),
]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, make_adapters: Any) -> Iterator[Any]:
    """Five varied decisions written straight through the service (controlled dates).

    Module-scoped: every test here only reads, so one app serves them all.
    """
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("query") / "data",
        auth_tokens=f"tester:{TOKEN}",
        guardrails_watch=False,
    )
    with TestClient(create_app(settings, adapters=make_adapters())) as client:
        _seed(client)
        yield client


def _seed(client: Any) -> None:
    c = client.app.state.adapters
    items = []
    for s in SEED:
        d = Decision(
            id=s["id"],
            decision=s["decision"],
            category=s["category"],
            confidence=s["confidence"],
            stakes=s["stakes"],
            date=NOW - timedelta(days=s["days"]),
            project=s["project"],
            feature=s["feature"],
            pr=s["pr"],
            tags=s["tags"],
            reasons=(Reason("analysis", "because"),),
            recorded_by="tester",
        )
        if s["outcome"]:
            d = d.with_review(Review(s["outcome"], NOW, "tester", lessons="learned"))
        items.append((d, c.embedder.embed([d.document()])[0]))
    c.store.save(items)


def ids(reply: dict[str, Any]) -> list[str]:
    assert "result" in reply, reply
    return [d["id"] for d in reply["result"]["decisions"]]


def q(client: Any, **params: Any) -> dict[str, Any]:
    return rpc(client, "cstp.queryDecisions", params)  # type: ignore[no-any-return]


def test_semantic_result_shape(seeded: Any) -> None:
    result = q(seeded, query="git branching strategy", limit=2, includeReasons=True)["result"]
    assert set(result) >= {"decisions", "total", "query", "queryTimeMs", "agent", "retrievalMode"}
    row = result["decisions"][0]
    assert row["id"] == "a0000002"
    assert set(row) >= {
        "id",
        "title",
        "category",
        "confidence",
        "stakes",
        "status",
        "date",
        "distance",
        "reasons",
    }
    assert 0 <= row["distance"] <= 2 and len(row["date"]) == 10
    assert result["total"] == 2


def test_keyword_mode_matches_terms_and_reports_scores(seeded: Any) -> None:
    result = q(seeded, query="Stripe webhooks", retrievalMode="keyword")["result"]
    assert [d["id"] for d in result["decisions"]] == ["a0000003"]
    assert result["retrievalMode"] == "keyword"
    assert result["scores"]["a0000003"]["keyword"] > 0


def test_hybrid_mode_combines_both_with_scores(seeded: Any) -> None:
    result = q(seeded, query="lock file for dependencies", retrievalMode="hybrid", limit=3)["result"]
    assert result["decisions"][0]["id"] == "a0000004"
    assert result["retrievalMode"] == "hybrid"
    s = result["scores"]["a0000004"]
    assert set(s) == {"semantic", "keyword", "combined"} and s["combined"] > 0


def test_empty_query_is_list_mode_newest_first(seeded: Any) -> None:
    result = q(seeded)["result"]
    assert result["retrievalMode"] == "list"
    assert [d["id"] for d in result["decisions"]] == [
        "a0000005",
        "a0000004",
        "a0000003",
        "a0000002",
        "a0000001",
    ]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"category": "security"}, {"a0000005"}),
        ({"minConfidence": 0.8}, {"a0000001", "a0000004"}),
        ({"maxConfidence": 0.6}, {"a0000002", "a0000005"}),
        (
            {"dateAfter": (NOW - timedelta(days=40)).isoformat()},
            {"a0000003", "a0000004", "a0000005"},
        ),
        ({"dateBefore": (NOW - timedelta(days=50)).date().isoformat()}, {"a0000001", "a0000002"}),
        ({"stakes": ["critical"]}, {"a0000003", "a0000005"}),
        ({"status": ["reviewed"]}, {"a0000001", "a0000003", "a0000005"}),
        ({"project": "billing"}, {"a0000001", "a0000003"}),
        ({"feature": "ci"}, {"a0000002", "a0000004"}),
        ({"pr": 12}, {"a0000003"}),
        ({"hasOutcome": True}, {"a0000001", "a0000003", "a0000005"}),
        ({"hasOutcome": False}, {"a0000002", "a0000004"}),
        ({"tags": ["payments", "git"]}, {"a0000002", "a0000003"}),
        ({"category": "integration", "minConfidence": 0.7, "stakes": ["critical"]}, {"a0000003"}),
        ({"project": "platform", "hasOutcome": False, "maxConfidence": 0.7}, {"a0000002"}),
        ({"status": ["pending"], "hasOutcome": True}, set()),
        ({"project": "billing", "tags": ["db"], "dateBefore": NOW.isoformat()}, {"a0000001"}),
    ],
)
@pytest.mark.parametrize("mode", ["semantic", "keyword", "hybrid", "list"])
def test_every_filter_works_in_every_mode(
    seeded: Any, filters: dict[str, Any], expected: set[str], mode: str
) -> None:
    params: dict[str, Any] = {"filters": filters, "limit": 10}
    if mode != "list":
        # Every seeded decision shares at least one of these words (keyword mode needs that).
        params |= {
            "query": "the for with a every as through database development",
            "retrievalMode": mode,
        }
    assert set(ids(q(seeded, **params))) == expected


def test_top_level_filters_from_the_dashboard_are_honoured(seeded: Any) -> None:
    assert set(ids(q(seeded, category="process"))) == {"a0000002"}
    assert set(ids(q(seeded, project="infra"))) == {"a0000005"}
    assert set(ids(q(seeded, hasOutcome=False))) == {"a0000002", "a0000004"}


def test_limit_and_top_k_are_clamped(seeded: Any) -> None:
    assert len(ids(q(seeded, query="database", limit=0))) == 1
    assert len(ids(q(seeded, query="database", top_k=2))) == 2
    assert len(ids(q(seeded, query="database", limit=100))) == 5


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "ten"}, "limit"),
        ({"retrievalMode": "fuzzy", "query": "x"}, "retrievalMode"),
        ({"filters": {"minConfidence": 2}}, "minConfidence"),
        ({"filters": {"stakes": ["huge"]}}, "stakes"),
        ({"filters": {"dateAfter": "last tuesday"}}, "dateAfter"),
        ({"filters": {"pr": "twelve"}}, "pr"),
        ({"filters": {"minConfidence": 0.9, "maxConfidence": 0.1}}, "minConfidence"),
        ({"filters": "category=process"}, "filters"),
    ],
)
def test_bad_query_params_are_invalid_params_naming_the_field(
    seeded: Any, params: dict[str, Any], field: str
) -> None:
    error = q(seeded, **params)["error"]
    assert error["code"] == -32602 and field in error["message"]


def test_reviewed_decision_shows_outcome_in_results(seeded: Any) -> None:
    row = q(seeded, query="hardware keys for SSH", limit=1)["result"]["decisions"][0]
    assert row["id"] == "a0000005" and row["outcome"] == "partial"
    assert row["status"] == "reviewed"
