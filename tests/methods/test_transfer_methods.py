"""cstp.importDecisions / cstp.exportDecisions on the wire (re-run on Chroma + ONNX by
tests/integration/test_wire_on_real_adapters.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import rpc


def _record(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"imp{n:05d}",
        "decision": f"imported decision {n} about caching",
        "confidence": 0.7,
        "category": "architecture",
        "date": "2026-02-01T08:00:00+00:00",
        "recorded_by": "someone-else",
        **extra,
    }


@pytest.fixture
def admin(app_factory: Any) -> Iterator[Any]:
    with TestClient(app_factory(admin_agents="tester")) as c:
        yield c


def test_import_keeps_ids_dates_agents_and_reviews(admin: Any) -> None:
    reviewed = _record(
        1, outcome="failure", reviewed_at="2026-02-03T08:00:00+00:00", reviewed_by="rev", lessons="too slow"
    )
    reply = rpc(admin, "cstp.importDecisions", {"decisions": [_record(0), reviewed]})["result"]
    assert (reply["imported"], reply["unchanged"], reply["skipped"]) == (2, 0, [])
    got = rpc(admin, "cstp.getDecision", {"id": "imp00001"})["result"]["decision"]
    assert (got["date"], got["recorded_by"], got["status"], got["outcome"], got["reviewed_by"]) == (
        "2026-02-01T08:00:00+00:00",
        "someone-else",
        "reviewed",
        "failure",
        "rev",
    )
    hits = rpc(admin, "cstp.queryDecisions", {"query": "imported decision caching", "limit": 5})["result"]
    assert {d["id"] for d in hits["decisions"]} == {"imp00000", "imp00001"}


def test_import_twice_reports_unchanged(admin: Any) -> None:
    batch = [_record(n) for n in range(5)]
    rpc(admin, "cstp.importDecisions", {"decisions": batch})
    reply = rpc(admin, "cstp.importDecisions", {"decisions": batch})["result"]
    assert (reply["imported"], reply["unchanged"]) == (0, 5)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": "bad id!"}, "id must be"),
        ({"decision": "  "}, "decision text is missing"),
        ({"confidence": True}, "confidence must be a number"),
        ({"category": "finance"}, "category 'finance' is not one of"),
        ({"date": "yesterday"}, "date 'yesterday' is not an ISO 8601 date"),
        ({"reasons": [{"type": "hunch", "text": "x"}]}, "reason type 'hunch' is unknown"),
        ({"tags": "not-a-list"}, "tags must be a list"),
    ],
)
def test_import_skips_an_unreadable_record_with_its_reason(admin: Any, change: dict, reason: str) -> None:
    reply = rpc(admin, "cstp.importDecisions", {"decisions": [_record(1), _record(2, **change)]})["result"]
    assert reply["imported"] == 1
    [skipped] = reply["skipped"]
    assert skipped["index"] == 1 and reason in skipped["reason"]


def test_import_rejects_a_line_of_an_unknown_version(admin: Any) -> None:
    line = {"format": "cstp.decision", "version": 9, "decision": _record(1)}
    [skipped] = rpc(admin, "cstp.importDecisions", {"decisions": [line]})["result"]["skipped"]
    assert "unsupported version 9" in skipped["reason"]


def test_import_writes_edges_once(admin: Any) -> None:
    edge = {
        "target": "imp00002",
        "type": "depends_on",
        "weight": 0.5,
        "created_at": "2026-02-01T09:00:00+00:00",
    }
    line = {"format": "cstp.decision", "version": 1, "decision": _record(1), "edges": [edge]}
    first = rpc(admin, "cstp.importDecisions", {"decisions": [line, _record(2)]})["result"]
    again = rpc(admin, "cstp.importDecisions", {"decisions": [line, _record(2)]})["result"]
    assert (first["edges"], again["edges"]) == (1, 0)


def test_export_pages_through_every_decision_with_edges(admin: Any) -> None:
    edge = {"target": "imp00002", "type": "relates_to", "created_at": "2026-02-01T09:00:00+00:00"}
    lines = [{"decision": _record(n), "edges": [edge] if n == 1 else []} for n in range(7)]
    rpc(admin, "cstp.importDecisions", {"decisions": lines})
    seen: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        page = rpc(admin, "cstp.exportDecisions", {"offset": offset, "limit": 3})["result"]
        assert (page["format"], page["version"]) == ("cstp.decision", 1)
        seen += page["lines"]
        offset = page["nextOffset"]
    assert sorted(x["decision"]["id"] for x in seen) == [f"imp{n:05d}" for n in range(7)]
    [with_edge] = [x for x in seen if x["edges"]]
    assert with_edge["decision"]["id"] == "imp00001" and with_edge["edges"][0]["target"] == "imp00002"


def test_export_filters(admin: Any) -> None:
    rpc(admin, "cstp.importDecisions", {"decisions": [_record(1), _record(2, category="security")]})
    page = rpc(admin, "cstp.exportDecisions", {"filters": {"category": "security"}})["result"]
    assert [x["decision"]["id"] for x in page["lines"]] == ["imp00002"]
    assert "total" not in page


def test_transfer_methods_are_for_admins_only(client: Any) -> None:
    for method in ("cstp.importDecisions", "cstp.exportDecisions", "cstp.backupCollections"):
        error = rpc(client, method, {"decisions": []})["error"]
        assert error["code"] == -32003 and error["data"] == {"reason": "not_admin"}
        assert "'tester' is not one" in error["message"]


def test_import_batch_size_is_limited(admin: Any) -> None:
    error = rpc(admin, "cstp.importDecisions", {"decisions": [{}] * 5001})["error"]
    assert error["code"] == -32602 and "decisions" in error["message"]
