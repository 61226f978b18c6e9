"""cstp.importDecisions and cstp.exportDecisions: moving decisions in and out in bulk (admin only).

Both are operator methods: only agents listed in CSTP_ADMIN_AGENTS may call them (a server on its
generated token treats its one agent as the operator). Import bodies may exceed the usual request
limit up to CSTP_IMPORT_MAX_BODY_BYTES (see `web.rpc_endpoint`). The rules live in
`domain.transfer`; this module is the wire shape.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from cstp.domain.errors import EmbedderUnavailable, InvalidInput, NotAllowed, StoreUnavailable
from cstp.domain.filters import DecisionFilter
from cstp.domain.transfer import FORMAT, VERSION
from cstp.methods.context import CallContext
from cstp.methods.query import Filters, QueryParams
from cstp.methods.wire import Int, Params, Result
from cstp.rpc.table import MethodSpec
from cstp.rpc.values import RawJson

IMPORT_MAX = 5000  # records per call: one embedding batch and one store write
EXPORT_MAX = 5000


def require_admin(ctx: CallContext, method: str) -> None:
    """Raise NotAllowed unless the caller is one of the operator's agents."""
    if not ctx.admin:
        raise NotAllowed(
            f"{method} is open only to admin agents (CSTP_ADMIN_AGENTS); agent {ctx.agent!r} is not one",
            reason="not_admin",
        )


def _transfer(ctx: CallContext) -> Any:
    if ctx.services.transfer is None:  # pragma: no cover - the composition root always builds it
        raise InvalidInput("this server has no transfer service")
    return ctx.services.transfer


class ImportParams(Params):
    decisions: list[Any] = Field(max_length=IMPORT_MAX)
    replace: bool = False


class SkippedOut(Result):
    index: int
    id: str | None
    reason: str


class ImportResult(Result):
    imported: int
    replaced: int
    unchanged: int
    skipped: list[SkippedOut]
    edges: int


def import_decisions(p: ImportParams, ctx: CallContext) -> ImportResult:
    require_admin(ctx, "cstp.importDecisions")
    report = _transfer(ctx).import_lines(p.decisions, replace=p.replace)
    return ImportResult(
        imported=len(report.imported),
        replaced=len(report.replaced),
        unchanged=len(report.unchanged),
        skipped=[SkippedOut(index=s.index, id=s.id, reason=s.reason) for s in report.skipped],
        edges=report.edges,
    )


class ExportParams(Params):
    offset: Int = Field(default=0, ge=0)
    limit: Int = Field(default=1000, ge=1, le=EXPORT_MAX)
    filters: Filters = Field(default_factory=Filters)


class ExportResult(Result):
    """One page. `lines` holds each transfer line's JSON text (`domain.transfer.line_text`); the
    reply carries every line as the JSON object it encodes (`model_dump`), so the records go from
    the store to the client without being parsed or encoded again."""

    format: str
    version: int
    lines: list[str]
    next_offset: int | None = Field(serialization_alias="nextOffset")
    total: int | None = None  # stored decisions, on the first page of an unfiltered export

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        """The other results' dump, with `lines` as `RawJson` (objects on the wire, not strings)."""
        out: dict[str, Any] = super().model_dump(**kwargs)
        out["lines"] = [RawJson(text) for text in self.lines]
        return out


def export_decisions(p: ExportParams, ctx: CallContext) -> ExportResult:
    require_admin(ctx, "cstp.exportDecisions")
    flt = QueryParams(filters=p.filters).to_filter()
    lines = _transfer(ctx).export_page(flt, p.offset, p.limit)
    result = ExportResult(
        format=FORMAT,
        version=VERSION,
        lines=lines,
        next_offset=p.offset + len(lines) if len(lines) == p.limit else None,
    )
    if p.offset == 0 and flt == DecisionFilter():
        result.total = _transfer(ctx).count()
    return result


METHODS: tuple[MethodSpec[Any, Any], ...] = (
    MethodSpec(
        "cstp.importDecisions",
        ImportParams,
        import_decisions,
        result=ImportResult,
        summary="Import decisions in bulk, keeping ids, dates, agents and reviews (admin)",
        errors=(NotAllowed, InvalidInput, EmbedderUnavailable, StoreUnavailable),
    ),
    MethodSpec(
        "cstp.exportDecisions",
        ExportParams,
        export_decisions,
        result=ExportResult,
        summary="One page of decisions as transfer lines, with their edges (admin)",
        errors=(NotAllowed, InvalidInput, StoreUnavailable),
    ),
)
