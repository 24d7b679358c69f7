"""A mapping in a scenario file: :class:`Strict`, the base of every model of the language.

Unknown keys are errors, each at its own key with a did-you-mean, raised together with every other
problem of the mapping (a typo must not hide the rest of the file until it is fixed).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, cast, get_args

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType


def unknown_key_error(key: str, known: list[str], shown: list[str] | None = None) -> PydanticCustomError:
    """The error of one unknown key, with a did-you-mean; ``shown`` is the list the message offers
    (default: ``known``)."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    message = f"unknown key '{key}'{hint}; expected one of: {', '.join(shown or known)}"
    # The whole message as the one context value: a key written "{known}" must not be formatted.
    return PydanticCustomError("unknown_key", "{message}", {"message": message})


def known_keys(model: type[BaseModel]) -> list[str]:
    """The keys a mapping of ``model`` may use: aliases where a field has one, else its name."""
    keys = []
    for name, info in model.model_fields.items():
        alias = info.validation_alias if isinstance(info.validation_alias, str) else info.alias
        keys.append(alias or name)
    return keys


_ERROR_TYPES = frozenset(get_args(ErrorType))


def _line_errors(exc: ValidationError) -> list[InitErrorDetails]:
    """``exc``'s errors, to be raised again with others (pydantic's own rebuilt from their type and
    context, custom ones as the message they already have)."""
    out: list[InitErrorDetails] = []
    for error in exc.errors():
        kind, loc, value = error["type"], error["loc"], error["input"]
        if kind in _ERROR_TYPES:
            details = InitErrorDetails(type=cast(ErrorType, kind), loc=loc, input=value)
            if "ctx" in error:
                details["ctx"] = error["ctx"]
        else:
            details = InitErrorDetails(type=PydanticCustomError(kind, error["msg"]), loc=loc, input=value)
        out.append(details)
    return out


def refuse_unknown_keys(
    value: Any,
    model: type[BaseModel],
    known: list[str] | None = None,
    *,
    shown: list[str] | None = None,
) -> Any:
    """A before-validator's check of a mapping of ``model``: every key not in ``known`` (default: the
    model's keys) is an error at that key, raised together with the problems of the rest of the
    mapping, so one run of the loader reports them all (a typo used to hide the next typo and
    everything else in the mapping)."""
    known = known or known_keys(model)
    if not isinstance(value, Mapping):
        return value
    unknown = [key for key in value if str(key) not in known]
    if not unknown:
        return value
    errors = [
        InitErrorDetails(type=unknown_key_error(str(key), known, shown), loc=(str(key),), input=value[key])
        for key in unknown
    ]
    # A key spelt wrong is missing too: "name: required", or the mapping's own "give at least one of
    # ..."; the did-you-mean already says so.
    meant = {
        (name,) for key in unknown for name in difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    }
    try:
        model.model_validate({key: item for key, item in value.items() if key not in unknown})
    except ValidationError as exc:
        errors += [
            error
            for error in _line_errors(exc)
            if not (meant and (tuple(error["loc"]) in meant or not error["loc"]))
        ]
    raise ValidationError.from_exception_data(model.__name__, errors)


class Strict(BaseModel):
    """A mapping in a scenario file: unknown keys are errors, with a did-you-mean."""

    model_config = ConfigDict(extra="forbid", populate_by_name=False, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_keys(cls, value: Any) -> Any:
        return refuse_unknown_keys(value, cls)


def refuse_contradictions(model: type[BaseModel], value: Any, found: list[tuple[str, str]]) -> None:
    """Raise the ``(key, message)`` contradictions ``found`` in a mapping of ``model``, each at its key:
    two expectations that cannot both hold would make a scenario fail whatever the agent does, so
    they are refused when the file loads rather than reported as a failure after the run."""
    if found:
        errors = [
            InitErrorDetails(
                type=PydanticCustomError("contradiction", "{message}", {"message": message}),
                loc=(key,),
                input=value,
            )
            for key, message in found
        ]
        raise ValidationError.from_exception_data(model.__name__, errors)
