"""Reading scenario files: YAML with exact positions, every problem one clear line.

A file holds one scenario per YAML document. Reading goes node by node (PyYAML's composer, not
``safe_load``) so that every value keeps the line and column it was written at, duplicate keys are
caught (PyYAML would silently keep the last) and a problem can point at the very key at fault::

    scenarios/orders.yaml:14:7: turns[2].expect.within_ms: expected a number, got "fast"

Each document is then checked against :class:`~.models.Scenario`. Pydantic's errors are rewritten
for a person writing YAML: no union member names, no ``Input should be a valid ...``, one line per
problem, and every ``{{name}}`` is checked against the names the runner will define.

:func:`load_text` and :func:`load_file` raise nothing but :class:`ScenarioFileError`, which holds
every problem of the file; :func:`load_paths` collects the problems of many files instead.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..safe_text import describe as describe_surrogates
from ..safe_text import lone_surrogates, scrub
from . import models
from .models import Scenario, known_keys
from .results import format_path
from .variables import UnknownVariable, builtin_names, names_in, platform_fills

YamlPath = tuple[str | int, ...]
Position = tuple[int, int]  # (line, column), both 1-based

NOT_A_MAPPING = "a scenario is a mapping with at least a name and steps"
MAX_DEPTH = 64  # deeper than any scenario needs; stops a hostile file long before Python's stack
MAX_VALUES = 100_000  # aliases can expand a small file exponentially ("billion laughs")

_MERGE_TAG = "tag:yaml.org,2002:merge"
_VALUE_TAG = "tag:yaml.org,2002:value"
_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_LINE_BREAKS = re.compile(r"[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")  # all that str.splitlines() splits on
_YAML_BREAKS = re.compile(r"\r\n|[\n\r\x85\u2028\u2029]")  # what PyYAML counts as a new line


def _one_line(text: str) -> str:
    """Escape line breaks (a key or value may hold one) so a problem stays one line."""
    return _LINE_BREAKS.sub(lambda match: json.dumps(match.group(0))[1:-1], text)


# -- what the loader hands back --------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario file, at a 1-based line and column."""

    file: str
    line: int
    column: int
    path: str  # the YAML path, formatted (turns[2].expect.within_ms); "" for the file or document
    message: str

    def __post_init__(self) -> None:
        for name in ("file", "path", "message"):
            object.__setattr__(self, name, _one_line(getattr(self, name)))

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}:{self.column}: {where}{self.message}"


class ScenarioFileError(Exception):
    """A file that cannot be used; ``problems`` says everything that is wrong with it."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


@dataclass(frozen=True)
class LoadedScenario:
    """A checked scenario and where it was written."""

    scenario: Scenario
    file: str
    line: int  # the line of the document's first key
    index: int  # the document's place in the file, from 0 (empty documents count)
    positions: Mapping[YamlPath, Position]  # path -> where the value at that path starts
    key_positions: Mapping[YamlPath, Position] = field(default_factory=dict)  # path -> where its key is

    @property
    def id(self) -> str:
        return f"{self.file}::{self.scenario.name}"

    def position_of(self, path: Sequence[str | int]) -> Position | None:
        """Where ``path`` (or the longest part of it the file has) is written: the key's position when
        the path ends in a key, else the value's (a list item)."""
        return _locate(tuple(path), self.positions, self.key_positions)

    def line_of(self, path: Sequence[str | int]) -> int | None:
        position = self.position_of(path)
        return None if position is None else position[0]


def _locate(
    path: YamlPath, positions: Mapping[YamlPath, Position], key_positions: Mapping[YamlPath, Position]
) -> Position | None:
    for end in range(len(path), -1, -1):
        prefix = path[:end]
        # A key is where a reader looks for "within_ms: fast", and the line of "expect:" rather than
        # of the first key under it.
        if prefix in key_positions:
            return key_positions[prefix]
        if prefix in positions:
            return positions[prefix]
    return None


# -- YAML nodes to plain data, with positions --------------------------------------------------------


def _position(mark: yaml.Mark) -> Position:
    return mark.line + 1, mark.column + 1


class _TooBig(Exception):
    pass


class _Loader(yaml.SafeLoader):
    """SafeLoader with a bound on nesting: its composer recurses per level of ``[[[[...]]]]``, and a
    RecursionError would come at a depth that depends on the caller's stack."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                message = f"nested too deeply (more than {MAX_DEPTH} levels)"
                event = self.peek_event()  # type: ignore[no-untyped-call]  # (untyped in types-PyYAML)
                raise yaml.composer.ComposerError(None, None, message, event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Builder:
    """Turns one document's node tree into plain data, noting where every value and key is."""

    def __init__(self, loader: yaml.SafeLoader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.positions: dict[YamlPath, Position] = {}
        self.key_positions: dict[YamlPath, Position] = {}
        self.problems: list[Problem] = []
        self._open: set[int] = set()  # the collections being built: an alias back to one is a loop
        self._count = 0

    def problem(self, mark: yaml.Mark, path: YamlPath, message: str) -> None:
        self.problems.append(Problem(self.file, *_position(mark), format_path(path), message))

    def build(self, node: Node, path: YamlPath) -> Any:
        self._count += 1
        if self._count > MAX_VALUES:
            raise _TooBig
        # setdefault: a mapping's own keys are built before what '<<' merges in, and win.
        self.positions.setdefault(path, _position(node.start_mark))
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        if id(node) in self._open:
            self.problem(node.start_mark, path, "this alias refers to a mapping or list that contains it")
            return None
        if len(path) >= MAX_DEPTH:
            self.problem(node.start_mark, path, f"nested too deeply (more than {MAX_DEPTH} levels)")
            return None
        if node.tag not in _COLLECTION_TAGS:
            self.problem(node.start_mark, path, f"the tag '{node.tag}' is not supported here")
        self._open.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        finally:
            self._open.discard(id(node))

    def _scalar(self, node: ScalarNode, path: YamlPath) -> Any:
        if node.tag == _VALUE_TAG:  # a plain "=": SafeLoader resolves it but cannot construct it
            return node.value
        try:
            value = self.loader.construct_object(node)
            if isinstance(value, str) and (lone := lone_surrogates(value)):
                # YAML's "\ud83d" escape makes one; no call or text could carry it.
                self.problem(
                    node.start_mark, path, f"this text holds {describe_surrogates(lone)}: not valid Unicode"
                )
                return scrub(value)
            return value
        except yaml.MarkedYAMLError as exc:
            self.problem(exc.problem_mark or node.start_mark, path, exc.problem or "cannot read this value")
        except Exception:  # !!int abc, !!timestamp nonsense ...: the constructors raise anything
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            self.problem(node.start_mark, path, f"cannot read {describe(node.value)} as {tag}")
        return node.value

    def _mapping(self, node: MappingNode, path: YamlPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_at: dict[str, int] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            if key in first_at:
                message = f"duplicate key '{key}' (first at line {first_at[key]})"
                self.problem(key_node.start_mark, (*path, key), message)
                continue
            first_at[key] = key_node.start_mark.line + 1
            self.key_positions.setdefault((*path, key), _position(key_node.start_mark))
            result[key] = self.build(value_node, (*path, key))
        for merged in merges:
            self._merge(merged, path, result)
        return result

    def _key(self, node: Node, path: YamlPath) -> str | None:
        # Keys are validated as text: the source text, so `1:` under ivr.options is "1", `01:` stays
        # "01" and `on:` is "on" rather than YAML 1.1's True.
        if isinstance(node, ScalarNode):
            return str(node.value)
        kind = "a list" if isinstance(node, SequenceNode) else "a mapping"
        self.problem(node.start_mark, path, f"a key must be text, not {kind}")
        return None

    def _merge(self, node: Node, path: YamlPath, result: dict[str, Any]) -> None:
        """``<<: *defaults`` (or a list of them): keys the mapping does not have itself."""
        sources = node.value if isinstance(node, SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, MappingNode):
                self.problem(source.start_mark, path, "'<<' merges in a mapping (or a list of mappings)")
                continue
            merged = self.build(source, path)
            for key, value in (merged or {}).items():
                result.setdefault(key, value)


# -- reading a file's documents ---------------------------------------------------------------------


@dataclass
class _Document:
    index: int
    line: int
    data: Any
    positions: dict[YamlPath, Position]
    key_positions: dict[YamlPath, Position]
    problems: list[Problem]

    def problem(self, file: str, path: YamlPath, message: str, at: Position | None = None) -> Problem:
        line, column = at or _locate(path, self.positions, self.key_positions) or (self.line, 1)
        return Problem(file, line, column, format_path(path), message)


def _read_documents(text: str, file: str) -> tuple[list[_Document], list[Problem]]:
    """Every non-empty document of ``text``, and the problems that stopped reading (syntax)."""
    documents: list[_Document] = []
    try:
        loader = _Loader(text)  # checks every character up front (a ReaderError)
    except yaml.YAMLError as exc:
        return documents, [_yaml_problem(exc, text, file)]
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None and not _is_empty(node):
                documents.append(_read_document(loader, node, index, file))
            index += 1
    except yaml.YAMLError as exc:  # reading stops at a syntax error; the documents before it count
        return documents, [_yaml_problem(exc, text, file)]
    finally:
        loader.dispose()
    return documents, []


def _is_empty(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _read_document(loader: yaml.SafeLoader, node: Node, index: int, file: str) -> _Document:
    line, column = _position(node.start_mark)
    builder = _Builder(loader, file)
    try:
        data = builder.build(node, ())
    except _TooBig:
        message = f"too large once its aliases are expanded (more than {MAX_VALUES} values)"
        return _Document(index, line, None, {}, {}, [Problem(file, line, column, "", message)])
    problems = builder.problems
    if not isinstance(data, dict):
        problems = [Problem(file, line, column, "", f"{NOT_A_MAPPING}; got {describe(data)}")]
    return _Document(index, line, data, builder.positions, builder.key_positions, problems)


def _yaml_problem(exc: yaml.YAMLError, text: str, file: str) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or exc.context or "not valid YAML"
        if exc.problem and exc.context and exc.context_mark is not None:
            message += f" ({exc.context} at line {exc.context_mark.line + 1})"
        line, column = _position(mark) if mark is not None else (1, 1)
        return Problem(file, line, column, "", message)
    if isinstance(exc, yaml.reader.ReaderError):
        character = exc.character if isinstance(exc.character, int) else ord(exc.character)
        message = f"unacceptable character #x{character:04x}: {exc.reason}"
        return Problem(file, *_text_position(text, exc.position), "", message)
    return Problem(file, 1, 1, "", str(exc) or "not valid YAML")


def _text_position(text: str, index: int) -> Position:
    """Line and column of ``text[index]``, counting line breaks as PyYAML does."""
    breaks = list(_YAML_BREAKS.finditer(text, 0, index))
    start = breaks[-1].end() if breaks else 0
    return len(breaks) + 1, index - start + 1


# -- pydantic's errors, for a person ----------------------------------------------------------------


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
    "model_attributes_type", "literal_error", "none_required", "is_instance_of",
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
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(_clip(value), ensure_ascii=False)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, datetime.date):
        return f"the date {value.isoformat()}"
    if isinstance(value, bytes):
        return "binary data"
    return type(value).__name__


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


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
    if kind in expected:
        return f"expected {expected[kind]}, got {got}"
    if kind == "string_type":
        quote = isinstance(error.input, int | float | datetime.date)  # YAML read `1` as a number
        return f"expected text, got {got}" + (" (quote it to make it text)" if quote else "")
    if kind == "literal_error":
        return _literal_message(error)
    if kind in bounds:
        words, name = bounds[kind]
        return f"must be {words} {_number(ctx.get(name))}, got {got}"
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
    got = f"'{_clip(value)}'" if isinstance(value, str) else describe(value)
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


def _to_problem(error: _Error, document: _Document, file: str) -> Problem:
    path = error.path
    key = _offending_key(error)
    if key is None:
        return document.problem(file, path, _message(error))
    if error.type == "missing_action":
        actions, _ = _ACTIONS[_list_name(path)]
        close = difflib.get_close_matches(key, actions, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        message = f"unknown key '{key}'{hint}; {error.msg}"
    elif error.type == "extra_forbidden":
        message = f"unknown key '{key}'"
    else:
        message = _message(error)
    return document.problem(file, (*path, key), message)


def _offending_key(error: _Error) -> str | None:
    """The key to point at: the unknown one, or for a step without an action the first key that no
    kind of step knows (``sy:`` for ``say:``)."""
    if error.type == "unknown_key":
        return str(error.ctx.get("key"))
    if error.type == "extra_forbidden" and error.path:
        return str(error.path[-1])
    if error.type == "missing_action" and isinstance(error.input, dict):
        _, known = _ACTIONS[_list_name(error.path)]
        return next((str(key) for key in error.input if str(key) not in known), None)
    return None


def _list_name(path: YamlPath) -> str:
    """``turns`` or ``steps``: the list a step without an action sits in."""
    return "turns" if len(path) >= 2 and path[-2] == "turns" else "steps"


def _error_of(details: ErrorDetails, data: Any) -> _Error:
    loc = _segments(details["loc"], data, details["type"])
    return _Error(loc, details["type"], details["msg"], details["input"], details.get("ctx", {}))


def _validation_problems(document: _Document, file: str) -> tuple[Scenario | None, list[Problem]]:
    try:
        return Scenario.model_validate(document.data), []
    except ValidationError as exc:
        errors = [_error_of(details, document.data) for details in exc.errors()]
        return None, [_to_problem(error, document, file) for error in _collapse(errors)]
    except Exception as exc:  # a validator tripping over input no one foresaw: still one line, not a crash
        return None, [document.problem(file, (), f"could not check this scenario: {exc!r}")]


# -- {{name}} references ------------------------------------------------------------------------------


def _keys_of(value: Any) -> list[str]:
    return [str(key) for key in value] if isinstance(value, dict) else []


def _variable_problems(document: _Document, file: str, extra: Iterable[str]) -> list[Problem]:
    """Every ``{{name}}`` that nothing defines, outside the strings the platform fills itself."""
    data = document.data
    setup = data.get("setup") if isinstance(data.get("setup"), dict) else {}
    names = builtin_names(_keys_of(setup.get("numbers")), _keys_of(setup.get("agents")))
    names.update(_keys_of(data.get("variables")))
    names.update(extra)
    problems: list[Problem] = []
    for path, text in _strings(data, ()):
        for name in dict.fromkeys(names_in(text)):
            if name not in names:
                at = document.positions.get(path)
                problems.append(document.problem(file, path, str(UnknownVariable(name, names)), at))
    return problems


def _strings(value: Any, path: YamlPath) -> Iterable[tuple[YamlPath, str]]:
    if platform_fills(path):
        return
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*path, i))


# -- the public entry points ----------------------------------------------------------------------------


def load_text(
    text: str, file: str = "<string>", *, extra_variables: Iterable[str] = ()
) -> list[LoadedScenario]:
    """The scenarios of one file's text; :class:`ScenarioFileError` with every problem if any."""
    extra = list(extra_variables)
    documents, problems = _read_documents(text, file)
    loaded: list[LoadedScenario] = []
    for document in documents:
        found = list(document.problems)
        scenario: Scenario | None = None
        if isinstance(document.data, dict):
            scenario, invalid = _validation_problems(document, file)
            found += invalid + _variable_problems(document, file, extra)
        problems += found
        if scenario is not None and not found:
            loaded.append(
                LoadedScenario(
                    scenario, file, document.line, document.index, document.positions, document.key_positions
                )
            )
    problems += _duplicate_names(documents, file)
    if not documents and not problems:
        problems.append(Problem(file, 1, 1, "", "no scenarios in this file"))
    if problems:
        raise ScenarioFileError(_tidy(problems))
    return loaded


def _duplicate_names(documents: list[_Document], file: str) -> list[Problem]:
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for document in documents:
        name = document.data.get("name") if isinstance(document.data, dict) else None
        if not isinstance(name, str):
            continue
        line, column = document.key_positions.get(("name",), (document.line, 1))
        if name in first:
            message = f"duplicate scenario name '{_clip(name)}' (first at line {first[name]})"
            problems.append(Problem(file, line, column, "name", message))
        else:
            first[name] = line
    return problems


def _tidy(problems: list[Problem]) -> list[Problem]:
    """In file order, each once (an alias used twice can repeat a problem of what it points at)."""
    seen: set[tuple[int, int, str]] = set()
    unique: list[Problem] = []
    for problem in problems:
        if (problem.line, problem.column, problem.message) not in seen:
            seen.add((problem.line, problem.column, problem.message))
            unique.append(problem)
    return sorted(unique, key=lambda problem: (problem.line, problem.column))


def load_file(path: str | Path, *, extra_variables: Iterable[str] = ()) -> list[LoadedScenario]:
    """:func:`load_text` on a UTF-8 file; a file that cannot be read is a problem too."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ScenarioFileError([Problem(file, 1, 1, "", "no such file or directory")]) from None
    except (OSError, ValueError) as exc:  # a directory, no permission, a NUL in the name ...
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ScenarioFileError([Problem(file, 1, 1, "", f"cannot read: {reason.lower()}")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        message = f"not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line})"
        raise ScenarioFileError([Problem(file, 1, 1, "", message)]) from None
    return load_text(text, file, extra_variables=extra_variables)


def discover(paths: Sequence[str | Path]) -> tuple[list[Path], list[Problem]]:
    """The files to load: a file as given (any extension); a directory's ``*.yaml`` and ``*.yml``,
    recursively, sorted, skipping hidden ones (``.github/workflows`` is YAML too)."""
    files: list[Path] = []
    problems: list[Problem] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(
                child
                for child in path.rglob("*")
                if child.suffix in (".yaml", ".yml")
                and child.is_file()
                and not any(part.startswith(".") for part in child.relative_to(path).parts)
            )
        elif path.exists():
            found = [path]
        else:
            problems.append(Problem(str(given), 1, 1, "", "no such file or directory"))
            continue
        for file in found:
            if file.resolve() not in seen:
                seen.add(file.resolve())
                files.append(file)
    return files, problems


def load_paths(
    paths: Sequence[str | Path], *, extra_variables: Iterable[str] = ()
) -> tuple[list[LoadedScenario], list[Problem]]:
    """Every scenario under ``paths`` and every problem found; a file with problems gives none."""
    extra = list(extra_variables)
    files, problems = discover(paths)
    loaded: list[LoadedScenario] = []
    for file in files:
        try:
            loaded.extend(load_file(file, extra_variables=extra))
        except ScenarioFileError as exc:
            problems.extend(exc.problems)
    return loaded, problems
