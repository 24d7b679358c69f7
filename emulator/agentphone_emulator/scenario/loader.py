"""Reading scenario files: YAML with exact positions, every problem one clear line.

A file holds one scenario per YAML document. Reading goes node by node (PyYAML's composer, not
``safe_load``) so that every value keeps the line and column it was written at, duplicate keys are
caught (PyYAML would silently keep the last) and a problem can point at the very key at fault::

    scenarios/orders.yaml:14:7: turns[2].expect.within_ms: expected a number, got "fast"

Each document is then checked against :class:`~.models.Scenario`. Pydantic's errors are rewritten
for a person writing YAML (:mod:`.error_words`), one line per problem, and every ``{{name}}`` is
checked against the names the runner will define.

:func:`load_text` and :func:`load_file` raise nothing but :class:`ScenarioFileError`, which holds
every problem of the file; :func:`load_paths` collects the problems of many files instead.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..safe_text import describe as describe_surrogates
from ..safe_text import lone_surrogates, scrub
from .error_words import YamlPath, clip, describe, worded
from .golden_models import GOLDEN_DIR
from .models import Scenario
from .results import format_path
from .variables import UnknownVariable, builtin_names, names_in, platform_fills
from .yaml_errors import YAML_BREAKS, explain

Position = tuple[int, int]  # (line, column), both 1-based
ModelT = TypeVar("ModelT", bound=BaseModel)

NOT_A_MAPPING = "a scenario is a mapping with at least a name and steps"
MAX_DEPTH = 64  # deeper than any scenario needs; stops a hostile file long before Python's stack
MAX_VALUES = 100_000  # aliases can expand a small file exponentially ("billion laughs")
MAX_FILE_BYTES = 16 * 2**20  # a scenario file is a few KB; this is a guard, not a budget

_MERGE_TAG = "tag:yaml.org,2002:merge"
_VALUE_TAG = "tag:yaml.org,2002:value"
_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_LINE_BREAKS = re.compile(r"[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")  # all that str.splitlines() splits on


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
        (line, column), message = explain(exc, text)
        return Problem(file, line, column, "", message)
    if isinstance(exc, yaml.reader.ReaderError):
        character = exc.character if isinstance(exc.character, int) else ord(exc.character)
        message = f"unacceptable character #x{character:04x}: {exc.reason}"
        return Problem(file, *_text_position(text, exc.position), "", message)
    return Problem(file, 1, 1, "", str(exc) or "not valid YAML")


def _text_position(text: str, index: int) -> Position:
    """Line and column of ``text[index]``, counting line breaks as PyYAML does."""
    breaks = list(YAML_BREAKS.finditer(text, 0, index))
    start = breaks[-1].end() if breaks else 0
    return len(breaks) + 1, index - start + 1


# -- pydantic's errors, for a person ----------------------------------------------------------------


def _validation_problems(document: _Document, file: str) -> tuple[Scenario | None, list[Problem]]:
    try:
        return Scenario.model_validate(document.data), []
    except ValidationError as exc:
        return None, [document.problem(file, path, message) for path, message in worded(exc, document.data)]
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
            message = f"duplicate scenario name '{clip(name)}' (first at line {first[name]})"
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


def _refuse_what_cannot_be_read_safely(path: str | Path, file: str) -> None:
    """Only a regular file of a sane size is read: a FIFO with no writer would block ``run`` for
    ever, and a device such as /dev/zero would never end. (A directory is left to the read, which
    refuses it.)"""
    info = os.stat(path)
    if stat.S_ISDIR(info.st_mode):
        return
    if not stat.S_ISREG(info.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device or a socket"
        message = f"not a regular file ({kind}): scenarios are read from files"
        raise ScenarioFileError([Problem(file, 1, 1, "", message)])
    if info.st_size > MAX_FILE_BYTES:
        limit = MAX_FILE_BYTES // 2**20
        message = f"too large ({info.st_size:,} bytes; a scenario file may be at most {limit} MiB)"
        raise ScenarioFileError([Problem(file, 1, 1, "", message)])


def load_file(path: str | Path, *, extra_variables: Iterable[str] = ()) -> list[LoadedScenario]:
    """:func:`load_text` on a UTF-8 file; a file that cannot be read is a problem too."""
    file = str(path)
    try:
        _refuse_what_cannot_be_read_safely(path, file)
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
    recursively, sorted, skipping hidden ones (``.github/workflows`` is YAML too) and golden files
    (``__goldens__``)."""
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
                and not any(
                    part.startswith(".") or part == GOLDEN_DIR for part in child.relative_to(path).parts
                )
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


def load_model(text: str, file: str, model: type[ModelT]) -> ModelT:
    """One YAML document of ``text`` validated as ``model`` (another language of the same kind, such
    as explore's spec), with the scenario loader's positions and words: every problem one
    ``file:line:col: path: msg``, raised together as :class:`ScenarioFileError`."""
    documents, problems = _read_documents(text, file)
    if not problems and len(documents) != 1:
        problems = [Problem(file, 1, 1, "", f"expected one YAML document, found {len(documents)}")]
    if problems:
        raise ScenarioFileError(_tidy(problems))
    document = documents[0]
    if document.problems:
        raise ScenarioFileError(_tidy(document.problems))
    try:
        return model.model_validate(document.data)
    except ValidationError as exc:
        found = [document.problem(file, path, message) for path, message in worded(exc, document.data)]
        raise ScenarioFileError(_tidy(found)) from None
