"""How commands print: rich tables and panels for people, plain JSON for `--json` scripts.

Results go to stdout; progress bars, errors and reports go to stderr, so `cstp --json ... | jq`
and `cstp export > file` stay clean.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

out = Console(highlight=False, soft_wrap=True)
KEY_WIDTH = 40
# Messages are not wrapped: a path or URL in one stays whole for copying (and for grep).
err = Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    t = Table(title=title, show_lines=False, header_style="bold")
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    # The first column is the key (an id): not broken across lines, so it can be copied, unless it
    # is too long to leave room for the others (a file path in an import report).
    short_keys = all(len(row[0]) <= KEY_WIDTH for row in cells if row)
    for n, column in enumerate(columns):
        t.add_column(column, overflow="fold", no_wrap=n == 0 and short_keys)
    for row in cells:
        t.add_row(*row)
    out.print(t)


def fields(pairs: Iterable[tuple[str, Any]]) -> None:
    """`key: value` lines, leaving out empty values."""
    for key, value in pairs:
        if value is None or value == "" or value == [] or value == {}:
            continue
        if isinstance(value, dict | list):
            value = json.dumps(value, ensure_ascii=False)
        out.print(f"[bold]{escape(key)}[/bold]: {escape(value)}")


def escape(text: Any) -> str:
    from rich.markup import escape as _escape

    return _escape(str(text))
