"""The rules of `bot.validation` as pydantic types, for the edges' body and query models.

``text: Text``, ``id: Id``, ``amount: Finite``, ``at: Moment``, ``day: Day``,
``month: Month`` — each the rule of the same name in `bot.validation` (one place for
the rules; this module only wraps them), and `Model`, the base of the models:
frozen, unknown fields ignored, no lax coercion.  `first_error` gives the field path
and reason `bot.http.validated` answers 400 with.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from bot.validation import (
    Invalid,
    check_text,
    parse_day,
    parse_finite,
    parse_id,
    parse_moment,
    parse_month,
    shown,
)

__all__ = ["Day", "Finite", "Id", "Model", "Moment", "Month", "Text", "first_error"]


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid(f"must be a string, got {type(value).__name__}")
    return check_text(value)


# The rules as pydantic types, for the edges' body and query models.
Text = Annotated[str, BeforeValidator(_text)]
Id = Annotated[int, BeforeValidator(parse_id)]
Finite = Annotated[float, BeforeValidator(parse_finite)]
Moment = Annotated[datetime, BeforeValidator(parse_moment)]
Day = Annotated[date, BeforeValidator(parse_day)]
Month = Annotated[date, BeforeValidator(parse_month)]


class Model(BaseModel):
    """Base of the edges' body and query models: frozen, unknown fields ignored, and no
    lax coercion (a number is not a string, a string not a number)."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)


def first_error(exc: ValidationError) -> tuple[str, str, str]:
    """(field path, reason, code) of the first problem pydantic found."""
    error = exc.errors(include_url=False)[0]
    parts: list[str] = []
    for part in error["loc"]:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{shown(str(part))}" if parts else shown(str(part)))
    path = "".join(parts) or "body"
    message = str(error["msg"]).removeprefix("Value error, ")
    code = "missing_field" if error["type"] == "missing" else "bad_field"
    return path, message, code
