"""`SharedRevision`: a revision of the store that counts every process's writes, not only ours.

The read models a server process keeps in memory (the keyword index, the workflow digest) are
rebuilt when the store "moved". `DecisionStore.revision()` moves at once after this process's own
writes, but it cannot see the writes of the other processes sharing a Chroma server (workers,
replicas). `SharedRevision.revision()` adds those: the changes the browse catalogue's reads of the
store's change feed brought which this process had not written (`Catalogue.remote_changes`),
caught up within `poll_s` of a call.

So a cache comparing this number sees its own process's writes at once and another process's
within `poll_s` (plus the store's commit of that write). The catalogue is the one reader of the
feed in a process. Before, the shared revision read the feed on its own as well: two reads of the
same look-back window per half second under load, whose decoding took 18 % of the time the
interpreter lock was held in the mixed load, and it counted this process's own writes again
when the feed showed them, so the keyword index took each of them for another process's write
and rebuilt by scanning every record (1.4 s at 2,000 decisions under that load) instead of from
the decisions it holds (docs/PERFORMANCE.md, "Mixed load").

The catalogue's first load reads the whole feed in the background (started with the server), so
no request waits behind it; until it has finished only this process's writes count, and when it
has, the revision moves once (a cache built from a scan before it is rebuilt, in case another
process wrote between that scan and the load). The number never goes backwards.

Thread safety: no state of its own; the catalogue and the store are thread-safe.
"""

from __future__ import annotations

from typing import Protocol

from cstp.domain.ports import DecisionStore

POLL_S = 1.0


class RemoteChanges(Protocol):
    """What follows the change feed for this process (the browse catalogue)."""

    def remote_changes(self, max_lag_s: float) -> int: ...


class SharedRevision:
    def __init__(self, store: DecisionStore, feed: RemoteChanges, *, poll_s: float = POLL_S) -> None:
        self._store = store
        self._feed = feed
        self._poll_s = poll_s

    def revision(self) -> int:
        """Grows after every write through this process's store (at once) and after every write
        another process made, once the feed has brought it (within `poll_s` of a call)."""
        return self._store.revision() + self._feed.remote_changes(self._poll_s)
