"""Templates: Jinja2 with autoescape on for every template, loaded from the package.

Every value a method returned (a decision's text, a reason, a tag) is escaped when rendered, so a
decision that contains HTML shows as text. Templates never mark method data `safe`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import ChainableUndefined, Environment, FileSystemLoader, select_autoescape

from cstp.web.ui import charts

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def _pct(value: Any) -> str:
    try:
        return f"{float(value) * 100:.0f}%"
    except (TypeError, ValueError):
        return "–"


def _num(value: Any, digits: int = 3) -> str:
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return "–"


def _when(value: Any) -> str:
    """An ISO timestamp as `YYYY-MM-DD HH:MM` (UTC as stored)."""
    text = str(value or "")
    return text[:16].replace("T", " ") if len(text) >= 16 else text


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(pct=_pct, num=_num, when=_when)
    env.globals.update(
        chart_width=charts.WIDTH, chart_height=charts.HEIGHT, chart_pad=charts.PAD, plot_h=charts.PLOT_H
    )
    return env


ENV = environment()


def render(name: str, **context: Any) -> str:
    return ENV.get_template(name).render(**context)
