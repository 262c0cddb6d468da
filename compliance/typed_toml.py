"""Parsed TOML into typed, frozen dataclasses, with errors that name the key.

The one converter behind the policy file (`compliance.policy.load_policy`) and the
rules' options (`compliance.rules.base.parse_options`): a dataclass's type hints
are the schema.  Supported types: ``bool``, ``int``, ``float`` (an integer is
taken), ``str``, ``datetime.time`` (``"HH:MM"``), ``datetime.date``
(``"YYYY-MM-DD"``), ``Literal[...]``, ``X | None``, ``tuple[X, ...]`` (a TOML
array), ``Mapping[str, X]`` (a table, frozen), ``Any`` (kept as parsed) and nested
dataclasses (tables).  An unknown key, a missing required key or a value of the
wrong type raises the error type given, its message ``SOURCE: dotted.key: problem``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from datetime import date, time
from typing import Any, Literal, get_args, get_origin

__all__ = ["TomlConverter", "type_name"]

_NAMES: Mapping[Any, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    time: 'a time "HH:MM"',
    date: 'a date "YYYY-MM-DD"',
}
_PLURALS: Mapping[Any, str] = {str: "strings", int: "integers", float: "numbers"}


def type_name(tp: Any) -> str:
    """How a value of type `tp` is described to whoever edits the file."""
    if tp in _NAMES:
        return _NAMES[tp]
    origin = get_origin(tp)
    if origin is tuple:
        item = get_args(tp)[0]
        if item in _PLURALS:
            return f"a list of {_PLURALS[item]}"
        return "a list of tables" if dataclasses.is_dataclass(item) else "a list"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if dataclasses.is_dataclass(tp) or origin in (Mapping, dict):
        return "a table"
    return str(tp)


def _frozen_map(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return types.MappingProxyType(dict(value))


class TomlConverter:
    """Converts parsed TOML (`tomllib`'s dicts and lists) into a schema's types.

    `source` names the file in messages; `error` is the exception raised (a
    ValueError subclass taking the message).  Subclasses may reshape a table
    before it is converted (`dataclass`) and leave out fields that never come
    from the file (`internal_fields`).
    """

    internal_fields: frozenset[str] = frozenset()

    def __init__(self, source: str, error: type[ValueError] = ValueError) -> None:
        self.source = source
        self.error = error

    def fail(self, key: str, problem: str) -> ValueError:
        where = f"{self.source}: " if self.source else ""
        return self.error(f"{where}{key or '(top level)'}: {problem}")

    def convert(self, value: Any, tp: Any, key: str) -> Any:
        origin = get_origin(tp)
        if origin in (types.UnionType, typing.Union):
            args = [a for a in get_args(tp) if a is not type(None)]
            if value is None:
                return None
            return self.convert(value, args[0], key)
        if tp is Any:
            return value
        if origin is Literal:
            if value not in get_args(tp):
                raise self.fail(key, f"must be {type_name(tp)}, got {value!r}")
            return value
        if origin is tuple:
            if not isinstance(value, list | tuple):
                raise self.fail(key, f"must be {type_name(tp)}, got {type(value).__name__}")
            (item_tp, _ellipsis) = get_args(tp)
            return tuple(self.convert(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value))
        if origin in (Mapping, dict) or tp is Mapping:
            if not isinstance(value, dict):
                raise self.fail(key, f"must be a table, got {type(value).__name__}")
            map_args = get_args(tp)
            val_tp = map_args[1] if map_args else Any
            return _frozen_map({k: self.convert(v, val_tp, f"{key}.{k}") for k, v in value.items()})
        if dataclasses.is_dataclass(tp):
            return self.dataclass(value, typing.cast(type, tp), key)
        return self.scalar(value, tp, key)

    def scalar(self, value: Any, tp: Any, key: str) -> Any:
        if tp is bool:
            if isinstance(value, bool):
                return value
        elif tp is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        elif tp is float:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
        elif tp is str:
            if isinstance(value, str):
                return value
        elif tp is time:
            if isinstance(value, time):
                return value
            if isinstance(value, str):
                try:
                    return time.fromisoformat(value)
                except ValueError:
                    raise self.fail(key, f"bad time {value!r}: expected HH:MM") from None
        elif tp is date:
            if isinstance(value, date):
                return value
            if isinstance(value, str):
                try:
                    return date.fromisoformat(value)
                except ValueError:
                    raise self.fail(key, f"bad date {value!r}: expected YYYY-MM-DD") from None
        else:  # pragma: no cover - a schema author's mistake, caught by the tests
            raise TypeError(f"unsupported schema type {tp!r} at {key}")
        raise self.fail(key, f"must be {type_name(tp)}, got {type(value).__name__} {value!r}")

    def dataclass(self, value: Any, cls: type, key: str, *, noun: str = "key") -> Any:
        """The table `value` as dataclass `cls`; `noun` is what its keys are called in
        messages (``unknown option`` for a rule's options)."""
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table, got {type(value).__name__}")
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in self.internal_fields}
        kwargs: dict[str, Any] = {}
        for name, item in value.items():
            sub = f"{key}.{name}" if key else name
            if name not in fields:
                known = ", ".join(fields) or "none"
                raise self.fail(sub, f"unknown {noun} (known {noun}s here: {known})")
            kwargs[name] = self.convert(item, hints[name], sub)
        for name, f in fields.items():
            missing = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if missing and name not in kwargs:
                raise self.fail(f"{key}.{name}" if key else name, f"required {noun} is missing")
        return cls(**kwargs)
