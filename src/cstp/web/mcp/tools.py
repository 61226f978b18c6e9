"""The MCP tool table: each of the reference's 17 tool names → its JSON-RPC method.

A tool is not a second implementation: `to_params` turns the tool's arguments (the reference's
snake_case input schema) into the JSON-RPC method's params, the call goes through the same
dispatcher and method handler as a `POST /cstp` call, and `shape` only renames what the reference's
tool returned differently from its method. The table lists tools whose method may not be
registered yet (it comes with another change); `available` keeps exactly the tools whose method is
in the method table, so the tool list always equals what works.

Arguments outside a tool's schema are dropped, so a tool call can only send what its schema shows.
A tool's `agent_id` is passed on as the method's `agent_id` param: it narrows which of the caller's
deliberation tracks a call uses and never changes who the caller is (that is the token's agent).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from cstp.domain.edges import Direction, EdgeType
from cstp.domain.records import Category, OutcomeValue, ReasonType, Stakes, Status

JsonObject = dict[str, Any]
# Value sets of the tools' own arguments (the others come from the domain).
RetrievalMode = Literal["semantic", "keyword", "hybrid"]
BridgeSide = Literal["structure", "function"]
Window = Literal["30d", "60d", "90d", "all"]
ContextPart = Literal["decisions", "guardrails", "calibration", "ready", "patterns"]
ContextFormat = Literal["json", "markdown"]
Priority = Literal["low", "medium", "high"]


def _enum(literal: Any, description: str = "", default: Any = None) -> JsonObject:
    schema: JsonObject = {"type": "string", "enum": list(get_args(literal))}
    if description:
        schema["description"] = description
    if default is not None:
        schema["default"] = default
    return schema


def _string(description: str = "", **extra: Any) -> JsonObject:
    return {"type": "string", **({"description": description} if description else {}), **extra}


def _number(description: str = "", **extra: Any) -> JsonObject:
    return {"type": "number", **({"description": description} if description else {}), **extra}


def _integer(description: str = "", **extra: Any) -> JsonObject:
    return {"type": "integer", **({"description": description} if description else {}), **extra}


def _strings(description: str = "", items: JsonObject | None = None) -> JsonObject:
    schema: JsonObject = {"type": "array", "items": items or {"type": "string"}}
    if description:
        schema["description"] = description
    return schema


def _object(properties: Mapping[str, JsonObject], required: tuple[str, ...] = (), **extra: Any) -> JsonObject:
    schema: JsonObject = {"type": "object", "properties": dict(properties), **extra}
    if required:
        schema["required"] = list(required)
    return schema


_CONFIDENCE = _number("How sure you are that this is right, from 0 to 1.", minimum=0, maximum=1)
_DECISION_ID = _string("A decision id (the full id or a unique prefix of it).", minLength=1)
_AGENT_ID = _string(
    "Optional: the sub-agent or workstream making this call, under the same token. It scopes the "
    "call and never changes who the caller is: decisions are recorded by the token's agent."
)
_REASONS = _strings(
    "Why: each reason has a type and a text.",
    _object({"type": _enum(ReasonType), "text": _string(minLength=1)}, ("type", "text")),
)
_TAGS = _strings("Free-form labels.")
_ACTION = _object(
    {
        "description": _string("What you are about to do.", minLength=1),
        "category": _enum(Category),
        "stakes": _enum(Stakes, default="medium"),
        "confidence": _CONFIDENCE,
        "context": {"type": "object", "description": "Extra facts the guardrails may test."},
    },
    ("description",),
)
_EDGE_TYPE = _enum(EdgeType, "relates_to, supersedes (source replaces target) or depends_on.")
_DIRECTION = _enum(Direction, "Follow outgoing links, incoming links, or both.", default="both")


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One MCP tool. `to_params(arguments)` → the JSON-RPC method's params; `shape(result)` → the
    tool's structured result (identity unless the reference's tool differed from its method)."""

    name: str
    method: str
    description: str
    input_schema: JsonObject
    read_only: bool
    destructive: bool = False
    to_params: Callable[[JsonObject], JsonObject] = field(default=lambda args: args)
    shape: Callable[[Any], Any] = field(default=lambda result: result)

    def params(self, arguments: Mapping[str, Any] | None) -> JsonObject:
        """The method's params for these arguments; keys outside the schema are dropped."""
        known = self.input_schema.get("properties", {})
        args = {k: v for k, v in (arguments or {}).items() if k in known}
        return self.to_params(args)


def _with_defaults(**defaults: Any) -> Callable[[JsonObject], JsonObject]:
    """The tool's documented defaults where they differ from the method's own."""
    return lambda args: {**defaults, **args}


def _check_action_params(args: JsonObject) -> JsonObject:
    return {"action": args}


def _snake_findings(result: Any) -> Any:
    """check_action's findings carry `guardrail_id` (snake_case), as the reference's tool sent."""
    if not isinstance(result, dict):
        return result
    shaped = dict(result)
    for key in ("violations", "warnings"):
        items = result.get(key)
        if isinstance(items, list):
            shaped[key] = [
                {("guardrail_id" if k == "guardrailId" else k): v for k, v in item.items()}
                if isinstance(item, dict)
                else item
                for item in items
            ]
    return shaped


def _reason_stats_params(args: JsonObject) -> JsonObject:
    params = {k: v for k, v in args.items() if k != "min_reviewed"}
    if "min_reviewed" in args:
        params["minReviewed"] = args["min_reviewed"]
    return params


_UPDATE_FIELDS = ("decision", "confidence", "context", "tags", "pattern")


def _update_params(args: JsonObject) -> JsonObject:
    params: JsonObject = {"updates": {k: args[k] for k in _UPDATE_FIELDS if k in args}}
    if "id" in args:
        params["id"] = args["id"]
    return params


def _pre_action_params(args: JsonObject) -> JsonObject:
    options = args.get("options")
    if not isinstance(options, dict):
        return args
    renamed = {"query_limit": "queryLimit", "auto_record": "autoRecord"}
    return {**args, "options": {renamed.get(k, k): v for k, v in options.items()}}


def _with_total(result: Any) -> Any:
    """list_breakers adds `total`, as the reference's tool did."""
    if isinstance(result, dict) and isinstance(result.get("breakers"), list) and "total" not in result:
        return {**result, "total": len(result["breakers"])}
    return result


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "query_decisions",
        "cstp.queryDecisions",
        "Find past decisions similar to a situation, with their outcomes and lessons. Call it before "
        "a non-trivial choice to learn from what was decided before and how it turned out.",
        _object(
            {
                "query": _string("The situation or decision to find precedents for.", minLength=1),
                "limit": _integer("How many decisions to return.", minimum=1, maximum=50, default=5),
                "retrieval_mode": _enum(
                    RetrievalMode,
                    "semantic (meaning), keyword (BM25 words) or hybrid (both).",
                    default="hybrid",
                ),
                "filters": _object(
                    {
                        "category": _enum(Category),
                        "stakes": _strings(items=_enum(Stakes)),
                        "status": _strings(items=_enum(Status)),
                        "project": _string(),
                        "feature": _string(),
                        "pr": _integer(minimum=1),
                        "min_confidence": _number(minimum=0, maximum=1),
                        "max_confidence": _number(minimum=0, maximum=1),
                        "has_outcome": {"type": "boolean"},
                    }
                ),
                "bridge_side": _enum(
                    BridgeSide,
                    "Match against what a decision built (structure) or what it is for (function).",
                ),
            },
            ("query",),
        ),
        read_only=True,
        to_params=_with_defaults(limit=5, retrieval_mode="hybrid"),
    ),
    ToolSpec(
        "check_action",
        "cstp.checkGuardrails",
        "Check a planned action against the guardrails (the team's policy rules) before doing it. "
        "allowed=false means a blocking rule matched: do not proceed; the violations say why.",
        _ACTION,
        read_only=True,
        to_params=_check_action_params,
        shape=_snake_findings,
    ),
    ToolSpec(
        "log_decision",
        "cstp.recordDecision",
        "Record a decision you made, with your confidence and reasons, so its outcome can be "
        "reviewed later and your calibration measured. Returns the decision's id.",
        _object(
            {
                "decision": _string("What you decided, in one sentence.", minLength=1),
                "confidence": _CONFIDENCE,
                "category": _enum(Category),
                "stakes": _enum(Stakes, default="medium"),
                "context": _string("The situation and the options considered."),
                "reasons": _REASONS,
                "tags": _TAGS,
                "project": _string("Repository or project, e.g. owner/repo."),
                "feature": _string(),
                "pr": _integer("Pull request number.", minimum=1),
                "agent_id": _AGENT_ID,
                "decision_id": _string(
                    "Optional: the id under which thoughts were recorded for this decision."
                ),
                "deliberation": _object(
                    {
                        "inputs": _strings(
                            items=_object({"id": _string(), "text": _string(), "source": _string()})
                        ),
                        "steps": _strings(
                            items=_object(
                                {
                                    "step": _integer(),
                                    "thought": _string(),
                                    "inputs_used": _strings(),
                                    "type": _string(),
                                    "conclusion": _string(),
                                }
                            )
                        ),
                        "total_duration_ms": _integer(minimum=0),
                    },
                    description="Optional explicit reasoning trace (thoughts recorded with record_thought "
                    "are attached automatically).",
                ),
                "bridge": _object(
                    {
                        "structure": _string("What was built."),
                        "function": _string("What it is for."),
                        "tolerance": _strings(),
                        "enforcement": _strings(),
                        "prevention": _strings(),
                    },
                    ("structure", "function"),
                ),
            },
            ("decision", "confidence", "category"),
        ),
        read_only=False,
    ),
    ToolSpec(
        "review_outcome",
        "cstp.reviewDecision",
        "Record how a past decision turned out. Reviews feed calibration and the lessons later "
        "queries return.",
        _object(
            {
                "id": _DECISION_ID,
                "outcome": _enum(OutcomeValue),
                "actual_result": _string("What actually happened."),
                "lessons": _string("What to do differently next time."),
                "notes": _string(),
            },
            ("id", "outcome"),
        ),
        read_only=False,
    ),
    ToolSpec(
        "get_stats",
        "cstp.getCalibration",
        "Your calibration: how often decisions made at each confidence level turned out well "
        "(Brier score, accuracy, confidence buckets) and what to adjust.",
        _object(
            {
                "category": _enum(Category),
                "project": _string(),
                "window": _enum(Window, "Only decisions this recent."),
            }
        ),
        read_only=True,
    ),
    ToolSpec(
        "get_decision",
        "cstp.getDecision",
        "Read one decision in full: its text, reasons, context, outcome and review. found=false when "
        "no decision has that id.",
        _object({"id": _DECISION_ID}, ("id",)),
        read_only=True,
    ),
    ToolSpec(
        "get_reason_stats",
        "cstp.getReasonStats",
        "Which kinds of reasons (analysis, pattern, authority, ...) went with decisions that turned "
        "out well, from reviewed decisions.",
        _object(
            {
                "filters": _object(
                    {"category": _enum(Category), "stakes": _enum(Stakes), "project": _string()}
                ),
                "min_reviewed": _integer(
                    "Reviewed decisions a reason type needs to be rated.", minimum=1, maximum=50, default=3
                ),
            }
        ),
        read_only=True,
        to_params=_reason_stats_params,
    ),
    ToolSpec(
        "update_decision",
        "cstp.updateDecision",
        "Correct a recorded decision: its text, confidence, context, tags or pattern. Only the "
        "fields given change.",
        _object(
            {
                "id": _DECISION_ID,
                "decision": _string(minLength=1),
                "confidence": _CONFIDENCE,
                "context": _string(),
                "tags": _TAGS,
                "pattern": _string("The reusable pattern this decision follows."),
            },
            ("id",),
        ),
        read_only=False,
        destructive=True,
        to_params=_update_params,
    ),
    ToolSpec(
        "record_thought",
        "cstp.recordThought",
        "Note a step of your reasoning while you work towards a decision; the thoughts are attached "
        "to the decision you log next. With the id of a logged decision, appends to it.",
        _object(
            {"text": _string("The thought.", minLength=1), "agent_id": _AGENT_ID, "decision_id": _string()},
            ("text",),
        ),
        read_only=False,
    ),
    ToolSpec(
        "pre_action",
        "cstp.preAction",
        "One call before acting: similar past decisions, guardrail checks and your calibration for "
        "the category, and (unless auto_record is false) the decision recorded when allowed.",
        _object(
            {
                "action": _ACTION,
                "options": _object(
                    {
                        "query_limit": _integer(minimum=1, maximum=20, default=5),
                        "auto_record": {"type": "boolean", "default": True},
                    }
                ),
                "reasons": _REASONS,
                "tags": _TAGS,
                "pattern": _string(),
                "agent_id": _AGENT_ID,
            },
            ("action",),
        ),
        read_only=False,
        to_params=_pre_action_params,
    ),
    ToolSpec(
        "get_session_context",
        "cstp.getSessionContext",
        "Start a session with this: your track record, relevant past decisions, active guardrails, "
        "calibration and what needs attention, as markdown (or json).",
        _object(
            {
                "task_description": _string("What you are about to work on."),
                "include": _strings(items=_enum(ContextPart)),
                "decisions_limit": _integer(minimum=1, maximum=50, default=10),
                "ready_limit": _integer(minimum=1, maximum=20, default=5),
                "format": _enum(ContextFormat, default="markdown"),
                "agent_id": _AGENT_ID,
            }
        ),
        read_only=True,
        to_params=_with_defaults(format="markdown"),
    ),
    ToolSpec(
        "ready",
        "cstp.ready",
        "What needs your attention: decisions due for review, stale pending ones, calibration drift.",
        _object(
            {
                "min_priority": _enum(Priority, default="low"),
                "action_types": _strings(),
                "limit": _integer(minimum=1, maximum=50, default=20),
                "category": _enum(Category),
                "agent_id": _AGENT_ID,
            }
        ),
        read_only=True,
    ),
    ToolSpec(
        "link_decisions",
        "cstp.linkDecisions",
        "Link two decisions: one relates to, supersedes or depends on another.",
        _object(
            {
                "source_id": _DECISION_ID,
                "target_id": _DECISION_ID,
                "edge_type": _EDGE_TYPE,
                "weight": _number("Strength of the link.", exclusiveMinimum=0, maximum=1, default=1.0),
                "context": _string("Why they are linked."),
            },
            ("source_id", "target_id", "edge_type"),
        ),
        read_only=False,
    ),
    ToolSpec(
        "get_graph",
        "cstp.getGraph",
        "The decisions linked around one decision, up to `depth` links away, with the links.",
        _object(
            {
                "node_id": _DECISION_ID,
                "depth": _integer(minimum=1, maximum=5, default=1),
                "edge_types": _strings(items=_EDGE_TYPE),
                "direction": _DIRECTION,
            },
            ("node_id",),
        ),
        read_only=True,
    ),
    ToolSpec(
        "get_neighbors",
        "cstp.getNeighbors",
        "The decisions directly linked to one decision.",
        _object(
            {
                "node_id": _DECISION_ID,
                "direction": _DIRECTION,
                "edge_type": _EDGE_TYPE,
                "limit": _integer(minimum=1, maximum=100, default=20),
            },
            ("node_id",),
        ),
        read_only=True,
    ),
    ToolSpec(
        "get_circuit_state",
        "cstp.getCircuitState",
        "The state of one circuit breaker (closed, open, half_open): whether a kind of action is "
        "paused after repeated failures.",
        _object({"scope": _string("The breaker's scope, e.g. stakes:high.", minLength=1)}, ("scope",)),
        read_only=True,
    ),
    ToolSpec(
        "list_breakers",
        "cstp.listBreakers",
        "Every circuit breaker and its state.",
        _object({}),
        read_only=True,
        shape=_with_total,
    ),
)


def available(registered: Collection[str], tools: tuple[ToolSpec, ...] = TOOLS) -> tuple[ToolSpec, ...]:
    """The tools whose JSON-RPC method is registered, in table order."""
    return tuple(t for t in tools if t.method in registered)
