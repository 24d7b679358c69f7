"""Schemathesis against the emulator's own ``/openapi.json``: the seeded account, the cases, the checks.

Shared by ``tests/test_api_fuzz.py`` (CI, a few examples per operation) and ``bench/fuzz_bench.py``
(hundreds). Every case starts from the same seeded state (a snapshot restored before the request),
so a run is stable and a failure replays; path parameters are half the time the seeded resources'
real ids, so fuzzing reaches past the 404 into the handlers' own code.

Checks on every answer: no 5xx, the answer matches the operation's documented schema, and every
4xx is the real error shape: ``{"detail": str, ...}``, or for 422 FastAPI's
``{"detail": [{"type", "loc", "msg", "input"}, ...]}``. An operation whose cases cannot be
generated (its strategy unsatisfiable, or tripping one of Hypothesis' health checks) is a problem
too: a fuzzer that silently generates nothing is not fuzzing.

The seed varies per run and is printed; ``AGENTPHONE_FUZZ_SEED`` replays one (tests/fuzz_seed.py).
"""

from __future__ import annotations

import asyncio
import os
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
import schemathesis
from aiohttp import web
from hypothesis import Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import FailedHealthCheck, Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import response_schema_conformance

from agentphone_emulator import AccountSettings, Emulator
from agentphone_emulator.store.account import StateSnapshot

EXAMPLES_ENV = "AGENTPHONE_FUZZ_EXAMPLES"

ROOMY = AccountSettings(
    credit_cents=10_000_000, number_limit=10_000, require_10dlc=False, recording_addon=True
)
"""Room for anything a case asks: credit, numbers, outbound texts, recordings."""

CALLEE = "+14155550199"


def examples_per_operation(default: int) -> int:
    raw = os.environ.get(EXAMPLES_ENV, "")
    return int(raw) if raw.strip() else default


def operation_seed(run_seed: int, operation: APIOperation) -> int:
    """One operation's seed, from the run's: stable for a given run seed whatever else is run."""
    return run_seed ^ zlib.crc32(operation.label.encode())


@dataclass
class Seeded:
    """The seeded state: a snapshot to go back to and the ids a path parameter may take."""

    emulator: Emulator
    snapshot: StateSnapshot
    ids: dict[str, str]

    def restore(self) -> None:
        self.emulator.restore(self.snapshot)

    def run(self, operation: APIOperation, examples: int, seed_value: int = 0) -> Tally:
        """One operation's cases against the seeded emulator, each from the seeded state."""
        return run_operation(
            self.emulator.base_url,
            self.emulator.api_key,
            operation,
            examples,
            before_each=self.restore,
            ids=self.ids,
            seed_value=seed_value,
        )


def seed(emulator: Emulator) -> Seeded:
    """One of everything, through the REST API, then the snapshot every case starts from."""
    emulator.reset(ROOMY)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {emulator.api_key}"

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = session.request(method, emulator.base_url + path, json=body, timeout=10)
        assert response.status_code < 300, f"seeding {method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    agent = call("POST", "/v1/agents", {"name": "Fuzz", "voiceMode": "webhook"})
    number = call("POST", "/v1/numbers", {"agentId": agent["id"]})
    contact = call("POST", "/v1/contacts", {"phoneNumber": "+14155550123", "name": "Bob"})
    call("POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/hook"})
    trunk = call("POST", "/v1/sip-trunks", {"name": "Trunk"})
    sub = call("POST", "/v1/sub-accounts", {"name": "Sub"})
    whatsapp = call("POST", "/integrations/whatsapp/connect", {"code": "fuzz"})
    message = call("POST", "/v1/messages", {"agent_id": agent["id"], "to_number": CALLEE, "body": "hi"})
    placed = call("POST", "/v1/calls", {"agentId": agent["id"], "toNumber": CALLEE})
    # Ended, so its transcript stream answers at once instead of holding the case open.
    call("POST", f"/v1/calls/{placed['id']}/end")
    emulator.settle()
    conversations = call("GET", "/v1/conversations")
    ids = {
        "agent_id": agent["id"],
        "number_id": number["id"],
        "contact_id": contact["id"],
        "trunk_id": trunk["id"],
        "sub_account_id": sub["id"],
        "connection_id": whatsapp["connection_id"],
        "message_id": message.get("id") or message.get("messageId") or "",
        "call_id": placed["id"],
        "conversation_id": conversations["data"][0]["id"] if conversations.get("data") else "",
        "phone_number": number["phoneNumber"],
    }
    return Seeded(emulator, emulator.snapshot(), {k: v for k, v in ids.items() if v})


def load_schema(base_url: str) -> BaseSchema:
    return schemathesis.openapi.from_url(base_url + "/openapi.json")


def api_operations(schema: BaseSchema) -> list[APIOperation]:
    """Every operation but the control plane (it has its own document and no key)."""
    operations = [result.ok() for result in schema.get_all_operations()]
    return [op for op in operations if not op.path.startswith("/__emulator")]


def can_be_invalid(operation: APIOperation) -> bool:
    """Whether a negative case of ``operation`` can exist: it checks a key (a wrong one is a negative
    case), takes a body, or has a parameter whose schema says more than "a string". A public
    operation whose only input is a free-form string in the URL (a recording's call id) has nothing
    to get wrong, so every negative draw would be filtered out: asking for some is an unsatisfiable
    strategy, not a test."""
    if operation.definition.raw.get("security") or len(operation.body):
        return True
    params = [*operation.path_parameters, *operation.query, *operation.headers, *operation.cookies]
    return any(dict(param.definition.get("schema") or {}) != {"type": "string"} for param in params)


def with_real_ids(ids: dict[str, str]) -> Callable[[Case], st.SearchStrategy[Case]]:
    """A case as generated, or with its path parameters swapped for the seeded resources' ids."""

    def swap(case: Case) -> st.SearchStrategy[Case]:
        if not case.path_parameters or not any(name in ids for name in case.path_parameters):
            return st.just(case)

        def real(use: bool) -> Case:
            if use:
                case.path_parameters = {
                    name: ids.get(name, value) for name, value in case.path_parameters.items()
                }
            return case

        return st.booleans().map(real)

    return swap


def error_shape_problem(status: int, body: Any) -> str | None:
    """Why a 4xx body is not the real error shape, or None when it is."""
    if not isinstance(body, dict) or "detail" not in body:
        return f"{status} without a top-level detail: {body!r:.200}"
    detail = body["detail"]
    if status != 422:
        return (
            None
            if isinstance(detail, str) and detail
            else f"{status} detail is not a message: {detail!r:.200}"
        )
    if not isinstance(detail, list) or not detail:
        return f"422 detail is not FastAPI's list: {detail!r:.200}"
    for item in detail:
        if not (
            isinstance(item, dict)
            and isinstance(item.get("type"), str)
            and isinstance(item.get("msg"), str)
            and isinstance(item.get("loc"), list)
            and all(isinstance(part, str | int) for part in item["loc"])
            and "input" in item
        ):
            return f"422 entry is not {{type, loc, msg, input}}: {item!r:.200}"
    return None


@dataclass
class Tally:
    """What one operation's cases got: statuses by class, and every problem seen (deduplicated)."""

    cases: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    problems: dict[str, str] = field(default_factory=dict)

    def add_problem(self, kind: str, message: str, case: Case | None) -> None:
        key = f"{kind}: {message.splitlines()[0] if message else ''}"[:300]
        replay = "no case" if case is None else case.as_curl_command(headers={"Authorization": "Bearer ***"})
        self.problems.setdefault(key, replay)


# Not `positive_data_acceptance`: the schema cannot say "E.164", "a CIDR", "an IANA timezone" or a
# rule across fields, so schema-valid bodies earn 422s the real API gives too. Not
# `negative_data_rejection`: pydantic's lax mode (the real API's too) takes `0` for a date-time.
# The 405's `Allow` (schemathesis' `unsupported_method`) is tested in tests/test_errors.py.
CHECKS = [not_a_server_error, response_schema_conformance]


def run_operation(
    base_url: str,
    api_key: str,
    operation: APIOperation,
    examples: int,
    *,
    before_each: Callable[[], None] = lambda: None,
    ids: dict[str, str] | None = None,
    seed_value: int = 0,
    timeout: float = 10.0,
) -> Tally:
    """``examples`` positive and ``examples`` negative cases of one operation, ``before_each``
    (e.g. restoring the seeded state) before each; problems are collected, not raised, so one run
    reports them all."""
    tally = Tally()
    session = requests.Session()
    auth = {"Authorization": f"Bearer {api_key}"}

    def one(case: Case) -> None:
        before_each()
        tally.cases += 1
        try:
            response = case.call(base_url=base_url, session=session, headers=auth, timeout=timeout)
        except requests.RequestException as exc:
            tally.statuses["error"] += 1
            tally.add_problem("network", f"{type(exc).__name__}: {exc}", case)
            return
        status = response.status_code
        tally.statuses[f"{status // 100}xx"] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=auth)
        except AssertionError as exc:  # schemathesis' FailureGroup / Failure are AssertionErrors
            for failure in getattr(exc, "exceptions", [exc]):
                tally.add_problem(getattr(failure, "title", type(failure).__name__), str(failure), case)
        if 400 <= status < 500:
            try:
                body = response.json()
            except ValueError:
                body = response.text
            problem = error_shape_problem(status, body)
            if problem is not None:
                tally.add_problem("error shape", problem, case)

    swap = with_real_ids(ids or {})
    modes = [GenerationMode.POSITIVE]
    if can_be_invalid(operation):
        modes.append(GenerationMode.NEGATIVE)
    for mode in modes:
        strategy = operation.as_strategy(generation_mode=mode).flatmap(swap)
        test = settings(
            max_examples=examples,
            phases=[Phase.explicit, Phase.generate],
            # Every health check on: one that trips means cases are not being generated as meant.
            database=None,
            deadline=None,
            derandomize=False,
            print_blob=False,
        )(given(strategy)(one))
        try:
            hypothesis_seed(seed_value)(test)()
        except (Unsatisfiable, FailedHealthCheck) as exc:
            # Not fuzzing is a failure: recorded like any other problem, so the run lists it.
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            tally.add_problem(f"{type(exc).__name__} ({mode.value} cases)", first, None)
    return tally


@contextmanager
def serve_in_thread(app: web.Application) -> Iterator[str]:
    """Serve ``app`` on a loopback port from a thread of this process, as Emulator.run_in_thread."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    url: list[str] = []
    runner = web.AppRunner(app, access_log=None)

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        url.append(f"http://127.0.0.1:{port}")
        started.set()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield url[0]
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
