"""The wire tests of tests/web and tests/methods again, on embedded Chroma and the ONNX model.

Those tests run on the memory store and a hashing embedder (fast, no model); here every one of them
runs once more on the adapters the settings choose, so nothing they check is only checked on a fake.
Semantic quality, which a hashing embedder cannot have, is tested only here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.methods import (
    test_ambiguous_ids,
    test_analytics,
    test_breakers_methods,
    test_calibration,
    test_capture,
    test_compaction,
    test_graph,
    test_guardrails_methods,
    test_query,
    test_reason_stats,
    test_record_get_review,
    test_transfer_methods,
    test_update_decision,
    test_workflow,
    test_write_admission,
)
from tests.methods.test_query import ids, q
from tests.rpc import test_unknown_params
from tests.ui import test_pages as test_ui_pages
from tests.web import test_bad_input, test_http_surface, test_mcp_http

_FIXTURES = {
    "seeded",
    "reviewed",
    "guarded",
    "aged",
    "learnt",
    "seed",
    "prs",
    "add",
    "chain",
    "breaker_client",
    "two",
    "track_record",
    "live",
    "mcp_seeded",
    "admin",
    "ui",
    "gated",
}
for _module in (
    test_http_surface,
    test_mcp_http,
    test_calibration,
    test_compaction,
    test_graph,
    test_guardrails_methods,
    test_query,
    test_record_get_review,
    test_ambiguous_ids,
    test_analytics,
    test_reason_stats,
    test_update_decision,
    test_breakers_methods,
    test_capture,
    test_workflow,
    test_transfer_methods,
    test_bad_input,
    test_unknown_params,
    test_ui_pages,
    test_write_admission,
):
    for _name, _obj in vars(_module).items():
        if _name.startswith("test_") or _name in _FIXTURES:
            globals()[_name] = _obj


@pytest.fixture(scope="module")
def make_adapters() -> Callable[[], Any]:
    """None: `create_app` builds the adapters from the settings (embedded Chroma, local ONNX)."""
    return lambda: None


def test_paraphrase_is_found_semantically_without_shared_words(seeded: Any) -> None:
    reply = q(seeded, query="which relational store keeps invoicing records", limit=1)
    assert ids(reply) == ["a0000001"]
    assert reply["result"]["retrievalMode"] == "semantic"
