"""The action schema: what one checked action looks like to guardrail rules.

`ActionContext` is built once per check, from a checkGuardrails / preAction `action` map or from a
recorded decision. It holds both views rules read: `facts`, the flat condition context (also used
for message placeholders), and `cel_action`, the `action` map CEL expressions see. STANDARD_KEYS
are the keys of that map; every other key lives under `action.context`, so a rule naming
`action.<anything else>` is a typo, rejected at load time (`cel.compile_cel`), and `map_to_cel`
uses the same set to decide where a map key points.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cstp.domain.errors import InvalidInput

STANDARD_KEYS = frozenset(
    {
        "description",
        "stakes",
        "confidence",
        "category",
        "tags",
        "reason_count",
        "pattern",
        "quality_score",
        "has_tags",
        "has_pattern",
        "phase",
        "deliberation_inputs_count",
        "has_deliberation",
        "has_reasoning",
        "scope",
        "project",
    }
)
_OPTIONAL_CEL_KEYS = (
    "deliberation_inputs_count",
    "has_deliberation",
    "has_reasoning",
    "scope",
    "project",
)


@dataclass(frozen=True, slots=True)
class ActionContext:
    """One action, prepared for evaluation. Build it with `from_action` or `for_record`.

    `facts` is the legacy condition context (also used for message placeholders); `cel_action` is
    the plain-Python `action` map CEL expressions see, with caller extras under `context`.
    """

    facts: Mapping[str, Any]
    cel_action: dict[str, Any]
    description: str
    scope_keys: frozenset[str]
    phase: str

    @classmethod
    def from_action(cls, action: Mapping[str, Any]) -> ActionContext:
        """The checkGuardrails / preAction context: `{category, stakes, confidence}` plus every
        other key of `action` and of `action.context` (top-level keys win). `description` is not
        a legacy fact, as in the reference server, but CEL sees it as `action.description`."""
        description = action.get("description")
        if description is None:
            raise InvalidInput("Missing required field: action.description", "action.description")
        facts: dict[str, Any] = {}
        nested = action.get("context")
        if isinstance(nested, Mapping):
            facts.update(nested)
        elif nested is not None:
            facts["context"] = nested
        facts.update((k, v) for k, v in action.items() if k not in ("description", "context"))
        if facts.get("stakes") is None:
            facts["stakes"] = "medium"
        facts.setdefault("category", None)
        facts.setdefault("confidence", None)
        return cls._build(facts, str(description), facts.get("phase") or "check")

    @classmethod
    def for_record(
        cls,
        *,
        description: str,
        category: str,
        stakes: str,
        confidence: float,
        quality_score: float,
        deliberation_inputs_count: int = 0,
        has_deliberation: bool = False,
        has_reasoning: bool = False,
        tags: tuple[str, ...] | list[str] = (),
        pattern: str | None = None,
        reason_count: int = 0,
        project: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> ActionContext:
        """The recordDecision context (phase "record"); its results never block."""
        facts: dict[str, Any] = dict(context or {})
        facts.update(
            description=description,
            category=category,
            stakes=stakes,
            confidence=confidence,
            quality_score=quality_score,
            deliberation_inputs_count=deliberation_inputs_count,
            has_deliberation=has_deliberation,
            has_reasoning=has_reasoning,
            phase="record",
            tags=list(tags),
            pattern=pattern,
            reason_count=reason_count,
        )
        if project is not None:
            facts["project"] = project
        return cls._build(facts, description, "record")

    @classmethod
    def _build(cls, facts: dict[str, Any], description: str, phase: str) -> ActionContext:
        tags = facts.get("tags")
        tag_list = list(tags) if isinstance(tags, list | tuple) else []
        pattern = facts.get("pattern")
        pattern = pattern if isinstance(pattern, str) else ""
        reasons = facts.get("reasons")
        default_count = len(reasons) if isinstance(reasons, list) else 0
        cel: dict[str, Any] = {
            "description": description,
            "stakes": facts["stakes"],
            "confidence": _double(facts.get("confidence")),
            "category": facts.get("category") or "",
            "tags": tag_list,
            "reason_count": facts.get("reason_count", default_count),
            "pattern": pattern,
            "has_tags": bool(tag_list),
            "has_pattern": bool(pattern),
            "phase": phase,
        }
        if facts.get("quality_score") is not None:  # absent is not the same as a 0.0 score
            cel["quality_score"] = _double(facts["quality_score"])
        cel.update((k, facts[k]) for k in _OPTIONAL_CEL_KEYS if facts.get(k) is not None)
        cel["context"] = {k: v for k, v in facts.items() if k not in STANDARD_KEYS}
        keys = frozenset(
            str(v) for v in (facts.get("project"), facts.get("scope")) if v is not None and v != ""
        )
        return cls(facts, cel, description, keys, phase)


def _double(value: Any) -> Any:
    """CEL sees confidence-like numbers as doubles (null → 0.0); other types are left for CEL to
    reject, so a wrong type fails open instead of being guessed at."""
    if value is None:
        return 0.0
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value
