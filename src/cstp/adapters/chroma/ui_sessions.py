"""The dashboard's sessions in Chroma: the `<prefix>-ui-sessions` collection.

Every server process on one Chroma server reads and writes the same sessions, so a browser signed
in through one replica is signed in on all, and signing out (deleting the item) ends the session
everywhere. Items get the tiny hashed `record_vector` of their id (never searched by vector).
Metadata:

    ========== ===== ==========================================================
    key        type  meaning
    ========== ===== ==========================================================
    kind       str   session | secret
    agent      str   the signed-in agent (sessions)
    csrf       str   the session's form token (sessions)
    expires_at float epoch seconds (sessions; 0 for the secret)
    value      str   the signing secret (the one `secret` item, id `ui-secret`)
    ========== ===== ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection as ChromaCollection

from cstp.adapters.chroma.client import SideCollection, pages, rows
from cstp.adapters.chroma.errors import ChromaErrors
from cstp.adapters.chroma.schema import Metadata, Where, record_vector
from cstp.domain.ui_sessions import UiSession

UI_SESSIONS = "ui-sessions"
SECRET_ID = "ui-secret"
READ_PAGE = 2000


class ChromaUiSessions:
    """A `UiSessionStore` on one `ChromaStore`'s client (opened on first use).

    Thread safety: the handle is a `SideCollection` (locked); the rest is stateless.
    """

    def __init__(self, connect: Callable[[], ClientAPI], name: str, errors: ChromaErrors) -> None:
        self._errors = errors
        self._side = SideCollection(connect, name, errors, "dashboard sessions")

    def get(self, key: str) -> UiSession | None:
        collection = self._open()
        with self._errors.call("read a dashboard session"):
            found = collection.get(ids=[key], include=["metadatas"])
        for item_id, meta in rows(found):
            if meta.get("kind") == "session":
                return UiSession(item_id, str(meta["agent"]), str(meta["csrf"]), float(meta["expires_at"]))
        return None

    def put(self, session: UiSession) -> None:
        collection = self._open()
        vectors = np.asarray([record_vector(session.key)], dtype=np.float32)
        meta: Metadata = {
            "kind": "session",
            "agent": session.agent,
            "csrf": session.csrf,
            "expires_at": session.expires_at,
        }
        with self._errors.call("write a dashboard session"):
            collection.upsert(ids=[session.key], embeddings=vectors, metadatas=[meta])

    def delete(self, keys: Sequence[str]) -> None:
        ids = [k for k in keys if k != SECRET_ID]
        if not ids:
            return
        collection = self._open()
        with self._errors.call("delete dashboard sessions"):
            collection.delete(ids=ids)

    def expired(self, now: float) -> list[str]:
        collection = self._open()
        where: Where = {"$and": [{"kind": "session"}, {"expires_at": {"$lte": now}}]}
        found: list[str] = []
        for page in pages(
            self._errors, collection, where, ["metadatas"], READ_PAGE, "read dashboard sessions"
        ):
            found.extend(page["ids"])
        return found

    def secret(self, candidate: str) -> str:
        """Chroma's `add` skips an id that is already stored (upsert would overwrite), so the first
        of several replicas starting at once wins; every one reads the stored value back."""
        collection = self._open()
        vectors = np.asarray([record_vector(SECRET_ID)], dtype=np.float32)
        meta: Metadata = {"kind": "secret", "value": candidate, "expires_at": 0.0}
        with self._errors.call("store the dashboard secret"):
            stored = collection.get(ids=[SECRET_ID], include=["metadatas"])
            if not stored["ids"]:
                collection.add(ids=[SECRET_ID], embeddings=vectors, metadatas=[meta])
                stored = collection.get(ids=[SECRET_ID], include=["metadatas"])
        for _, found in rows(stored):
            return str(found["value"])
        return candidate

    def forget(self) -> None:
        self._side.forget()

    def _open(self) -> ChromaCollection:
        return self._side.open()
