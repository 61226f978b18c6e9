"""Guardrails: the loaded rules with their conditions (`cstp.listGuardrails`), the file each
came from (by name: the server's directories are not the reader's business), the last reload,
and a "try an action" form (`cstp.checkGuardrails`)."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any, get_args

import anyio.to_thread
from starlette.responses import Response

from cstp.domain.records import Category, Stakes
from cstp.web.ui.view import Reply, View, page


def _status(raw: Any) -> dict[str, Any]:
    """Reload status with file names only: the server's directories are not the reader's business."""
    files = [PurePath(str(f)).name for f in raw.get("files", [])]
    last_error = raw.get("last_error")
    error = None
    if isinstance(last_error, dict):
        error = {
            "code": last_error.get("code"),
            "rule_id": last_error.get("rule_id"),
            "file": PurePath(str(last_error["file"])).name if last_error.get("file") else None,
            "at": last_error.get("at"),
        }
    return {
        "loaded": raw.get("loaded", 0),
        "files": files,
        "last_reload": raw.get("last_reload"),
        "error": error,
    }


async def _render(view: View, check: Reply | None, status: int = 200) -> Response:
    rules = await view.call("cstp.listGuardrails", {})
    raw = await anyio.to_thread.run_sync(view.state.guardrail_status)
    files = {rule: PurePath(path).name for rule, path in view.state.guardrail_files().items() if path}
    return view.render(
        "guardrails.html",
        status,
        nav="guardrails",
        rules=rules,
        rule_files=files,
        status_info=_status(raw),
        check=check,
        categories=get_args(Category),
        stakes=get_args(Stakes),
        form=view.form,
    )


@page
async def guardrails(view: View) -> Response:
    return await _render(view, None)


@page
async def try_action(view: View) -> Response:
    action: dict[str, Any] = {"description": view.arg("description")}
    if view.arg("category"):
        action["category"] = view.arg("category")
    if view.arg("stakes"):
        action["stakes"] = view.arg("stakes")
    confidence = view.arg("confidence")
    if confidence:
        try:
            action["confidence"] = float(confidence)
        except ValueError:
            action["confidence"] = confidence  # the method names the field in its error
    check = await view.call("cstp.checkGuardrails", {"action": action})
    return await _render(view, check, 200 if check.ok else 400)
