"""Shared pieces of the wire models."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Final

from pydantic import AfterValidator, AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field


class Params(BaseModel):
    """Base for params models: unknown keys are ignored (clients send extras), names or aliases."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class Result(BaseModel):
    """Base for result models. The pipeline sends `model_dump(by_alias=True, exclude_unset=True)`:
    a field the handler never set is absent from the reply (optional keys), one set to None is
    `null`. camelCase wire names are `serialization_alias`es of snake_case fields."""

    model_config = ConfigDict(populate_by_name=True)


def alias(*names: str) -> Any:
    return Field(default=None, validation_alias=AliasChoices(*names))


def _strict_number(v: Any) -> Any:
    # pydantic would turn True into 1; a boolean where a number belongs is a client bug.
    if isinstance(v, bool):
        raise ValueError("must be a number, not a boolean")
    return v


Number = Annotated[float, BeforeValidator(_strict_number)]
Int = Annotated[int, BeforeValidator(_strict_number)]
Confidence = Annotated[float, BeforeValidator(_strict_number), Field(ge=0.0, le=1.0)]
DecisionId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]


# A free-form field (kept verbatim, as the client sent it) holds at most this much JSON. Typed text
# fields have their own max_length; without this, only the body limit would bound what one record
# keeps, in the store and in memory (docs/PROTOCOL.md "Limits").
FREE_FORM_BYTES: Final = 65_536


def bounded_json(value: Any) -> Any:
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace"))
    if size > FREE_FORM_BYTES:
        raise ValueError(f"must be at most {FREE_FORM_BYTES} bytes of JSON (is {size})")
    return value


FreeForm = Annotated[dict[str, Any], AfterValidator(bounded_json)]
FreeFormList = Annotated[list[Any], AfterValidator(bounded_json)]


def day(dt: datetime) -> str:
    return dt.date().isoformat()
