"""`cstp export` requests the next page while it writes the current one: every decision is still
written exactly once, in the server's page order, whether the last page is full, short or empty."""

from __future__ import annotations

import json

from tests.console.seed import seed


def test_pages_requested_ahead_write_each_decision_once_in_order(serve, cli, tmp_path):
    source = serve("source")
    ids = seed(source, copies=1)
    reference = tmp_path / "one-page.jsonl"
    assert cli(source, "export", "--out", str(reference), "--page-size", "5000").exit_code == 0
    order = [json.loads(x)["decision"]["id"] for x in reference.read_text(encoding="utf-8").splitlines()]
    assert sorted(order) == sorted(ids)
    # Page sizes whose last page is full (the page requested past the end comes back empty),
    # short, or a single line.
    sizes = {len(ids), len(ids) // 2 if len(ids) % 2 == 0 else len(ids) - 1, 1, max(1, len(ids) - 1)}
    for size in sorted(sizes):
        result = cli(source, "export", "--page-size", str(size))
        assert result.exit_code == 0, result.stderr
        assert [json.loads(x)["decision"]["id"] for x in result.stdout.splitlines()] == order, size
