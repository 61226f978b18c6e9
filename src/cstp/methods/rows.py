"""Wire pieces every decision-returning method shares (listDecisions rows, queryDecisions rows,
getDecision's record): the keys the reference's dashboard reads beyond the raw record.

The dashboard (`dashboard/models.py` `Decision.from_dict`) shows a project card only from a nested
`project_context{project,feature,pr,file,line,commit}`, which no server sent; it is built here from
the decision's own fields, so there is one definition of that shape.
"""

from __future__ import annotations

from typing import Any

from cstp.domain.records import Decision
from cstp.methods.wire import Result


class ProjectContextOut(Result):
    project: str | None
    feature: str | None
    pr: int | None
    file: str | None
    line: int | None
    commit: str | None


def project_context(d: Decision) -> ProjectContextOut | None:
    """The nested project fields (unset ones null), or None when the decision names none of them."""
    values = {
        "project": d.project,
        "feature": d.feature,
        "pr": d.pr,
        "file": d.file,
        "line": d.line,
        "commit": d.commit,
    }
    if all(v is None for v in values.values()):
        return None
    return ProjectContextOut(**values)


def project_context_dict(d: Decision) -> dict[str, Any] | None:
    """`project_context` as a plain dict, for the raw record getDecision returns."""
    pc = project_context(d)
    return None if pc is None else pc.model_dump(by_alias=True, exclude_unset=True)


def bridge_of(d: Decision) -> dict[str, Any] | None:
    """The decision's bridge definition as recorded, when it has a structure or a function."""
    bridge = d.details.get("bridge")
    if isinstance(bridge, dict) and (bridge.get("structure") or bridge.get("function")):
        return bridge
    return None
