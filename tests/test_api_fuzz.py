"""API fuzzing: schemathesis against the emulator's own ``/openapi.json``, every operation.

One test per resource (tag), so ``-n 2`` shares the work; each runs its operations' positive and
negative cases from a seeded account (tests/api_fuzz_support.py) and fails listing every problem:
a 5xx, an answer that breaks its documented schema, a 4xx that is not the real error shape.

The example count per operation and mode is ``AGENTPHONE_FUZZ_EXAMPLES`` (CI default below);
``bench/fuzz_bench.py`` runs the same at hundreds. The seed differs every run and is printed
(``fuzz seed: N``); ``AGENTPHONE_FUZZ_SEED=N`` replays it (tests/fuzz_seed.py). Hypothesis' health
checks are all on, and an operation whose cases cannot be generated fails the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from schemathesis.schemas import APIOperation

from agentphone_emulator import Emulator
from agentphone_emulator.api.app import RESOURCE_MODULES
from tests.api_fuzz_support import (
    Seeded,
    api_operations,
    can_be_invalid,
    error_shape_problem,
    examples_per_operation,
    load_schema,
    operation_seed,
    run_operation,
    seed,
    serve_in_thread,
)
from tests.fuzz_seed import SEED_ENV, replay_hint, run_seed

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
def test_fuzz_resource(target: Target, tag: str, fuzz_seed: int) -> None:
    examples = examples_per_operation(CI_EXAMPLES)
    problems: list[str] = []
    cases = 0
    for operation in (op for op in target.operations if op.tags and op.tags[0] == tag):
        tally = target.seeded.run(operation, examples, seed_value=operation_seed(fuzz_seed, operation))
        cases += tally.cases
        problems += [f"{operation.label}: {problem}\n    {curl}" for problem, curl in tally.problems.items()]
    assert cases > 0
    assert problems == [], "\n".join([*problems, f"replay: {replay_hint(fuzz_seed)}"])


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


# -- a fuzzer that cannot generate is a failure, not a pass --------------------------------------------


def contradictory_app(body_schema: dict[str, object]) -> web.Application:
    """A one-operation API whose request body must match ``body_schema``."""
    schema = {
        "openapi": "3.1.0",
        "info": {"title": "contradictory", "version": "1"},
        "paths": {
            "/things": {
                "post": {
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": body_schema}},
                    },
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(schema)

    async def things(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/openapi.json", openapi)
    app.router.add_post("/things", things)
    return app


@pytest.mark.parametrize(
    ("body_schema", "kind"),
    [
        # No integer is at least 10 and at most 5: schemathesis sees the schema is empty.
        ({"type": "integer", "minimum": 10, "maximum": 5}, "UnsatisfiableSchema"),
        # Only "a" matches the pattern and "a" is excluded: Hypothesis exhausts every input.
        ({"type": "string", "pattern": "^a$", "not": {"const": "a"}}, "Unsatisfiable"),
        # Every email has an "@": each draw is filtered out, and the filter_too_much health check says so.
        ({"type": "string", "format": "email", "not": {"pattern": "@"}}, "FailedHealthCheck"),
    ],
)
def test_an_operation_that_cannot_be_generated_fails_the_run(
    body_schema: dict[str, object], kind: str
) -> None:
    with serve_in_thread(contradictory_app(body_schema)) as url:
        (operation,) = api_operations(load_schema(url))
        tally = run_operation(url, "key", operation, 6)
    assert [problem for problem in tally.problems if problem.startswith(f"{kind} (positive cases)")], (
        tally.problems
    )


def test_negative_cases_are_asked_only_of_operations_that_can_take_a_wrong_input(target: Target) -> None:
    # The one operation with nothing to get wrong: public, a free-form id in its path, no body.
    cannot = [op.label for op in target.operations if not can_be_invalid(op)]
    assert cannot == ["GET /v1/calls/{call_id}/recording"]


def test_the_seed_comes_from_the_environment_or_is_chosen_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SEED_ENV, "4242")
    assert run_seed() == 4242
    monkeypatch.delenv(SEED_ENV)
    chosen = run_seed()
    assert str(chosen) == os.environ[SEED_ENV]  # later calls and workers agree
    assert run_seed() == chosen
    monkeypatch.setenv(SEED_ENV, "soon")
    with pytest.raises(ValueError, match=f"{SEED_ENV} must be an integer, got 'soon'"):
        run_seed()


def test_the_seed_is_printed_for_a_replay(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SEED_ENV, "31337")
    pytester.makepyfile(test_fuzzy="def test_it(fuzz_seed):\n    assert fuzz_seed == 31337\n")
    result = pytester.runpytest(
        "-p", "tests.fuzz_seed", "-o", "asyncio_default_fixture_loop_scope=function", "--junitxml=out.xml"
    )
    result.assert_outcomes(passed=1)
    hint = f"fuzz seed: 31337 (replay: {SEED_ENV}=31337 python -m pytest tests/test_api_fuzz.py)"
    assert result.stdout.lines.count(hint) == 2  # after collection, and in the summary
    assert '<property name="fuzz_seed" value="31337"' in (pytester.path / "out.xml").read_text()
