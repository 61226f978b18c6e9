"""listDecisions and getStats again on embedded Chroma: every test of tests/methods/test_browse.py
and tests/methods/test_stats.py.

The filters reach Chroma as a `where` clause through `store.scan(flt)`; the text search, sorting and
paging run on what it returns. The hashing embedder keeps this fast: vectors play no part here.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from cstp.adapters.chroma.store import ChromaStore
from cstp.app import Adapters
from tests.fakes import HashEmbedder
from tests.methods import test_browse, test_stats

for _module in (test_browse, test_stats):
    for _name, _obj in vars(_module).items():
        if _name.startswith("test_") or _name == "browsed":
            globals()[_name] = _obj


@pytest.fixture(scope="module")
def make_adapters(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], Any]:
    """Each app gets its own embedded Chroma directory."""
    counter = itertools.count()

    def make() -> Adapters:
        path = tmp_path_factory.mktemp(f"browse-chroma-{next(counter)}")
        return Adapters(ChromaStore.embedded(path, prefix="cstp", space=HashEmbedder.space), HashEmbedder())

    return make


def test_the_listing_here_runs_on_chroma(browsed: Any) -> None:
    store = browsed.app.state.adapters.store
    assert isinstance(getattr(store, "_inner", store), ChromaStore)
