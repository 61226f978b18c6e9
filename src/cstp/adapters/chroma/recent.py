"""A small cache of decoded decisions for the Chroma store's search results."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from cstp.domain.records import Decision


class RecentDecisions:
    """A bounded LRU of decoded decisions, keyed by id and valid only for the same `rev`.

    The index holds filter metadata only (a large value per row slows Chroma's filters), so a
    search result needs each hit's record. The index row carries `rev`, so a cached decision with
    that rev is exactly the stored record and saves a second Chroma call; any other rev (a newer
    write, possibly by another process) misses and is read from the records collection.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._items: OrderedDict[str, Decision] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, decision: Decision) -> Decision:
        with self._lock:
            self._items[decision.id] = decision
            self._items.move_to_end(decision.id)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return decision

    def get_many(self, wanted: Iterable[tuple[str, int]]) -> dict[str, Decision]:
        """The cached decisions among `(id, rev)` pairs whose rev matches."""
        out: dict[str, Decision] = {}
        with self._lock:
            for decision_id, rev in wanted:
                d = self._items.get(decision_id)
                if d is not None and d.rev == rev:
                    self._items.move_to_end(decision_id)
                    out[decision_id] = d
        return out
