"""Deterministic benchmark data: decisions, queries, guardrail rules and actions.

Everything comes from `random.Random(SEED)`, so two runs (and two machines) store the same
decisions, send the same queries and load the same rules, and their figures are comparable. The
first `n` decisions of a larger set are exactly the decisions of a smaller one, so the embeddings of
the largest set serve every size.

The decisions look like what agents record: a sentence built from a verb, a subject and a choice in
one of the five categories, a context paragraph, one to three reasons of different types, tags,
projects with features and PR numbers, confidences skewed towards 0.6-0.9, stakes skewed towards
medium, dates spread over the year before `EPOCH`, and a third of them reviewed with an outcome.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from cstp.domain.records import Decision, Reason, Review

SEED = 20240611
GENERATOR_VERSION = 1  # bump when the output changes (it keys the embedding cache)
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)

CATEGORIES = ("architecture", "process", "integration", "tooling", "security")
STAKES = ("low", "medium", "high", "critical")
STAKES_WEIGHTS = (0.25, 0.4, 0.25, 0.1)
REASON_TYPES = ("analysis", "empirical", "pattern", "constraint", "authority", "analogy", "intuition")
OUTCOMES = ("success", "partial", "failure", "abandoned")
OUTCOME_WEIGHTS = (0.55, 0.25, 0.15, 0.05)

PROJECTS: dict[str, tuple[str, ...]] = {
    "acme/billing": ("invoices", "refunds", "tax-engine", "dunning"),
    "acme/payments-api": ("card-capture", "webhooks", "idempotency", "payouts"),
    "acme/search": ("indexer", "ranking", "autocomplete", "synonyms"),
    "acme/web": ("checkout", "onboarding", "dashboard", "i18n"),
    "acme/mobile": ("offline-sync", "push", "login", "deep-links"),
    "acme/platform": ("ci", "k8s", "observability", "secrets"),
    "acme/data": ("etl", "warehouse", "retention", "gdpr-export"),
    "acme/agents": ("planner", "memory", "tool-calls", "evals"),
}

# category -> (verbs, subjects, choices)
TOPICS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "architecture": (
        ("Use", "Adopt", "Move to", "Keep", "Split out", "Introduce"),
        (
            "the primary datastore",
            "the event bus",
            "the read model",
            "service boundaries",
            "the caching layer",
            "the job queue",
            "the API gateway",
            "the search index",
        ),
        (
            "PostgreSQL with logical replication",
            "Kafka with compacted topics",
            "Redis as a write-through cache",
            "a modular monolith",
            "CQRS with a separate read store",
            "SQLite per tenant",
            "gRPC between internal services",
            "an outbox table for events",
            "ChromaDB for vector search",
            "S3 with lifecycle rules",
        ),
    ),
    "process": (
        ("Require", "Drop", "Introduce", "Automate", "Timebox", "Document"),
        (
            "code review",
            "release sign-off",
            "incident postmortems",
            "sprint planning",
            "on-call handover",
            "design reviews",
            "dependency upgrades",
            "feature flags cleanup",
        ),
        (
            "for every change touching payments",
            "with two approvers for high-risk changes",
            "within 48 hours of an incident",
            "as a weekly thirty-minute slot",
            "through a checklist in the pull request template",
            "only for user-facing changes",
            "by a rotating owner",
            "with a written decision record",
        ),
    ),
    "integration": (
        ("Integrate", "Replace", "Wrap", "Retry", "Batch", "Version"),
        (
            "the Stripe webhook handler",
            "the Salesforce sync",
            "the email provider",
            "the OAuth login flow",
            "the shipping rates API",
            "the Slack notifier",
            "the partner SFTP drop",
            "the tax calculation service",
        ),
        (
            "behind an idempotency key",
            "with exponential backoff and jitter",
            "through a queue instead of synchronous calls",
            "with a circuit breaker at 50% errors",
            "using the vendor's official SDK",
            "with contract tests against a sandbox",
            "in nightly batches of 1000 records",
            "under a versioned adapter interface",
        ),
    ),
    "tooling": (
        ("Switch to", "Pin", "Adopt", "Standardise on", "Remove", "Upgrade"),
        (
            "the build system",
            "the linter",
            "the test runner",
            "the container base image",
            "the dependency lock file",
            "the CI cache",
            "the formatter",
            "the profiling setup",
        ),
        (
            "ruff for lint and format",
            "uv with a compiled lock file",
            "pytest with xdist",
            "python:3.11-slim pinned by digest",
            "GitHub Actions with a shared cache",
            "py-spy in staging",
            "mypy in strict mode",
            "pre-commit hooks for every repository",
        ),
    ),
    "security": (
        ("Rotate", "Enforce", "Restrict", "Encrypt", "Audit", "Disable"),
        (
            "API tokens",
            "database credentials",
            "admin access",
            "customer PII at rest",
            "outbound network egress",
            "the session cookie settings",
            "third-party scripts",
            "service account keys",
        ),
        (
            "every 90 days through the secrets manager",
            "with hardware-backed MFA",
            "to a single bastion with audit logs",
            "with per-tenant keys in the KMS",
            "to an allow-list of partner domains",
            "with SameSite=strict and short expiry",
            "behind a content security policy",
            "with least-privilege IAM roles",
        ),
    ),
}

CONTEXTS = (
    "Latency on {feature} doubled after the last release and customers noticed.",
    "The team is growing from four to nine engineers and {feature} has no clear owner.",
    "An audit flagged {feature} as a risk before the SOC 2 review.",
    "We hit the vendor's rate limit three times last week while processing {feature}.",
    "The current setup for {feature} costs twice the budget for this quarter.",
    "A customer escalation showed {feature} silently dropping records under load.",
    "Onboarding new engineers to {feature} takes more than a week.",
    "The migration of {feature} must finish before the contract renewal in March.",
    "Incidents in {feature} took over an hour to diagnose because logs were missing.",
    "Product wants {feature} behind a flag so it can be rolled out per tenant.",
)

REASONS: dict[str, tuple[str, ...]] = {
    "analysis": (
        "Benchmarks showed a 3x throughput gain at our data volume",
        "The failure modes are simpler to reason about",
        "It removes a network hop from the hot path",
        "Total cost of ownership is lower over two years",
    ),
    "empirical": (
        "Two previous projects used it without incidents",
        "The load test at 2x peak stayed under the latency budget",
        "Error rates dropped after the pilot in staging",
    ),
    "pattern": (
        "It follows the strangler pattern we used for the old monolith",
        "Idempotent consumers are our standard for money movement",
        "Same approach as the search team took last year",
    ),
    "constraint": (
        "Compliance requires data to stay in the EU region",
        "The vendor contract forbids storing raw card data",
        "We only have one engineer with capacity this quarter",
    ),
    "authority": (
        "The security team mandates it for all services",
        "It is the platform team's supported default",
    ),
    "analogy": (
        "Similar to how we handled the invoice backlog",
        "Works like the retry policy of the payments worker",
    ),
    "intuition": (
        "It feels like the lower-risk path given the deadline",
        "The team is more comfortable operating it",
    ),
}

TAGS = (
    "database",
    "performance",
    "reliability",
    "cost",
    "compliance",
    "latency",
    "migration",
    "api",
    "observability",
    "security",
    "ux",
    "scaling",
    "tech-debt",
    "vendor",
    "testing",
    "ci",
)

AGENTS = ("claude-code", "planner-agent", "review-bot", "ops-agent", "emerson")

LESSONS = (
    "Index the hot columns before the backfill",
    "Run the load test with production-sized data",
    "Roll out per tenant, not all at once",
    "Write the runbook before the first incident",
    "Ask the vendor for a sandbox early",
)

QUERIES = (
    "which database should we use for invoices",
    "how do we handle webhook retries from the payment provider",
    "caching strategy for read-heavy endpoints",
    "rotate credentials for production databases",
    "code review rules for payment changes",
    "speed up the CI pipeline",
    "event driven architecture with kafka",
    "encrypt personal data at rest",
    "rate limits from third party APIs",
    "splitting the monolith into services",
    "linting and formatting tools for python",
    "postmortem process after outages",
    "retry with exponential backoff",
    "vector search store for embeddings",
    "who signs off a release",
    "restrict admin access with MFA",
    "batch sync with salesforce",
    "pin the docker base image",
    "feature flags per tenant rollout",
    "reduce cloud costs this quarter",
    "logs missing during incidents",
    "onboarding engineers takes too long",
    "idempotency keys for money movement",
    "GDPR data stays in the EU",
    "strict type checking in CI",
    "circuit breaker for flaky vendor",
    "search ranking and synonyms",
    "offline sync on mobile",
    "secrets manager for API tokens",
    "dependency upgrade policy",
    "queue instead of synchronous calls",
    "content security policy for third-party scripts",
)


def make_decision(rng: random.Random, index: int) -> Decision:
    """The next decision from `rng` (`index` makes its id unique)."""
    category = rng.choice(CATEGORIES)
    verbs, subjects, choices = TOPICS[category]
    project = rng.choice(tuple(PROJECTS))
    feature = rng.choice(PROJECTS[project])
    verb, subject, choice = rng.choice(verbs), rng.choice(subjects), rng.choice(choices)
    if category in ("architecture", "tooling"):  # "Use <choice> for <subject>"
        text = f"{verb} {choice} for {subject} in {feature}"
    else:  # "Rotate <subject> <qualifier>"
        text = f"{verb} {subject} {choice} in {feature}"
    confidence = round(min(0.99, max(0.05, rng.betavariate(5, 2))), 2)
    stakes = rng.choices(STAKES, STAKES_WEIGHTS)[0]
    date = EPOCH - timedelta(seconds=rng.randrange(365 * 24 * 3600), microseconds=rng.randrange(10**6))
    types = rng.sample(REASON_TYPES, rng.choice((1, 2, 2, 3)))
    reasons = tuple(Reason(t, rng.choice(REASONS[t]), round(rng.uniform(0.5, 1.0), 2)) for t in types)
    tags = tuple(sorted(rng.sample(TAGS, rng.choice((0, 1, 2, 2, 3)))))
    review = None
    status = "pending"
    if rng.random() < 0.33:
        status = "reviewed"
        review = Review(
            outcome=rng.choices(OUTCOMES, OUTCOME_WEIGHTS)[0],
            reviewed_at=date + timedelta(days=rng.randrange(1, 60)),
            reviewed_by=rng.choice(AGENTS),
            lessons=rng.choice(LESSONS) if rng.random() < 0.5 else None,
        )
    return Decision(
        id=_id(rng, index),
        decision=text,
        category=category,
        confidence=confidence,
        stakes=stakes,
        date=date,
        status=status,
        context=rng.choice(CONTEXTS).format(feature=feature) if rng.random() < 0.85 else None,
        reasons=reasons,
        tags=tags,
        recorded_by=rng.choice(AGENTS),
        project=project,
        feature=feature,
        pr=rng.randrange(1, 5000) if rng.random() < 0.6 else None,
        review=review,
    )


def _id(rng: random.Random, index: int) -> str:
    # 8 hex characters like the reference server's ids, unique by construction: a random high half and the
    # index in the low bits (the server's own ids are random; uniqueness is what matters here).
    return f"{(rng.getrandbits(12) << 20 | index) & 0xFFFFFFFF:08x}"


def decisions(n: int) -> Iterator[Decision]:
    """The first `n` benchmark decisions (always the same ones, in the same order)."""
    rng = random.Random(SEED)
    for i in range(n):
        yield make_decision(rng, i)


def record_params(n: int, seed: int = SEED + 1) -> list[dict[str, Any]]:
    """`cstp.recordDecision` params for `n` new decisions (wire format, camelCase where needed)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        d = make_decision(rng, i)
        params: dict[str, Any] = {
            "decision": d.decision,
            "confidence": d.confidence,
            "category": d.category,
            "stakes": d.stakes,
            "reasons": [{"type": r.type, "text": r.text} for r in d.reasons],
            "tags": list(d.tags),
            "project": d.project,
            "feature": d.feature,
        }
        if d.context:
            params["context"] = d.context
        if d.pr is not None:
            params["pr"] = d.pr
        out.append(params)
    return out


def compound_filters(seed: int = SEED + 2, n: int = len(QUERIES)) -> list[dict[str, Any]]:
    """category + minConfidence + stakes filters (wire format), one per query."""
    rng = random.Random(seed)
    stake_sets = (["high", "critical"], ["medium", "high"], ["low", "medium"], ["critical"])
    return [
        {
            "category": rng.choice(CATEGORIES),
            "minConfidence": rng.choice((0.5, 0.6, 0.7)),
            "stakes": rng.choice(stake_sets),
        }
        for _ in range(n)
    ]


def rpc_body(method: str, params: dict[str, Any], request_id: int = 1) -> str:
    """One JSON-RPC 2.0 request as compact JSON (one line: the load clients read lines)."""
    return json.dumps(
        {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}, separators=(",", ":")
    )


# --- guardrails ---------------------------------------------------------------------------------

_SCOPES = [p.split("/")[1] for p in PROJECTS]


def _rule(rng: random.Random, i: int) -> dict[str, Any]:
    """One rule in one of the file format's forms, in a realistic mix."""
    category = rng.choice(CATEGORIES)
    threshold = rng.choice((0.4, 0.5, 0.6, 0.7, 0.8))
    stakes = rng.choice(("medium", "high", "critical"))
    action = rng.choices(("block", "warn", "log"), (0.3, 0.6, 0.1))[0]
    form = i % 6
    rule: dict[str, Any] = {"id": f"bench-{form}-{i:03d}", "action": action}
    if form == 0:  # flat legacy keys with a comparison
        rule |= {
            "description": f"{stakes.title()}-stakes decisions need confidence {threshold}",
            "condition_stakes": stakes,
            "condition_confidence": f"< {threshold}",
            "message": "{stakes} {category} decision at confidence {confidence}",
        }
    elif form == 1:  # CEL string
        rule |= {
            "description": f"Shaky {category} work",
            "condition": f"action.category == '{category}' && action.confidence < {threshold}",
            "message": f"{category} change at confidence {{confidence}}; get a second reviewer",
        }
    elif form == 2:  # flat requirement, scoped to projects
        rule |= {
            "description": "Critical changes name a rollback plan",
            "scope": rng.sample(_SCOPES, 2),
            "condition_stakes": "critical",
            "requires_rollback_plan": True,
            "message": "Critical {category} change in {project} without rollback_plan",
        }
    elif form == 3:  # nested requires with a CEL map condition
        rule |= {
            "description": f"{category.title()} changes in payments need review",
            "scope": ["payments-api", "billing"],
            "condition": {"cel": f"action.category in ['{category}', 'security']"},
            "requires": {"code_review": True},
            "message": "{category} change without code review",
        }
    elif form == 4:  # map condition converted to CEL
        rule |= {
            "description": "Large migrations need a dry run",
            "condition": {"stakes": f"!= {rng.choice(('low', 'medium'))}", "rows_gt": 10_000 * (1 + i % 9)},
            "requires_dry_run": True,
            "message": "Migration of {rows} rows without a dry run",
        }
    else:  # CEL with several terms
        rule |= {
            "description": f"Low-confidence {stakes} decisions on {category}",
            "condition": (
                f"action.stakes in ['{stakes}', 'critical'] && action.category == '{category}'"
                f" && action.confidence < {threshold} && !has(action.context.approved_by)"
            ),
            "message": "{category} decision needs approval at confidence {confidence}",
        }
    return rule


def guardrail_rules(n: int, seed: int = SEED + 3) -> list[dict[str, Any]]:
    """`n` guardrail maps (ids unique), mixing every condition form of docs/GUARDRAILS.md."""
    rng = random.Random(seed)
    return [_rule(rng, i) for i in range(n)]


def guardrail_actions(n: int = 64, seed: int = SEED + 4) -> list[dict[str, Any]]:
    """`cstp.checkGuardrails` params: varied actions, some passing, some blocked or warned."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        project = rng.choice(tuple(PROJECTS))
        action: dict[str, Any] = {
            "description": f"{rng.choice(('Deploy', 'Migrate', 'Rotate', 'Refactor', 'Upgrade'))} "
            f"{rng.choice(PROJECTS[project])} in {project}",
            "category": rng.choice(CATEGORIES),
            "stakes": rng.choices(STAKES, STAKES_WEIGHTS)[0],
            "confidence": round(rng.uniform(0.2, 0.98), 2),
            "project": project.split("/")[1],
        }
        if rng.random() < 0.3:
            action["rollback_plan"] = rng.random() < 0.5
        if rng.random() < 0.2:
            action["context"] = {"rows": rng.randrange(100, 500_000), "code_review": rng.random() < 0.5}
        out.append({"action": action})
    return out
