"""Chroma-specific behaviour of ChromaStore that the store contract cannot see."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from cstp.adapters.chroma import store as chroma_store
from cstp.adapters.chroma.client import ExplicitVectorsOnly, collection_name, parse_server_url
from cstp.adapters.chroma.schema import record_vector
from cstp.adapters.chroma.store import ChromaStore
from cstp.domain.errors import ConfigError, StoreUnavailable
from cstp.domain.filters import DecisionFilter
from cstp.domain.records import Decision

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def make(i: int) -> Decision:
    return Decision(
        id=f"p{i:07d}",
        decision=f"decision {i}",
        category="process",
        confidence=0.5,
        stakes="low",
        date=T0 + timedelta(hours=i),
        tags=("even",) if i % 2 == 0 else ("odd",),
    )


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[ChromaStore]:
    store = ChromaStore.embedded(tmp_path / "chroma", prefix="cstp", space="space-a")
    yield store
    store.close()


def raw_client(path: Path) -> Any:
    """A plain chromadb client on the same directory (same settings, so it shares the system)."""
    return chromadb.PersistentClient(
        path=str(path), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    )


# --- names and URLs ------------------------------------------------------------------------------


def test_collection_names_follow_chroma_rules() -> None:
    assert collection_name("cstp", "records") == "cstp-records"
    assert collection_name("a", "b") == "a-b"
    for prefix in ("-cstp", "cstp/x", "cs tp", "x" * 600):
        with pytest.raises(ConfigError, match="invalid Chroma collection name"):
            collection_name(prefix, "records")
    with pytest.raises(ConfigError):
        collection_name("cstp", "space.")


def test_a_space_named_records_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="reserved"):
        ChromaStore.embedded(tmp_path, prefix="cstp", space="records")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8000", ("127.0.0.1", 8000, False, "http://127.0.0.1:8000")),
        ("http://chromadb", ("chromadb", 8000, False, "http://chromadb:8000")),
        ("https://chroma.example/", ("chroma.example", 443, True, "https://chroma.example:443")),
        ("http://[::1]:9000", ("[::1]", 9000, False, "http://[::1]:9000")),
    ],
)
def test_server_urls_are_parsed(url: str, expected: tuple[str, int, bool, str]) -> None:
    address = parse_server_url(url)
    assert (address.host, address.port, address.ssl, address.base) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("chromadb:8000", "must look like"),
        ("ftp://chromadb:8000", "must look like"),
        ("http://user:pw@chromadb:8000", "credentials"),
        ("http://chromadb:8000/api", "path"),
        ("http://chromadb:notaport", "invalid port"),
    ],
)
def test_bad_server_urls_are_config_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ChromaStore.server(url, prefix="cstp", space="s")


# --- collections ---------------------------------------------------------------------------------


def test_collections_never_embed_on_their_own(embedded: ChromaStore, tmp_path: Path) -> None:
    embedded.ping()
    client = raw_client(tmp_path / "chroma")
    try:
        index = client.get_collection("cstp-space-a", embedding_function=ExplicitVectorsOnly())
        config = index.configuration_json
        assert config["embedding_function"]["name"] == "cstp-explicit-vectors"
        assert config["hnsw"]["space"] == "cosine"
        with pytest.raises(RuntimeError, match="passes embeddings explicitly"):
            index.add(ids=["x"], documents=["this would need a model"])
    finally:
        client.close()


def test_records_carry_a_tiny_id_derived_vector(embedded: ChromaStore, tmp_path: Path) -> None:
    embedded.save([(make(1), [1.0, 0.0, 0.0])])
    client = raw_client(tmp_path / "chroma")
    try:
        records = client.get_collection("cstp-records", embedding_function=ExplicitVectorsOnly())
        [vector] = records.get(ids=[make(1).id], include=["embeddings"])["embeddings"]
        assert list(vector) == pytest.approx(record_vector(make(1).id))
        assert len(vector) == 2
    finally:
        client.close()


def test_writes_and_reads_work_across_chunks_and_pages(
    embedded: ChromaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chroma_store, "WRITE_BATCH", 3)
    monkeypatch.setattr(chroma_store, "READ_PAGE", 2)
    decisions = [make(i) for i in range(7)]
    embedded.save([(d, [1.0, float(i)]) for i, d in enumerate(decisions)])

    assert embedded.count() == 7
    assert embedded.record_versions() == {d.id: 1 for d in decisions}
    assert set(embedded.index_versions()) == {d.id for d in decisions}
    assert {d.id for d in embedded.scan(DecisionFilter(tags=("even",)))} == {make(i).id for i in (0, 2, 4, 6)}
    assert [d.id for d in embedded.list(DecisionFilter(), 3)] == [make(i).id for i in (6, 5, 4)]
    assert embedded.ids_with_prefix("p000000", 10) == [make(i).id for i in range(7)]  # across pages


# --- failures ------------------------------------------------------------------------------------


def test_an_index_deleted_underneath_is_reported_then_recreated(
    embedded: ChromaStore, tmp_path: Path
) -> None:
    embedded.save([(make(1), [1.0, 0.0])])
    client = raw_client(tmp_path / "chroma")
    try:
        client.delete_collection("cstp-space-a")
    finally:
        client.close()
    with pytest.raises(StoreUnavailable, match="Chroma search failed"):
        embedded.search([1.0, 0.0], DecisionFilter(), 1)
    assert embedded.search([1.0, 0.0], DecisionFilter(), 1) == []  # reopened, empty index
    assert embedded.get(make(1).id) == make(1)


class _Recorder(BaseHTTPRequestHandler):
    """Answers the heartbeat like Chroma and everything else with a 500; records headers."""

    seen: list[tuple[str, str | None]] = []

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self.seen.append((self.path, self.headers.get("Authorization")))
        ok = self.path == "/api/v2/heartbeat"
        body = json.dumps({"nanosecond heartbeat": 1} if ok else {"error": "boom"}).encode()
        self.send_response(200 if ok else 500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_the_token_is_sent_as_bearer_and_never_reported() -> None:
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    token = "s3cret-chroma-token"
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        store = ChromaStore.server(url, prefix="cstp", space="s", token=token, timeout=5.0)
        with pytest.raises(StoreUnavailable) as info:
            store.ping()
        store.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert token not in str(info.value)
    assert len(_Recorder.seen) >= 2  # our probe, then chromadb's own first call
    assert all(auth == f"Bearer {token}" for _, auth in _Recorder.seen)


def test_a_silent_server_times_out() -> None:
    # A listening socket that never answers: the TCP handshake succeeds, no HTTP reply comes.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        store = ChromaStore.server(url, prefix="cstp", space="s", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="timed out"):
            store.ping()
        assert time.monotonic() - started < 5
        store.close()


def test_search_sees_a_newer_revision_written_by_another_store(tmp_path: Path) -> None:
    # Two stores on one data directory stand for two server processes: the first one's cache of
    # decoded decisions must not hide the second one's update (the index row's rev decides).
    first = ChromaStore.embedded(tmp_path / "chroma", prefix="cstp", space="s2")
    second = ChromaStore.embedded(tmp_path / "chroma", prefix="cstp", space="s2")
    try:
        d = make(1)
        first.save([(d, [1.0, 0.0])])
        assert first.search([1.0, 0.0], DecisionFilter(), 1)[0].decision.decision == d.decision
        updated = dataclasses.replace(d, decision="changed", rev=2)
        second.save([(updated, [1.0, 0.0])])
        hit = first.search([1.0, 0.0], DecisionFilter(), 1)[0].decision
        assert (hit.decision, hit.rev) == ("changed", 2)
    finally:
        first.close()
        second.close()


def test_recent_decisions_cache_is_bounded_and_rev_checked() -> None:
    from cstp.adapters.chroma.recent import RecentDecisions

    cache = RecentDecisions(2)
    a, b, c = make(1), make(2), make(3)
    for d in (a, b, c):
        cache.put(d)
    assert set(cache.get_many([(a.id, 1), (b.id, 1), (c.id, 1)])) == {b.id, c.id}
    assert cache.get_many([(b.id, 2)]) == {}


def count_gets(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The ids of every Chroma `Collection.get` from now on, one list per call."""
    from chromadb.api.models.Collection import Collection

    gets: list[list[str]] = []
    real_get = Collection.get

    def counting_get(self: Collection, *args: Any, **kwargs: Any) -> Any:
        gets.append(list(kwargs.get("ids") or []))
        return real_get(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "get", counting_get)
    return gets


def test_records_known_at_a_cached_rev_are_not_read_again(
    embedded: ChromaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A listing's page is mostly what this process just wrote: held decoded at the rev the
    # catalogue knows, it needs no Chroma read; any other rev (another process's write) is read.
    mine, older = make(1), make(2)
    embedded.insert([(mine, None), (older, None)])
    gets = count_gets(monkeypatch)
    assert embedded.get_many([mine.id], {mine.id: mine.rev}) == {mine.id: mine}
    assert gets == []
    found = embedded.get_many([mine.id, older.id], {mine.id: mine.rev + 1, older.id: older.rev})
    assert found == {mine.id: mine, older.id: older}
    assert gets == [[mine.id]]  # the rev the caller knows is not the one held: read


def test_records_read_are_kept_for_the_next_reader_at_their_rev(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process's write (here: a second store on the same directory) is read once, by the
    # keyword index following the change feed; a list-mode page then needs no second read.
    mine = ChromaStore.embedded(tmp_path / "chroma", prefix="cstp", space="s3")
    theirs = ChromaStore.embedded(tmp_path / "chroma", prefix="cstp", space="s3")
    try:
        written = make(3)
        theirs.insert([(written, None)])
        gets = count_gets(monkeypatch)
        assert mine.get_many([written.id]) == {written.id: written}
        assert gets == [[written.id]]  # not this process's write: read
        assert mine.get_many([written.id], {written.id: written.rev}) == {written.id: written}
        assert gets == [[written.id]]  # kept at its rev: not read again
    finally:
        mine.close()
        theirs.close()


def test_insert_writes_without_reading_and_save_still_reads(
    embedded: ChromaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under a write stream the read before each upsert was half of a record's Chroma calls; a
    # new id has nothing to replace, so `insert` must not make it. `save` still must (it deletes
    # the metadata keys an update dropped).
    from chromadb.api.models.Collection import Collection

    embedded.count()  # open the collections first
    calls: list[str] = []
    real_get, real_upsert = Collection.get, Collection.upsert

    def get(self: Collection, *args: Any, **kwargs: Any) -> Any:
        calls.append("get")
        return real_get(self, *args, **kwargs)

    def upsert(self: Collection, *args: Any, **kwargs: Any) -> Any:
        calls.append("upsert")
        return real_upsert(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "get", get)
    monkeypatch.setattr(Collection, "upsert", upsert)
    embedded.insert([(make(1), [1.0, 0.0]), (make(2), [0.0, 1.0])])
    assert calls == ["upsert", "upsert"]  # records, then the index
    calls.clear()
    embedded.save([(dataclasses.replace(make(1), tags=()), [1.0, 0.0])])
    assert calls == ["get", "upsert", "get", "upsert"]
    monkeypatch.undo()
    assert embedded.get("p0000001") == dataclasses.replace(make(1), tags=())
    assert [d.id for d in embedded.list(DecisionFilter(tags=("odd",)), 10)] == []
    assert embedded.get("p0000002") == make(2)
