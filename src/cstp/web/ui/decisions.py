"""Decisions: the list (`cstp.listDecisions`: full-text search, every filter, sort, pages) and
the semantic mode (`cstp.queryDecisions`, with each match's distance)."""

from __future__ import annotations

from typing import Any, get_args
from urllib.parse import urlencode

from starlette.responses import Response

from cstp.domain.records import Category, Stakes, Status
from cstp.web.ui.view import View, page

PAGE_SIZE = 25
SEMANTIC_LIMIT = 50
FILTERS = ("category", "stakes", "status", "agent", "project", "tag", "date_from", "date_to")
SORTS = ("created_at", "confidence", "category", "stakes", "status")
CATEGORIES = get_args(Category)
STAKES = get_args(Stakes)
STATUSES = get_args(Status)


def _page_number(raw: str) -> int:
    return max(1, min(int(raw), 100_000)) if raw.isdigit() else 1


def list_params(args: dict[str, str], offset: int) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": PAGE_SIZE, "offset": offset}
    for name, key in (
        ("category", "category"),
        ("stakes", "stakes"),
        ("status", "status"),
        ("agent", "agent"),
        ("project", "project"),
        ("date_from", "dateFrom"),
        ("date_to", "dateTo"),
    ):
        if args.get(name):
            params[key] = args[name]
    if args.get("tag"):
        params["tags"] = [args["tag"]]
    if args.get("q"):
        params["search"] = args["q"]
    params["sort"] = args.get("sort") or "created_at"
    params["order"] = args.get("order") or "desc"
    return params


def query_params(args: dict[str, str]) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    if args.get("category"):
        filters["category"] = args["category"]
    if args.get("stakes"):
        filters["stakes"] = [args["stakes"]]
    if args.get("status"):
        filters["status"] = [args["status"]]
    if args.get("project"):
        filters["project"] = args["project"]
    if args.get("tag"):
        filters["tags"] = [args["tag"]]
    if args.get("date_from"):
        filters["dateAfter"] = args["date_from"]
    if args.get("date_to"):
        filters["dateBefore"] = args["date_to"]
    return {
        "query": args.get("q", ""),
        "limit": SEMANTIC_LIMIT,
        "retrievalMode": "semantic",
        "filters": filters,
    }


@page
async def decisions(view: View) -> Response:
    args = {name: view.arg(name) for name in ("q", "mode", "sort", "order", *FILTERS)}
    number = _page_number(view.arg("page"))
    semantic = args["mode"] == "semantic" and bool(args["q"])
    if semantic:
        reply = await view.call("cstp.queryDecisions", query_params(args))
    else:
        reply = await view.call("cstp.listDecisions", list_params(args, (number - 1) * PAGE_SIZE))
    kept = {k: v for k, v in args.items() if v}
    total = int(reply.result.get("total", 0)) if reply.ok else 0

    def link(**changes: Any) -> str:
        merged = {**kept, **{k: str(v) for k, v in changes.items() if v not in (None, "")}}
        for k, v in changes.items():
            if v in (None, ""):
                merged.pop(k, None)
        return "/ui/decisions?" + urlencode(merged)

    def sort_link(key: str) -> str:
        flip = "asc" if args["sort"] == key and args["order"] != "asc" else "desc"
        return link(sort=key, order=flip, page=None)

    pages = max(1, -(-total // PAGE_SIZE))
    return view.render(
        "decisions.html",
        nav="decisions",
        args=args,
        reply=reply,
        semantic=semantic,
        number=number,
        pages=pages,
        total=total,
        prev_link=link(page=number - 1) if number > 1 and not semantic else None,
        next_link=link(page=number + 1) if number < pages and not semantic else None,
        sort_link=sort_link,
        categories=CATEGORIES,
        stakes=STAKES,
        statuses=STATUSES,
        sorts=SORTS,
    )
