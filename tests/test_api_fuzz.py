"""API fuzzing: schemathesis against the emulator's own ``/openapi.json``, every operation.

One test per resource (tag), so ``-n 2`` shares the work; each runs its operations' positive and
negative cases from a seeded account (tests/api_fuzz_support.py) and fails listing every problem:
a 5xx, an answer that breaks its documented schema, a 4xx that is not the real error shape.

The example count per operation and mode is ``AGENTPHONE_FUZZ_EXAMPLES`` (CI default below);
``bench/fuzz_bench.py`` runs the same at hundreds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from schemathesis.schemas import APIOperation

from agentphone_emulator import Emulator
from agentphone_emulator.api.app import RESOURCE_MODULES
from tests.api_fuzz_support import (
    Seeded,
    api_operations,
    error_shape_problem,
    examples_per_operation,
    load_schema,
    seed,
)

CI_EXAMPLES = 6
TAGS = [module.router.tag for module in RESOURCE_MODULES]


@dataclass
class Target:
    emulator: Emulator
    seeded: Seeded
    operations: list[APIOperation]


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    # An emulator of its own: the fuzz account is reconfigured and restored thousands of times.
    with Emulator.run_in_thread() as emulator:
        seeded = seed(emulator)
        yield Target(emulator, seeded, api_operations(load_schema(emulator.base_url)))


def test_every_operation_is_fuzzed(target: Target) -> None:
    untagged = [op.label for op in target.operations if not op.tags or op.tags[0] not in TAGS]
    assert untagged == []
    assert len(target.operations) > 80  # a loading slip would otherwise pass vacuously


@pytest.mark.parametrize("tag", TAGS)
def test_fuzz_resource(target: Target, tag: str) -> None:
    examples = examples_per_operation(CI_EXAMPLES)
    problems: list[str] = []
    cases = 0
    for index, operation in enumerate(op for op in target.operations if op.tags and op.tags[0] == tag):
        tally = target.seeded.run(operation, examples, seed_value=index)
        cases += tally.cases
        problems += [f"{operation.label}: {problem}\n    {curl}" for problem, curl in tally.problems.items()]
    assert cases > 0
    assert problems == [], "\n".join(problems)


# The error-shape check is ours, so it is tested like any other code: it must refuse what is wrong.
@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, {"detail": "Agent not found"}),
        (402, {"detail": "Insufficient balance", "code": "INSUFFICIENT_BALANCE"}),
        (
            422,
            {"detail": [{"type": "missing", "loc": ["body", "name"], "msg": "Field required", "input": {}}]},
        ),
    ],
)
def test_error_shape_accepts_the_real_shapes(status: int, body: object) -> None:
    assert error_shape_problem(status, body) is None


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, {"error": "not found"}),
        (404, "Not Found"),
        (400, {"detail": ["a list"]}),
        (409, {"detail": ""}),
        (422, {"detail": "Invalid phone number"}),
        (422, {"detail": [{"loc": ["body"], "msg": "bad"}]}),
        (422, {"detail": [{"type": "x", "loc": [None], "msg": "bad", "input": 1}]}),
    ],
)
def test_error_shape_refuses_other_shapes(status: int, body: object) -> None:
    assert error_shape_problem(status, body) is not None
