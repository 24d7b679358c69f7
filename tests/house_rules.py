"""The house rule "no wall-clock timing assertions in tests", as a check on the tests' source.

A test that asserts how long something took on the real clock (``assert elapsed < 2.0``) passes on
a quiet machine and fails on a loaded one: it tests the machine. :func:`wall_clock_asserts` reads a
test module with :mod:`ast` and names every ``assert`` that compares a value from the real clock:

- a call of ``time.perf_counter`` / ``monotonic`` / ``time`` (and their ``_ns`` forms, however
  imported) or of an event loop's ``time()``;
- a name assigned from such a value in the same function (or an enclosing one, or the module),
  following assignments (``elapsed = time.monotonic() - started``), loop and comprehension targets;
- a parameter, attribute or string key named like a real-time measure (:data:`REAL_TIME_NAME`:
  ``elapsed``, ``latency_ms``, ``duration_ms``, ``wall_s``, ``watch.seconds``, ``result["elapsed"]``,
  ``chunk["latencyMs"]`` ...): the emulator's records and the tests' helpers carry real time under
  these names.

Flagged: an ordering (``<``, ``<=``, ``>``, ``>=``) with such a value on either side, and an equality
of such a value with a constant or a ``pytest.approx`` of one (``elapsed == approx(1.5, abs=0.2)``).
Not flagged: an equality between two such values (one measure reported in two places), or with a
computed expectation (a retry due exactly ``duration_ms`` after its attempt's start), and anything
that is not an ``assert`` (a polling loop's deadline that calls ``pytest.fail("hang guard: ...")``).

A lower bound (the value on the greater side: "it waited at least the timeout") is behaviour, since
load can only make things later; it is allowed when it says so in a ``# lower bound: why`` comment
on one of the assert's lines or the line above. The comment does not excuse an upper bound.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

CLOCK_FUNCTIONS = frozenset(
    {"perf_counter", "perf_counter_ns", "monotonic", "monotonic_ns", "time", "time_ns"}
)
"""Functions of the ``time`` module that read the real clock."""

REAL_TIME_NAME = re.compile(
    r"""(?x)
    (^|_)(elapsed|latency|latencies|took|wall)(_|$)   # elapsed, api_latencies, wall_s, took_ms
    | ^(duration|first_chunk|last_chunk)_ms$          # the emulator's records
    | ^(latencyMs|durationMs|firstChunkMs|lastChunkMs)$  # ... and their JSON
    | ^seconds$                                       # watch.seconds, a helper's seconds parameter
    """
)
"""Parameters, attributes and string keys that hold a real-time measure."""

LOWER_BOUND = "# lower bound:"

_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_EQUALITY = (ast.Eq, ast.NotEq)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


@dataclass(frozen=True)
class Problem:
    line: int
    message: str

    def at(self, path: str) -> str:
        return f"{path}:{self.line}: {self.message}"


def wall_clock_asserts(source: str) -> list[Problem]:
    """Every assert in ``source`` that compares a value from the real clock, but for lower bounds
    marked ``# lower bound: ...``."""
    tree = ast.parse(source)
    comments = _lower_bound_lines(source)
    return sorted(_Checker(tree, comments).problems, key=lambda p: p.line)


def _lower_bound_lines(source: str) -> set[int]:
    lines = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and token.string.startswith(LOWER_BOUND):
            lines.add(token.start[0])
    return lines


class _Checker:
    def __init__(self, tree: ast.Module, lower_bound_lines: set[int]) -> None:
        self.clock_names = _clock_names(tree)  # from time import perf_counter [as clock]
        self.lower_bound_lines = lower_bound_lines
        self.problems: list[Problem] = []
        self._scope(tree, frozenset())

    # -- what is real time -----------------------------------------------------------------------

    def is_clock_call(self, node: ast.AST) -> bool:
        if not isinstance(node, ast.Call):
            return False
        func = node.func
        if isinstance(func, ast.Name):
            return func.id in self.clock_names
        if not isinstance(func, ast.Attribute):
            return False
        if isinstance(func.value, ast.Name) and func.value.id == "time":
            return func.attr in CLOCK_FUNCTIONS
        return func.attr == "time" and _is_loop(func.value)

    def tainted(self, node: ast.AST, names: frozenset[str]) -> bool:
        for part in ast.walk(node):
            if self.is_clock_call(part):
                return True
            if isinstance(part, ast.Name) and part.id in names:
                return True
            if isinstance(part, ast.Attribute) and REAL_TIME_NAME.search(part.attr):
                return True
            if isinstance(part, ast.Subscript) and _is_real_time_key(part.slice):
                return True
        return False

    # -- scopes ----------------------------------------------------------------------------------

    def _scope(self, scope: ast.AST, outer: frozenset[str]) -> None:
        """Work out the names of this function (or module) that hold real time, then check its
        asserts and, with those names, the functions inside it."""
        own = list(_own_nodes(scope))
        names = set(outer)
        if isinstance(scope, _FUNCTIONS):
            names.update(a.arg for a in _arguments(scope.args) if REAL_TIME_NAME.search(a.arg))
        changed = True
        while changed:  # until no assignment adds a name: `a = clock(); b = a - c` in any order
            changed = False
            for node in own:
                for target in self._targets_tainted_by(node, frozenset(names)):
                    if target not in names:
                        names.add(target)
                        changed = True
        frozen = frozenset(names)
        for node in own:
            if isinstance(node, ast.Assert):
                self._check_assert(node, frozen)
            elif isinstance(node, _FUNCTIONS):
                self._scope(node, frozen)

    def _targets_tainted_by(self, node: ast.AST, names: frozenset[str]) -> Iterator[str]:
        if isinstance(node, ast.Assign) and self.tainted(node.value, names):
            for target in node.targets:
                yield from _bound_names(target)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
            if node.value is not None and self.tainted(node.value, names):
                yield from _bound_names(node.target)
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)) and self.tainted(node.iter, names):
            yield from _bound_names(node.target)

    # -- asserts ---------------------------------------------------------------------------------

    def _check_assert(self, node: ast.Assert, names: frozenset[str]) -> None:
        first = node.lineno
        last = node.end_lineno or first
        marked = any(line in self.lower_bound_lines for line in range(first - 1, last + 1))
        for compare in (n for n in ast.walk(node.test) if isinstance(n, ast.Compare)):
            operands = [compare.left, *compare.comparators]
            for op, left, right in zip(compare.ops, operands, operands[1:], strict=False):
                problem = self._judge(op, left, right, names, marked)
                if problem:
                    self.problems.append(Problem(compare.lineno, problem))

    def _judge(
        self, op: ast.cmpop, left: ast.expr, right: ast.expr, names: frozenset[str], marked: bool
    ) -> str:
        if not isinstance(op, (*_ORDERING, *_EQUALITY)):
            return ""
        left_real, right_real = self.tainted(left, names), self.tainted(right, names)
        text = f"{ast.unparse(left)} {_SYMBOL[type(op)]} {ast.unparse(right)}"
        if isinstance(op, _ORDERING) and (left_real or right_real):
            greater_is_real = left_real if isinstance(op, (ast.Gt, ast.GtE)) else right_real
            smaller_is_real = right_real if isinstance(op, (ast.Gt, ast.GtE)) else left_real
            if greater_is_real and not smaller_is_real:
                if marked:
                    return ""
                return (
                    f"a wall-clock lower bound ({text}): say why it is behaviour with "
                    f"'{LOWER_BOUND} ...' on the assert, or assert the virtual clock or the order of events"
                )
            return (
                f"a wall-clock comparison ({text}) depends on how loaded the machine is: assert the "
                "virtual clock, the order of events or the behaviour (figures go to bench/)"
                + (f"; '{LOWER_BOUND}' excuses lower bounds only" if marked else "")
            )
        if isinstance(op, _EQUALITY) and left_real != right_real:
            expectation = right if left_real else left
            if _is_constant_expectation(expectation) and not self.tainted(expectation, names):
                return f"a wall-clock value compared with a constant ({text}): it is a timing coincidence"
        return ""


_SYMBOL: dict[type[ast.cmpop], str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
}


def _clock_names(tree: ast.Module) -> frozenset[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "time":
            names.update(a.asname or a.name for a in node.names if a.name in CLOCK_FUNCTIONS)
    return frozenset(names)


def _is_real_time_key(key: ast.expr) -> bool:
    return (
        isinstance(key, ast.Constant)
        and isinstance(key.value, str)
        and bool(REAL_TIME_NAME.search(key.value))
    )


def _is_loop(node: ast.expr) -> bool:
    """``loop``, ``self.loop``, ``asyncio.get_running_loop()``: something whose ``time()`` is an
    event loop's monotonic clock."""
    if isinstance(node, ast.Call):
        return _name_of(node.func) in ("get_running_loop", "get_event_loop")
    return _name_of(node).endswith("loop")


def _name_of(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _own_nodes(scope: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a scope's body, not descending into the functions inside it (which are
    yielded, not entered)."""
    children: Iterable[ast.AST]
    if isinstance(scope, ast.Lambda):
        children = [scope.body]
    elif isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Module)):
        children = scope.body
    else:
        children = ast.iter_child_nodes(scope)
    for child in children:
        yield child
        if not isinstance(child, _FUNCTIONS):
            yield from _own_nodes(child)


def _arguments(args: ast.arguments) -> list[ast.arg]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    return every + [a for a in (args.vararg, args.kwarg) if a is not None]


def _bound_names(target: ast.AST) -> Iterator[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _bound_names(element)
    elif isinstance(target, ast.Starred):
        yield from _bound_names(target.value)


def _is_constant_expectation(node: ast.expr) -> bool:
    """A number, or ``approx(...)`` / ``pytest.approx(...)`` of something."""
    if isinstance(node, ast.UnaryOp):
        node = node.operand
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
    return isinstance(node, ast.Call) and _name_of(node.func) == "approx"
