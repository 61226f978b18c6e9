"""Opening ChromaDB clients for `ChromaStore`: embedded or HTTP, and chromadb 1.5.9's quirks.

- Every collection is created with `ExplicitVectorsOnly`, an embedding function that refuses to
  embed: Chroma's default one downloads a model, and `embedding_function=None` does not stop it.
- chromadb's HTTP client has no timeout and talks to the server in its constructor, so
  `open_http` probes the heartbeat with a bounded timeout first and then sets one on the client.
- chromadb never closes its HTTP sessions; `close_client` does.
- Chroma's upsert merges metadata; `upsert_replacing` replaces it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import chromadb
import httpx
import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.api.types import Embeddable, EmbeddingFunction, Embeddings, GetResult, Include
from chromadb.config import Settings as ChromaSettings
from chromadb.utils.embedding_functions import register_embedding_function

from cstp.adapters.chroma.errors import ChromaErrors
from cstp.adapters.chroma.schema import Metadata, MetadataValue, Where
from cstp.domain.errors import ConfigError

# Collection names: 3-512 characters from [a-zA-Z0-9._-], starting and ending alphanumeric.
_COLLECTION_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]")


class ExplicitVectorsOnly(EmbeddingFunction[Embeddable]):
    """The embedding function our collections are created with; it refuses to embed anything.

    Chroma attaches an embedding function to every collection, and its default one downloads a
    model on first use (and `embedding_function=None` does not disable it). We always pass vectors
    explicitly, so this one is never called; if Chroma ever did call it, raising is better than
    silently embedding with a model nobody chose.
    """

    def __init__(self) -> None:
        """Nothing to configure (Chroma warns when `__init__` is not defined)."""

    def __call__(self, input: Embeddable) -> Embeddings:  # noqa: A002 - Chroma's signature
        """Refuse: cstp always supplies vectors itself."""
        raise RuntimeError("cstp passes embeddings explicitly; Chroma must not embed documents")

    @staticmethod
    def name() -> str:
        """Name persisted in the collection configuration and looked up when it is reopened."""
        return "cstp-explicit-vectors"

    def get_config(self) -> dict[str, Any]:
        """No configuration: the function has no state."""
        return {}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ExplicitVectorsOnly:
        """Rebuild from a persisted configuration (when Chroma reopens a collection)."""
        return ExplicitVectorsOnly()


def explicit_vectors_only() -> ExplicitVectorsOnly:
    """The embedding function to create collections with, registered under its name.

    Chroma looks the function up by name when it reopens a collection; registering is idempotent.
    """
    register_embedding_function(ExplicitVectorsOnly)  # type: ignore[no-untyped-call]
    return ExplicitVectorsOnly()


def collection_name(prefix: str, suffix: str) -> str:
    """`<prefix>-<suffix>`, checked against Chroma's naming rules. Raises ConfigError."""
    name = f"{prefix}-{suffix}"
    if not _COLLECTION_NAME.fullmatch(name):
        raise ConfigError(
            f"invalid Chroma collection name {name!r}: use 3-512 characters from [a-zA-Z0-9._-], "
            "starting and ending with a letter or digit (check CHROMA_COLLECTION_PREFIX)"
        )
    return name


@dataclass(frozen=True)
class ServerAddress:
    """Where a Chroma server listens, parsed from CHROMA_URL."""

    host: str
    port: int
    ssl: bool

    @property
    def base(self) -> str:
        """`scheme://host:port`, for messages and the heartbeat probe."""
        return f"{'https' if self.ssl else 'http'}://{self.host}:{self.port}"


def parse_server_url(url: str) -> ServerAddress:
    """The address in `http(s)://host[:port]` (port 8000, or 443 for https). Raises ConfigError."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"CHROMA_URL must look like http://host:8000, got {url!r}")
    if parts.username or parts.password:
        raise ConfigError("CHROMA_URL must not contain credentials; set CHROMA_TOKEN instead")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError("CHROMA_URL must not have a path, query or fragment")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 8000)
    except ValueError:
        raise ConfigError(f"CHROMA_URL has an invalid port: {url!r}") from None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return ServerAddress(host, port, parts.scheme == "https")


def open_persistent(path: Path) -> ClientAPI:
    """An embedded client on directory `path` (created if missing), telemetry off."""
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(
        path=str(path), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    )


def open_http(
    address: ServerAddress, *, token: str | None, tenant: str, database: str, timeout: float
) -> ClientAPI:
    """An HTTP client for `address`, every request bounded by `timeout` seconds.

    `token` is sent as `Authorization: Bearer <token>` (for a proxy or a server with auth).
    Raises httpx errors if the heartbeat probe fails; the caller translates them.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    # chromadb's HTTP client has no timeout (httpx timeout=None) and calls the server in its
    # constructor: probe with a bounded timeout first so a hung server fails fast.
    httpx.get(f"{address.base}/api/v2/heartbeat", headers=headers, timeout=timeout).raise_for_status()
    client = chromadb.HttpClient(
        host=address.host,
        port=address.port,
        ssl=address.ssl,
        headers=headers,
        tenant=tenant,
        database=database,
        settings=ChromaSettings(anonymized_telemetry=False),
    )
    for session in _http_sessions(client):
        session.timeout = httpx.Timeout(timeout)
    return client


def close_client(client: ClientAPI) -> None:
    """Release the client and its HTTP sessions; never raises (it runs during shutdown)."""
    sessions = _http_sessions(client)
    close = getattr(client, "close", None)  # on Client, not on the ClientAPI protocol
    try:
        if callable(close):
            close()
        for session in sessions:
            session.close()
    except Exception:  # noqa: BLE001 - closing must not fail shutdown
        pass


def _http_sessions(client: ClientAPI) -> list[httpx.Client]:
    """The httpx sessions inside chromadb's HTTP client (none for an embedded client).

    NOTE(ports): reaches into chromadb's private `_server._session` (and that of the internal
    `_admin_client`, which has its own) because chromadb 1.5.9 creates them without a timeout and
    never closes them: their sockets leak, with a ResourceWarning, after `client.close()`. If a
    future chromadb renames them this returns fewer sessions; the heartbeat probe still bounds
    connecting, and nothing else breaks.
    """
    sessions = []
    for owner in (client, getattr(client, "_admin_client", None)):
        session = getattr(getattr(owner, "_server", None), "_session", None)
        if isinstance(session, httpx.Client):
            sessions.append(session)
    return sessions


def upsert_replacing(
    errors: ChromaErrors,
    collection: Collection,
    ids: list[str],
    embeddings: np.ndarray[Any, np.dtype[np.float32]],
    metadatas: list[Metadata],
    action: str,
) -> None:
    """Upsert that replaces metadata instead of merging it.

    Chroma's upsert merges new metadata keys into the old ones, so a tag or project removed by
    an update would survive. Keys the stored entry has but the new metadata lacks are sent as
    None, which Chroma treats as "delete this key".
    """
    with errors.call(action):
        existing = collection.get(ids=ids, include=["metadatas"])
    old = {i: set(m) for i, m in rows(existing)}
    payload: list[dict[str, MetadataValue | None]] = []
    for decision_id, meta in zip(ids, metadatas, strict=True):
        row: dict[str, MetadataValue | None] = dict(meta)
        row.update(dict.fromkeys(old.get(decision_id, set()) - set(meta)))
        payload.append(row)
    with errors.call(action):
        collection.upsert(ids=ids, embeddings=embeddings, metadatas=payload)  # type: ignore[arg-type]


def upsert_merging(
    errors: ChromaErrors,
    collection: Collection,
    ids: list[str],
    embeddings: np.ndarray[Any, np.dtype[np.float32]],
    metadatas: list[Metadata],
    action: str,
) -> None:
    """Chroma's own upsert (new metadata merged into any old): for ids known to be new, where
    there is nothing to merge and `upsert_replacing`'s read would find nothing."""
    with errors.call(action):
        collection.upsert(ids=ids, embeddings=embeddings, metadatas=list(metadatas))


def pages(
    errors: ChromaErrors,
    collection: Collection,
    where: Where | None,
    include: Include,
    page_size: int,
    action: str = "read",
) -> Iterator[GetResult]:
    """`collection.get` in pages of `page_size`, until a short page, so one response never holds
    a whole collection (offset paging: Chroma has no cursor)."""
    offset = 0
    while True:
        with errors.call(action):
            page = collection.get(where=where, include=include, limit=page_size, offset=offset)
        yield page
        if len(page["ids"]) < page_size:
            return
        offset += page_size


def rows(result: GetResult) -> Iterator[tuple[str, dict[str, Any]]]:
    """(id, metadata) pairs of a get result."""
    metadatas = result["metadatas"] or []
    for decision_id, meta in zip(result["ids"], metadatas, strict=True):
        yield decision_id, dict(meta)


class SideCollection:
    """A lazily opened handle on one extra collection of a store's database (edges, breaker events,
    tracker rows), on the store's own client: reopened after `forget` or when the store reconnected.

    Thread safety: an RLock guards the handle (reentrant: a NotFound inside `open` calls back into
    `forget` through the store's error translation); Chroma's clients are thread-safe.
    """

    def __init__(self, connect: Callable[[], ClientAPI], name: str, errors: ChromaErrors, what: str) -> None:
        self._connect = connect
        self._name = name
        self._errors = errors
        self._what = what  # for the error text: "open the <what>"
        self._lock = threading.RLock()
        self._client: ClientAPI | None = None
        self._collection: Collection | None = None

    def open(self) -> Collection:
        client = self._connect()
        with self._lock:
            if self._collection is None or self._client is not client:
                with self._errors.call(f"open the {self._what}"):
                    self._collection = client.get_or_create_collection(
                        self._name, embedding_function=explicit_vectors_only()
                    )
                self._client = client
            return self._collection

    def forget(self) -> None:
        """Drop the handle (the collection was deleted, or the store closed); reopened on use."""
        with self._lock:
            self._client = self._collection = None
