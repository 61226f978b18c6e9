"""Outcome attribution by PR stability: a pending decision that shipped as a PR and has stood for
`stability_days` without being reviewed is taken to have worked.

This is the reference server's rule, and deliberately nothing more: no issue tracker is asked and
no file:line is matched; the decision's age is the only evidence. The outcome is written through
`DecisionService.review`, so the record's rev, the search index and calibration all see it exactly
as if an agent had reviewed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cstp.domain.decisions import DecisionService, ReviewInput
from cstp.domain.filters import DecisionFilter


@dataclass(frozen=True, slots=True)
class Attributed:
    id: str
    outcome: str
    reason: str
    updated: bool  # False in a dry run: nothing was written


@dataclass(frozen=True, slots=True)
class AttributionReport:
    processed: int  # pending decisions of the project considered
    stable: int
    skipped: int  # no PR, or the PR is younger than the stability period
    decisions: tuple[Attributed, ...]


def attribute_outcomes(
    service: DecisionService,
    *,
    project: str,
    since: datetime | None,
    stability_days: int,
    dry_run: bool,
    agent: str,
    now: datetime,
) -> AttributionReport:
    """Mark `project`'s stable pending PR decisions (dated `since` or later) as successes.

    Decisions are read in full before any is written, so a write never changes what this call scans.
    """
    pending = list(service.scan(DecisionFilter(project=project, statuses=("pending",), date_after=since)))
    cutoff = now - timedelta(days=stability_days)
    done: list[Attributed] = []
    for d in pending:
        if d.pr is None or d.date > cutoff:
            continue
        reason = f"PR #{d.pr} stable for {stability_days} days"
        if not dry_run:
            service.review(d.id, ReviewInput("success", notes=reason), agent)
        done.append(Attributed(d.id, "success", reason, updated=not dry_run))
    return AttributionReport(len(pending), len(done), len(pending) - len(done), tuple(done))
