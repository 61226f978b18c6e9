"""What `cstp import` detects and reads, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from cstp.console import sources
from tests.console.reference_data import write_sqlite, write_yaml_tree


def test_detect_prefers_the_yaml_tree_then_sqlite_then_json_lines(tmp_path: Path) -> None:
    write_yaml_tree(tmp_path / "ref")
    write_sqlite(tmp_path / "ref" / "data" / "decisions.db")
    assert sources.detect(tmp_path / "ref") == "yaml"
    assert sources.detect(tmp_path / "ref" / "data") == "sqlite"
    assert sources.detect(tmp_path / "ref" / "data" / "decisions.db") == "sqlite"
    (tmp_path / "x.jsonl").write_text("{}\n")
    assert sources.detect(tmp_path / "x.jsonl") == "jsonl"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no decisions"):
        sources.detect(tmp_path / "empty")


def test_counts_match_what_is_read(tmp_path: Path) -> None:
    write_yaml_tree(tmp_path / "ref")
    write_sqlite(tmp_path / "db" / "decisions.db")
    assert sources.count(tmp_path / "ref", "yaml") == 5
    assert sources.count(tmp_path / "db", "sqlite") == 3
    yaml_items = list(sources.read(tmp_path / "ref", "yaml"))
    assert len([i for i in yaml_items if i.line is not None]) == 4  # the broken file has no line
    assert len(list(sources.read(tmp_path / "db", "sqlite"))) == 3


def test_the_side_files_are_not_read_as_decisions(tmp_path: Path) -> None:
    (tmp_path / "graph_edges.jsonl").write_text('{"source_id": "a", "target_id": "b"}\n')
    (tmp_path / "circuit_breakers.jsonl").write_text('{"scope": "global"}\n')
    (tmp_path / "all.jsonl").write_text('{"id": "a", "decision": "x"}\n')
    assert [i.id for i in sources.read(tmp_path, "jsonl")] == ["a"]
    assert sources.count(tmp_path, "jsonl") == 1


def test_the_sqlite_reader_never_writes_the_database(tmp_path: Path) -> None:
    db = tmp_path / "decisions.db"
    write_sqlite(db)
    before = db.read_bytes()
    list(sources.read(db, "sqlite"))
    assert db.read_bytes() == before
