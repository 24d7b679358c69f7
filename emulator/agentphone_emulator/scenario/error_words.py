"""Pydantic's validation errors in the words of someone writing YAML.

No union member names, no ``Input should be a valid ...``: one message per problem, and the path of
the key or value to point at. :func:`worded` is what the loader calls; :func:`describe` says what a
value is ("got ...") for the loader's own messages too.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from . import models
from .bounds import BOUND_WORDS
from .strict import known_keys

YamlPath = tuple[str | int, ...]


def worded(exc: ValidationError, data: Any) -> list[tuple[YamlPath, str]]:
    """Every problem of ``exc`` (raised validating ``data``), as the path to point at and a message;
    one per union rather than one per member."""
    errors = [_error_of(details, data) for details in exc.errors()]
    return [pointed for error in _collapse(errors) for pointed in _pointed(error)]


def _pointed(error: _Error) -> list[tuple[YamlPath, str]]:
    path = error.path
    if error.type == "missing_action" and isinstance(error.input, dict):
        return _without_action(path, error)
    if error.type == "extra_forbidden" and path:
        return [(path, f"unknown key '{path[-1]}'")]
    return [(path, _message(error))]


def _without_action(path: YamlPath, error: _Error) -> list[tuple[YamlPath, str]]:
    """A step with no action: its first key no kind of step knows is the action misspelt (``sya:``
    for ``say:``); every other such key is a typo of its own, reported with it."""
    actions, known = _ACTIONS[_list_name(path)]
    unknown = [str(key) for key in error.input if str(key) not in known]
    if not unknown:
        return [(path, _message(error))]
    close = difflib.get_close_matches(unknown[0], actions, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    found = [((*path, unknown[0]), f"unknown key '{unknown[0]}'{hint}; {error.msg}")]
    for key in unknown[1:]:
        close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        found.append(((*path, key), f"unknown key '{key}'{hint}"))
    return found


@dataclass(frozen=True)
class _Member:
    """A loc segment naming a union member (``str``, ``NumberSetup`` ...), not a key or an index."""

    name: str


Segment = str | int | _Member

_MODELS: dict[str, type[BaseModel]] = {
    name: value
    for name, value in vars(models).items()
    if isinstance(value, type) and issubclass(value, BaseModel)
}
# Errors that say "this member is not even the right shape": when every member of a union fails
# this way, one "expected X or Y" says it; otherwise the member that fit the shape has the story.
_SHAPE_ERRORS = {
    "string_type", "int_type", "int_parsing", "int_from_float", "float_type", "float_parsing",
    "bool_type", "bool_parsing", "list_type", "tuple_type", "dict_type", "model_type",
    "model_attributes_type", "literal_error", "enum", "none_required", "is_instance_of",
}  # fmt: skip
_TEXT_RULES = "a mapping of rules (equals, contains, any_of, not_contains, matches)"


@dataclass(frozen=True)
class _Error:
    loc: tuple[Segment, ...]
    type: str
    msg: str
    input: Any
    ctx: Mapping[str, Any]

    @property
    def path(self) -> YamlPath:
        return tuple(part for part in self.loc if not isinstance(part, _Member))


def _segments(loc: tuple[int | str, ...], data: Any, error_type: str) -> tuple[Segment, ...]:
    """Tell keys and indexes from union member names by walking the data along ``loc``."""
    out: list[Segment] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out.append(part)
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
        elif part.startswith("step:"):  # the discriminator's tag: the action key already says it
            continue
        elif isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
        elif error_type in ("missing", "extra_forbidden") and i == len(loc) - 1:
            out.append(part)  # a key the mapping lacks (or has, for extra_forbidden)
        else:
            out.append(_Member(part))
    return tuple(out)


def _collapse(errors: list[_Error]) -> list[_Error]:
    """One error per union instead of one per member (recursively: unions within a member)."""
    out: list[_Error] = []
    unions: dict[tuple[Segment, ...], list[_Error]] = {}
    for error in errors:
        first = next((i for i, part in enumerate(error.loc) if isinstance(part, _Member)), None)
        if first is None:
            out.append(error)
        else:
            unions.setdefault(error.loc[:first], []).append(error)
    for prefix, members_errors in unions.items():
        out.extend(_collapse_union(prefix, members_errors))
    return out


def _collapse_union(prefix: tuple[Segment, ...], errors: list[_Error]) -> list[_Error]:
    by_member: dict[str, list[_Error]] = {}
    for error in errors:
        member = error.loc[len(prefix)]
        assert isinstance(member, _Member)
        rest = (*prefix, *error.loc[len(prefix) + 1 :])
        by_member.setdefault(member.name, []).append(dataclasses.replace(error, loc=rest))
    fitting = [name for name, errs in by_member.items() if not all(_is_shape_error(e, prefix) for e in errs)]
    if fitting:
        return _collapse([error for name in fitting for error in by_member[name]])
    value = errors[0].input
    for name, errs in by_member.items():
        # "bogus" for a kind that is one of several words: the words are what was meant.
        if name.startswith("literal[") and isinstance(value, str) and _literal_options(errs[0].ctx):
            return errs[:1]
    expected = _member_words([(name, errs[0]) for name, errs in by_member.items()])
    message = f"expected {expected}, got {describe(value)}"
    return [_Error(prefix, "union", message, value, {})]


def _is_shape_error(error: _Error, prefix: tuple[Segment, ...]) -> bool:
    return len(error.loc) == len(prefix) and error.type in _SHAPE_ERRORS


def _member_words(members: list[tuple[str, _Error]]) -> str:
    words: list[str] = []
    names = [name for name, _ in members]
    for name, error in members:
        if name == "int" and "float" in names:
            continue  # "a number" covers it
        word = _member_word(name, error)
        if word not in words:
            words.append(word)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _member_word(name: str, error: _Error) -> str:
    simple = {
        "str": "text",
        "int": "a whole number",
        "float": "a number",
        "bool": "true/false",
        "none": "nothing",
    }
    if name in simple:
        return simple[name]
    if name.startswith(("list[", "tuple[", "set[")):
        return "a list"
    if name.startswith("dict["):
        return "a mapping"
    if name.startswith("literal["):
        options = _literal_options(error.ctx)
        return _one_of(options) if options else _yaml_words(str(error.ctx.get("expected", name)))
    model = _MODELS.get(re.sub(r".*?(\w+)\]?$", r"\1", name))
    if model is models.TextMatch:
        return _TEXT_RULES
    if model is not None:
        keys = known_keys(model)
        return f"a mapping ({', '.join(keys)})" if len(keys) <= 6 else "a mapping"
    return name


def _literal_options(ctx: Mapping[str, Any]) -> list[str]:
    """The string choices of a Literal, from pydantic's ``'a', 'b' or 'c'``."""
    return re.findall(r"'((?:[^'\\]|\\.)*)'", str(ctx.get("expected", "")))


def _one_of(options: list[str]) -> str:
    shown = [f"'{option}'" for option in options[:12]]
    if len(options) > 12:
        shown[-1] = f"... ({len(options)} choices)"
    return shown[0] if len(shown) == 1 else "one of " + ", ".join(shown)


def _yaml_words(text: str) -> str:
    """Python's True/False as YAML says them."""
    return re.sub(r"\b(True|False)\b", lambda match: match.group(1).lower(), text)


def describe(value: Any) -> str:
    """A short account of a value for "got ...": strings quoted and clipped, containers by kind."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else ".inf" if value > 0 else "-.inf"  # as YAML writes them
    if isinstance(value, int | float):
        return _short_number(value)
    if isinstance(value, str):
        return json.dumps(clip(value), ensure_ascii=False)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, datetime.date):
        return f"the date {value.isoformat()}"
    if isinstance(value, bytes):
        return "binary data"
    return type(value).__name__


def clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short_number(value: int | float) -> str:
    """A number as written, but a 300-digit integer as ``1.0000e+299``: "got ..." stays short."""
    text = str(value)
    if isinstance(value, float) or len(text.lstrip("-")) <= 20:
        return text
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    return f"{sign}{digits[0]}.{digits[1:5]}e+{len(digits) - 1}"


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _bound(value: Any) -> str:
    """An upper or lower bound, with its meaning in words when it is one of bounds.py's."""
    words = BOUND_WORDS.get(value) if isinstance(value, int | float) else None
    return f"{_number(value)} ({words})" if words else _number(value)


def _message(error: _Error) -> str:
    """What an error says, in the words of someone writing YAML."""
    kind, ctx, got = error.type, error.ctx, describe(error.input)
    expected = {
        "float_parsing": "a number", "float_type": "a number",
        "int_parsing": "a whole number", "int_type": "a whole number", "int_from_float": "a whole number",
        "bool_parsing": "true or false", "bool_type": "true or false",
        "list_type": "a list", "tuple_type": "a list",
        "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
    }  # fmt: skip
    bounds = {
        "greater_than": ("more than", "gt"), "greater_than_equal": ("at least", "ge"),
        "less_than": ("less than", "lt"), "less_than_equal": ("at most", "le"),
    }  # fmt: skip
    if kind == "missing":
        return "required"
    if kind == "finite_number":
        return f"must be a finite number, got {got}"
    if kind in expected:
        return f"expected {expected[kind]}, got {got}"
    if kind == "string_type":
        quote = isinstance(error.input, int | float | datetime.date)  # YAML read `1` as a number
        return f"expected text, got {got}" + (" (quote it to make it text)" if quote else "")
    if kind in ("literal_error", "enum"):
        return _literal_message(error)
    if kind in bounds:
        words, name = bounds[kind]
        return f"must be {words} {_bound(ctx.get(name))}, got {got}"
    if kind in ("too_short", "too_long", "string_too_short", "string_too_long"):
        return _length_message(error)
    if kind == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')}, got {got}"
    if kind == "value_error":
        return error.msg.removeprefix("Value error, ")
    if kind == "missing_action" and not isinstance(error.input, dict):
        return f"{error.msg}; got {got}"
    if kind == "assertion_error":
        return error.msg.removeprefix("Assertion failed, ")
    return error.msg  # union, missing_action, unknown_key and anything new: already in words


def _literal_message(error: _Error) -> str:
    options = _literal_options(error.ctx)
    if not options:  # Literal[True], Literal[False]
        return f"expected {_yaml_words(str(error.ctx.get('expected')))}, got {describe(error.input)}"
    value = error.input
    got = f"'{clip(value)}'" if isinstance(value, str) else describe(value)
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.6) if isinstance(value, str) else []
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"expected {_one_of(options)}; got {got}{hint}"


def _length_message(error: _Error) -> str:
    text = error.type.startswith("string_")
    limit = int(error.ctx.get("min_length", error.ctx.get("max_length", 0)))
    if error.type.endswith("too_short"):
        if text and limit == 1:
            return "must not be empty"
        least = f"at least {limit}"
    else:
        least = f"at most {limit}"
    unit = ("character" if text else "item") + ("" if limit == 1 else "s")
    return f"must be {least} {unit} long" if text else f"must have {least} {unit}"


def _union_models(union: Any) -> list[type[BaseModel]]:
    """The models of a discriminated union (Turn, Step): ``Annotated[A | B, Discriminator]``."""
    return [get_args(member)[0] for member in get_args(get_args(union)[0])]


_ACTIONS: dict[str, tuple[tuple[str, ...], set[str]]] = {
    "turns": (models.TURN_ACTIONS, {key for m in _union_models(models.Turn) for key in known_keys(m)}),
    "steps": (models.STEP_ACTIONS, {key for m in _union_models(models.Step) for key in known_keys(m)}),
}


def _list_name(path: YamlPath) -> str:
    """``turns`` or ``steps``: the list a step without an action sits in."""
    return "turns" if len(path) >= 2 and path[-2] == "turns" else "steps"


def _error_of(details: ErrorDetails, data: Any) -> _Error:
    loc = _segments(details["loc"], data, details["type"])
    return _Error(loc, details["type"], details["msg"], details["input"], details.get("ctx", {}))
