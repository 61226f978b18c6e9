"""Export lines as text (`line_text`): the same object `line_of_record` builds, around the stored
record's JSON text taken as it is."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from cstp.domain import codec
from cstp.domain.edges import Edge
from cstp.domain.records import Decision, Review
from cstp.domain.transfer import line_of_record, line_text

NOW = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def _decision() -> Decision:
    d = Decision(
        id="d0000001",
        decision='Garder les accents: 漢字 "quoted" \\ back',
        category="process",
        confidence=0.7,
        stakes="low",
        date=NOW,
        details={"kpi_indicators": {"exact": 2**70, "ratio": 0.1}},
    )
    return d.with_review(Review("success", NOW, "reviewer"))


def test_a_line_without_edges_parses_to_the_line_of_its_record() -> None:
    record = codec.to_record(_decision())
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    line = json.loads(line_text(text, []))
    assert line == line_of_record(record, [])
    assert list(line) == ["format", "version", "decision", "edges"]
    assert line["decision"]["kpi_indicators"]["exact"] == 2**70  # the text is not re-parsed on the way


def test_a_line_with_edges_lists_them_in_key_order_like_line_of_record() -> None:
    record = codec.to_record(_decision())
    edges = [
        Edge("d0000001", "d0000003", "supersedes", 1.0, NOW, created_by="a", context="née"),
        Edge("d0000001", "d0000002", "relates_to", 0.25, NOW),
    ]
    line = json.loads(line_text(json.dumps(record), edges))
    assert line == line_of_record(record, edges)
    assert [e["target"] for e in line["edges"]] == ["d0000002", "d0000003"]
