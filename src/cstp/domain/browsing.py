"""Which implementation answers a listing or a statistics call.

The catalogue (`domain.catalogue`) answers from memory once it has loaded; until then (a large
store takes seconds to load at startup, or the store was down), and for filters it does not keep
(confidence bounds, feature, pr: not sent by these methods' params), `domain.browse` answers from a
scan of the store. Both give the same answers; only the cost differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from cstp.domain import browse
from cstp.domain.calibration import Scores
from cstp.domain.catalogue import Catalogue
from cstp.domain.filters import DecisionFilter
from cstp.domain.ports import DecisionStore
from cstp.domain.records import Decision


class BrowseService:
    """Thread safety: stateless beyond the catalogue, which has its own lock."""

    def __init__(
        self,
        store: DecisionStore,
        catalogue: Catalogue,
        scan: Callable[[DecisionFilter], Iterable[Decision]] | None = None,
    ) -> None:
        self._store = store
        self._catalogue = catalogue
        self._scan = scan or store.scan

    @property
    def catalogue_state(self) -> str:
        return self._catalogue.state

    def start_loading(self) -> None:
        """Load the catalogue in the background (at startup, so the first listing is fast)."""
        self._catalogue.start_loading()

    def list(self, query: browse.ListQuery) -> browse.Page:
        if Catalogue.answers(query.filter):
            found = self._from_catalogue(query)
            if found is not None:
                return found
        return browse.list_decisions(self._scan, query)

    def newest(self, flt: DecisionFilter, limit: int) -> Sequence[Decision] | None:
        """The `limit` newest decisions matching `flt` (equal dates by ascending id, the order of
        `DecisionStore.list`) from the catalogue; None when it cannot answer (not loaded, or a
        filter it does not keep): the caller lists through the store then."""
        if limit <= 0 or not Catalogue.answers(flt):
            return None
        page = self._from_catalogue(browse.ListQuery(filter=flt, limit=limit))
        return None if page is None else page.decisions

    def stats(self, flt: DecisionFilter, now: datetime) -> browse.Stats:
        if Catalogue.answers(flt):
            self._catalogue.start_loading()
            found = self._catalogue.stats(flt, now)
            if found is not None:
                return found
        return browse.stats(self._scan, flt, now)

    def scores(self, flt: DecisionFilter) -> Scores | None:
        """Calibration's inputs from the catalogue, or None (not loaded yet, or `flt` uses a field
        it does not keep): the caller then scans. `flt.has_outcome` is ignored (see Catalogue)."""
        if not Catalogue.answers(flt):
            return None
        self._catalogue.start_loading()
        return self._catalogue.scores(flt)

    def _from_catalogue(self, query: browse.ListQuery) -> browse.Page | None:
        self._catalogue.start_loading()
        page = self._catalogue.page(query)
        if page is None:
            return None
        ids, total = page
        # Each record at the rev the catalogue knows (see DecisionStore.get_many): this process's
        # writes are in the catalogue at once, other processes' within its lag.
        found = self._store.get_many(ids, self._catalogue.revs(ids))
        return browse.Page([found[i] for i in ids if i in found], total)
