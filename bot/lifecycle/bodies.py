"""Action bodies: what an engineer fills in, as typed frozen dataclasses.

Each action names one body model.  Its fields are plain annotated dataclass
fields declared with `given` (the label the console shows, a length limit, a
fixed set of choices or the policy's options for a form); `parse_body` turns
a JSON object into the model with the API's field errors (400, naming the
field), and `form_inputs` describes the console form for it.  The field types
understood are ``str``, ``str | None``, ``bool``, ``bool | None`` (left out:
None), ``float``, ``float | None``, ``date``, ``date | None`` and ``tuple[str, ...]``.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from bot.http import (
    ApiError,
    bool_field,
    date_field,
    number_field,
    required_str,
    str_field,
    str_list_field,
)
from compliance.policy import Policy

B = TypeVar("B")

# The policy's choices for a field, as (value, label) pairs for a form.
Options = Callable[[Policy], Sequence[tuple[str, str]]]


@dataclass(frozen=True, slots=True)
class Given:
    """How one body field is asked for and checked."""

    label: str
    # Longest text accepted; None: the app's message limit (Settings.max_text_chars).
    max_len: int | None = None
    # The only values a text field may take, each with the words a form shows.
    choices: tuple[tuple[str, str], ...] = ()
    # What a form offers (values are checked by the action itself).
    options: Options | None = None


def given(
    label: str,
    *,
    default: Any = dataclasses.MISSING,
    max_len: int | None = None,
    choices: tuple[tuple[str, str], ...] = (),
    options: Options | None = None,
) -> Any:
    """A body field: ``summary: str = given("解决方案摘要")``."""
    return dataclasses.field(
        default=default, metadata={"given": Given(label, max_len, choices, options)}
    )


@dataclass(frozen=True, slots=True)
class NoBody:
    """The body of an action that takes no options (it may come without a body)."""


def _given(field: dataclasses.Field[Any]) -> Given:
    spec = field.metadata.get("given")
    if not isinstance(spec, Given):
        raise TypeError(f"body field {field.name!r} is not declared with given()")
    return spec


def _fields(model: type[Any]) -> list[tuple[dataclasses.Field[Any], Given, Any]]:
    hints = typing.get_type_hints(model)
    return [(f, _given(f), hints[f.name]) for f in dataclasses.fields(model)]


def parse_body(model: type[B], data: Mapping[str, Any], *, text_limit: int) -> B:
    """`data` (a JSON object) as `model`; an `ApiError` 400 naming the first bad field."""
    values: dict[str, Any] = {}
    for field, spec, kind in _fields(model):
        name = field.name
        limit = spec.max_len or text_limit
        if kind is str:
            value: Any = required_str(data, name, max_len=limit)
        elif kind == str | None:
            value = str_field(data, name, required=False, max_len=limit)
        elif kind is bool:
            value = bool_field(data, name, field.default is True)
        elif kind == bool | None:
            value = bool_field(data, name, False) if name in data else None
        elif kind is float:
            value = number_field(data, name)
        elif kind == float | None:
            value = number_field(data, name) if data.get(name) is not None else None
        elif kind is date:
            value = date_field(data, name)
        elif kind == date | None:
            value = date_field(data, name) if data.get(name) not in (None, "") else None
        elif kind == tuple[str, ...]:
            value = str_list_field(data, name)
        else:
            raise TypeError(f"{model.__name__}.{name}: no parser for {kind!r}")
        allowed = [choice for choice, _label in spec.choices]
        if allowed and value is not None and value not in allowed:
            raise ApiError(
                400,
                "bad_field",
                f"field {name!r} must be one of {', '.join(allowed)}, got {value!r}",
                field=name,
            )
        values[name] = value
    return model(**values)


# A yes / no that may also be left to what the ticket says.
_TRISTATE = [("", "—"), ("true", "是"), ("false", "否")]


def form_inputs(model: type[Any], policy: Policy, *, text_limit: int) -> list[dict[str, Any]]:
    """The console form of `model`: one input per field, in field order."""
    inputs = []
    for field, spec, kind in _fields(model):
        options = list(spec.options(policy)) if spec.options else list(spec.choices)
        if kind == tuple[str, ...]:
            widget = "checkboxes"
        elif options:
            widget = "select"
        elif kind == bool | None:
            widget, options = "tristate", _TRISTATE
        elif kind is bool:
            widget = "checkbox"
        elif kind in (float, float | None):
            widget = "number"
        elif kind in (date, date | None):
            widget = "date"
        else:
            widget = "textarea" if spec.max_len is None else "text"
        inputs.append(
            {
                "name": field.name,
                "label": spec.label,
                "widget": widget,
                "required": field.default is dataclasses.MISSING and kind in (str, float, date),
                "options": options,
                "max_len": spec.max_len or text_limit,
                "checked": field.default is True,
            }
        )
    return inputs
