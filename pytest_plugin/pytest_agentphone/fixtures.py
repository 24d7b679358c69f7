"""The fixtures a user's suite gets by installing the package.

``emulator`` is the session's emulator (one per process, on a background thread) on a fresh state:
the pytest-httpserver pattern, start once and reset cheaply per test. ``async_emulator`` is one
started on the test's own event loop, for async tests whose agent is an aiohttp app on that loop.
``make_agent`` puts the user's agent on a number; the SDK clients talk to the emulator the test uses.

During a test that uses an emulator, the agent's AGENTPHONE_BASE_URL, AGENTPHONE_API_KEY and
AGENTPHONE_WEBHOOK_SECRET point at it (and are put back after), so an in-process agent calls the
emulator back and verifies signatures as it would in production.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from agentphone_emulator.agent_env import agent_environment
from agentphone_emulator.app_reference import importable_from, is_app_reference

from .ledger import Ledger
from .options import PluginOptions, SettingsError, account_settings
from .service import OPTIONS_KEY, SERVICE_KEY, ServiceError

if TYPE_CHECKING:  # imported where used: loading the plugin must not load the emulator
    from agentphone_emulator import AccountSettings, Emulator
    from agentphone_emulator.store.findings import Finding

    from .agents import AgentUnderTest

LEDGER_KEY = pytest.StashKey[Ledger]()
USED_KEY = pytest.StashKey["Emulator"]()
FAILED_KEY = pytest.StashKey[bool]()

MakeAgent = Callable[..., "AgentUnderTest"]


def _options(request: pytest.FixtureRequest) -> PluginOptions:
    return request.config.stash[OPTIONS_KEY]


def account_for(request: pytest.FixtureRequest) -> AccountSettings:
    """The ini's account settings, changed by ``agentphone_account`` markers (the closest wins)."""
    from agentphone_emulator import AccountSettings

    settings = _options(request).account or AccountSettings()
    for marker in reversed(list(request.node.iter_markers("agentphone_account"))):
        if marker.args:
            pytest.fail(
                f"{request.node.nodeid}: @pytest.mark.agentphone_account takes settings by name "
                f"(credit_cents=10_000), not {marker.args!r}",
                pytrace=False,
            )
        try:
            settings = account_settings(marker.kwargs, "@pytest.mark.agentphone_account", base=settings)
        except SettingsError as exc:
            problem = str(exc)
        else:
            continue
        pytest.fail(f"{request.node.nodeid}: {problem}", pytrace=False)
    return settings


@contextlib.contextmanager
def watching(request: pytest.FixtureRequest, emulator: Emulator) -> Iterator[None]:
    """What both emulator fixtures do around a test: the agent's environment, the codes the test's
    markers allow, and the failure report's view of this emulator."""
    from .findings import check_codes

    node = request.node
    ledger = node.stash.setdefault(LEDGER_KEY, Ledger())
    for marker in node.iter_markers("agentphone_allow_findings"):
        try:  # a misspelt code would allow nothing, silently: say so, as assert_findings does
            codes = check_codes(marker.args)
        except ValueError as exc:
            problem = str(exc)
        else:
            ledger.named.update(codes)
            continue
        pytest.fail(f"{node.nodeid}: @pytest.mark.agentphone_allow_findings: {problem}", pytrace=False)
    node.stash[USED_KEY] = emulator
    with agent_environment(emulator.base_url, emulator.api_key, _options(request).secret):
        yield


def check_findings(request: pytest.FixtureRequest, findings: list[Finding]) -> None:
    """Fail the test (at teardown) for findings at the policy's severity it never named."""
    from .findings import describe, unexpected

    policy = _options(request).findings
    node = request.node
    if policy == "off" or node.stash.get(FAILED_KEY, False):
        return  # a failed test's report already lists every finding
    named = node.stash[LEDGER_KEY].named if LEDGER_KEY in node.stash else set()
    bad = unexpected(findings, named, policy)
    if bad:
        noun = "finding" if len(bad) == 1 else "findings"
        pytest.fail(
            f"the agent broke the platform's contract: {len(bad)} {noun} the test did not expect\n"
            f"{describe(bad)}\n"
            "(expected? assert_findings(emulator, code), @pytest.mark.agentphone_allow_findings(code), "
            "or agentphone_findings = off)",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def agentphone_server(pytestconfig: pytest.Config) -> Emulator:
    """The session's emulator as it is, never reset: for session-scoped setup of your own. Tests
    want ``emulator``, which is this one on a fresh state.

    Returns:
        The emulator, on a virtual clock, served on a background thread (one per process, or
            per xdist worker).
    """
    try:
        return pytestconfig.stash[SERVICE_KEY].get()
    except ServiceError as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)


@pytest.fixture
def emulator(request: pytest.FixtureRequest, agentphone_server: Emulator) -> Iterator[Emulator]:
    """The AgentPhone platform on a fresh state: no agents, numbers, calls or findings, the account
    as the ini and ``@pytest.mark.agentphone_account(...)`` say, the virtual clock at its start.

    At teardown, an error finding whose code the test never named fails it (``assert_findings``,
    ``@pytest.mark.agentphone_allow_findings``, or ``agentphone_findings = off`` in the ini).

    Yields:
        The session's emulator, reset; use its blocking methods (``emulator.ring(...)``) or,
            from an async test, its ``a``-methods.
    """
    agentphone_server.reset(account_for(request))
    with watching(request, agentphone_server):
        yield agentphone_server

        async def settled_findings() -> list[Finding]:
            await agentphone_server.asettle()  # a delivery still in flight belongs to this test
            return list(agentphone_server.account().findings)

        # One hop to the emulator's thread, not two: the hop is most of a test's cost here.
        findings = agentphone_server.run_coroutine(settled_findings, name="settle")
    check_findings(request, findings)


try:
    import pytest_asyncio
except ImportError:  # without it, the async fixtures say what to install
    HAVE_ASYNCIO = False
else:
    HAVE_ASYNCIO = True


def async_fixture(fixture: Callable[..., Any]) -> Any:
    """``pytest_asyncio.fixture``; without pytest-asyncio, a fixture of the same name that fails
    the test saying what to install. (One definition per fixture, whichever it is: the reference
    docs read this module without running it, with griffe.)"""
    if HAVE_ASYNCIO:
        return pytest_asyncio.fixture(fixture)
    name = fixture.__name__

    @pytest.fixture(name=name)
    def missing() -> Any:
        pytest.fail(f"{name} needs pytest-asyncio: pip install pytest-asyncio", pytrace=False)

    return missing


@async_fixture
async def async_emulator(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    """An emulator of the test's own, on the test's event loop (pytest-asyncio, pytest-aiohttp):
    await its ``a``-methods; an aiohttp app on this loop can be the agent. Same account and
    findings rule as ``emulator``.

    Yields:
        (Emulator): A started emulator on a virtual clock, stopped after the test.
    """
    from agentphone_emulator import Emulator, VirtualClock

    emulator = Emulator(
        clock=VirtualClock(), settings=account_for(request), api_keys=_options(request).api_keys
    )
    await emulator.start()
    try:
        with watching(request, emulator):
            yield emulator
            await emulator.asettle()
    finally:
        await emulator.stop()
    check_findings(request, emulator.findings())


@async_fixture
async def agentphone_async_client(current_emulator: Emulator) -> AsyncIterator[Any]:
    """The official async SDK, ``AsyncAgentPhone``, on the emulator the test uses.

    Yields:
        (agentphone.AsyncAgentPhone): The SDK's async client, closed after the test.
    """
    sdk = _sdk()
    client = sdk.AsyncAgentPhone(api_key=current_emulator.api_key, base_url=current_emulator.base_url)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def current_emulator(request: pytest.FixtureRequest) -> Emulator:
    """The emulator this test uses: ``async_emulator`` if it asks for it, else ``emulator``.

    Returns:
        That emulator (what ``make_agent`` and the SDK client fixtures use).
    """
    name = "async_emulator" if "async_emulator" in request.fixturenames else "emulator"
    emulator: Emulator = request.getfixturevalue(name)
    return emulator


@pytest.fixture
def agentphone_client(emulator: Emulator) -> Iterator[Any]:
    """The official SDK, ``AgentPhone``, on ``emulator`` (synchronous: for sync tests).

    Yields:
        (agentphone.AgentPhone): The SDK's client, closed after the test.
    """
    with _sdk().AgentPhone(api_key=emulator.api_key, base_url=emulator.base_url) as client:
        yield client


def _sdk() -> Any:
    try:
        import agentphone
    except ImportError:
        pass
    else:
        return agentphone
    # Outside the except: pytest would print the ImportError above the message.
    pytest.fail("the SDK client fixtures need the official SDK: pip install agentphone", pytrace=False)


@pytest.fixture
def make_agent(request: pytest.FixtureRequest, current_emulator: Emulator) -> MakeAgent:
    """Make an agent under test: ``make_agent(target=None, **fields)``.

    ``target`` is where its webhooks go: a URL, ``"module:attr"`` (add a path: ``myagent:app/voice``)
    or an ASGI / WSGI / aiohttp app object; by default the ini's ``agentphone_app`` or
    ``agentphone_webhook``. ``fields`` are the agent's (``begin_message``, ``transferNumber`` ...,
    by Python or wire name), plus ``path``, ``secret``, ``timeout`` (seconds, fractions allowed),
    ``context_limit``, ``area_code`` and ``number_type`` for its webhook and number.

    A mistake (an unknown field, no credit for the number, an app that cannot be imported) fails
    the test with one line naming it.

    Returns:
        (Callable[..., AgentUnderTest]): The function; each call creates an agent, buys its
            number, points its webhook, and returns the agent.
    """
    from .agents import ProvisionError, provision

    options = _options(request)
    count = itertools.count(1)

    def make(target: Any = None, **fields: Any) -> AgentUnderTest:
        chosen = target if target is not None else options.target
        if chosen is None:
            pytest.fail(
                "make_agent: no agent to point the webhook at: pass make_agent('myagent.server:app') "
                "or a URL, or set agentphone_app / agentphone_webhook in the ini file",
                pytrace=False,
            )
        if isinstance(chosen, str) and is_app_reference(chosen):
            importable_from(str(options.rootpath))
        try:
            return provision(
                current_emulator, chosen, default_secret=options.secret, index=next(count), options=fields
            )
        except ProvisionError as exc:
            problem = str(exc)
        pytest.fail(f"make_agent: {problem}", pytrace=False)  # outside the except: no chained traceback

    return make
