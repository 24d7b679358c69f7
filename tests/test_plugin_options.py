"""The pytest plugin's command-line options and ini keys, run with ``pytester`` as a user runs pytest.

Covers: ``pytest --help`` (the ``agentphone`` group and the ini keys, also with a wrong ini); each
ini key and its command-line twin taking effect, the command line winning (the agent as an app or a
webhook URL, the signing secret, the account, scenario variables, the findings policy, the port,
and a taken port); every configuration mistake as a one-line usage error (exit status 4, no
traceback); and, as properties, the parser of ``NAME=VALUE`` account settings.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
from typing import Any

import pytest
from agentphone import WebhookVerificationError, verify_webhook
from hypothesis import given
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from agentphone_emulator.settings import AccountSettings
from pytest_agentphone.options import SettingsError, account_settings, parse_pairs
from tests.helpers import free_port
from tests.plugin_support import section

# hypothesis is imported (above) before pytester's first in-process run: pytester drops the modules a
# run imported, and hypothesis's pytest plugin imports it at the end of every run, so otherwise each
# inner run would import it again (a second each instead of a tenth).

# Every inner ini sets the loop scope (pytest-asyncio warns in every run without it) and leaves out
# pytest-benchmark where it is installed (it warns in every run inside an xdist worker).
BASE_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = -p no:benchmark\n"

# A FastAPI agent that checks every signature with $AGENTPHONE_WEBHOOK_SECRET, as a real one does
# (401 otherwise), and answers a caller with "NAME: <words>"; its /warn route adds a field the
# platform does not know (voice_unknown_field, a warning), /broken answers bytes that are not JSON
# (voice_invalid_json, an error).
AGENT = """
import json
import os

from agentphone import WebhookVerificationError, verify_webhook
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

app = FastAPI()


@app.post("/{route:path}")
async def hook(route: str, request: Request) -> Response:
    body = await request.body()
    try:
        verify_webhook(
            body,
            request.headers["X-Webhook-Signature"],
            os.environ["AGENTPHONE_WEBHOOK_SECRET"],
            request.headers["X-Webhook-Timestamp"],
        )
    except (KeyError, WebhookVerificationError):
        return JSONResponse({"detail": "invalid signature"}, status_code=401)
    envelope = json.loads(body)
    if envelope["event"] != "agent.message" or envelope["channel"] != "voice":
        return JSONResponse({"ok": True})
    said = envelope["data"]["transcript"]
    if route == "warn":
        return JSONResponse({"text": said, "mood": "cheerful"})
    if route == "broken":
        return Response(b"not json", media_type="application/json")
    return JSONResponse({"text": "NAME: " + said})
"""


def agent(name: str) -> str:
    return AGENT.replace("NAME", name)


def say_scenario(said: str, expected: str, *, extra: str = "", setup: str = "") -> str:
    return (
        f"name: says {said}\n{extra}setup:\n{setup}  agents: {{a: {{beginMessage: Hello}}}}\n"
        f"  numbers: {{main: a}}\ncall: {{to: main}}\nturns:\n  - say: '{said}'\n"
        f"    expect: {{text: '{expected}'}}\n"
    )


# -- --help ----------------------------------------------------------------------------------------


HELP = [
    "agentphone-emulator: the AgentPhone platform, offline:",
    "  --agentphone-app=MODULE:ATTR",
    "*your agent as an app run in this process (ASGI, WSGI or*",
    "  --agentphone-webhook=URL",
    "*your agent's webhook URL, a server you started (ini:*",
    "  --agentphone-secret=SECRET",
    "*sign webhooks with SECRET (ini:*",
    "  --agentphone-var=NAME=VALUE",
    "*set {{NAME}} in every collected scenario (ini:*",
    "  --agentphone-port=PORT",
    "*the emulator's port (default: a free one*",
    "  --agentphone-findings={error,warning,off}",
    "*fail a test at teardown on findings it did not name*",
    "  agentphone_app (string):",
    "*your agent as an in-process app, module:attr*",
    "  agentphone_webhook (string):",
    "  agentphone_webhook_secret (string):",
    "  agentphone_scenarios (paths):",
    "  agentphone_scenario_patterns (args):",
    "*(default: [*].scenario.yaml [*].scenario.yml)*",
    "  agentphone_account (linelist):",
    "*default account settings, one NAME=VALUE per line*",
    "  agentphone_variables (linelist):",
    "  agentphone_findings (string):",
]


def test_help_shows_the_agentphone_options_and_ini_keys(pytester: pytest.Pytester) -> None:
    pytester.makeini(BASE_INI)
    result = pytester.runpytest("--help")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(HELP)
    markers = pytester.runpytest("--markers")
    markers.stdout.fnmatch_lines(
        [
            "@pytest.mark.agentphone_account(**settings): the test's account settings*",
            "@pytest.mark.agentphone_allow_findings(*codes): findings the test expects*",
            "@pytest.mark.agentphone_scenario: a YAML scenario collected as a test",
        ]
    )


def test_help_shows_even_when_the_ini_is_wrong(pytester: pytest.Pytester) -> None:
    # Fixed: a wrong ini made --help itself the usage error, hiding the names that would fix it.
    pytester.makeini(BASE_INI + "agentphone_account = credits=5\nagentphone_app = agent\n")
    result = pytester.runpytest("--help")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(HELP)
    assert pytester.runpytest().ret == pytest.ExitCode.USAGE_ERROR  # a run still refuses it


# -- each ini key and its command-line twin --------------------------------------------------------


def test_app_from_the_ini_and_from_the_command_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(agent_ini=agent("ini"), agent_cli=agent("cli"))
    pytester.makeini(BASE_INI + "agentphone_app = agent_ini:app\n")
    pytester.makefile(".scenario.yaml", hello=say_scenario("hi", "ini: hi"))
    pytester.makepyfile(
        test_default_target="""
        def test_make_agent_defaults_to_the_configured_app(make_agent):
            call = make_agent(begin_message="Hello").ring()
            assert call.say("hi").text.endswith(": hi")
            print("reply:", call.say("again").text)
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*reply: ini: again*"])

    overridden = pytester.runpytest("-s", "--agentphone-app", "agent_cli:app")
    overridden.assert_outcomes(passed=1, failed=1)
    overridden.stdout.fnmatch_lines(
        ["*reply: cli: again*", "    expected: equals 'ini: hi'", "         got: 'cli: hi'"]
    )

    # A command-line app replaces an ini webhook too (not "both given").
    pytester.makeini(BASE_INI + "agentphone_webhook = http://127.0.0.1:9/hook\n")
    pytester.runpytest("--agentphone-app", "agent_ini:app").assert_outcomes(passed=2)


SHARED_SECRET = "whsec_shared_with_the_server"


@pytest.fixture
def echo_server(httpserver: HTTPServer) -> HTTPServer:
    """A webhook server on a loopback port that knows its secret (a server of the user's is not told
    it by the plugin): 401 to a bad signature, "url: <words>" to a caller."""

    def answer(request: Request) -> Response:
        try:
            verify_webhook(
                request.get_data(),
                request.headers["X-Webhook-Signature"],
                SHARED_SECRET,
                request.headers["X-Webhook-Timestamp"],
            )
        except (KeyError, WebhookVerificationError):
            return Response("invalid signature", status=401)
        envelope = json.loads(request.get_data())
        reply: dict[str, Any] = {"ok": True}
        if envelope["event"] == "agent.message" and envelope["channel"] == "voice":
            reply = {"text": "url: " + envelope["data"]["transcript"]}
        return Response(json.dumps(reply), content_type="application/json")

    httpserver.expect_request("/hook", method="POST").respond_with_handler(answer)
    return httpserver


def test_webhook_from_the_ini_and_from_the_command_line(
    pytester: pytest.Pytester, echo_server: HTTPServer
) -> None:
    pytester.makefile(".scenario.yaml", hello=say_scenario("hi", "url: hi"))
    secret = f"agentphone_webhook_secret = {SHARED_SECRET}\n"
    pytester.makeini(BASE_INI + secret + f"agentphone_webhook = {echo_server.url_for('/hook')}\n")
    pytester.runpytest().assert_outcomes(passed=1)
    # Signed with another secret, every delivery is refused.
    refused = pytester.runpytest("--agentphone-secret", "whsec_not_the_servers")
    refused.assert_outcomes(failed=1)
    refused.stdout.fnmatch_lines(["findings", "  webhook_http_error  error *"])

    # Nothing listens on the ini's port now: the command line's URL is the one used.
    dead = f"http://127.0.0.1:{free_port()}/hook"
    pytester.makeini(BASE_INI + secret + f"agentphone_webhook = {dead}\n")
    unreachable = pytester.runpytest()
    unreachable.assert_outcomes(failed=1)
    unreachable.stdout.fnmatch_lines(["findings", "  webhook_unreachable  error *"])
    pytester.runpytest("--agentphone-webhook", echo_server.url_for("/hook")).assert_outcomes(passed=1)

    # A target on the command line replaces the ini's of the other kind too (not "both given").
    pytester.makeini(BASE_INI + secret + "agentphone_app = agent_never:imported\n")
    pytester.runpytest("--agentphone-webhook", echo_server.url_for("/hook")).assert_outcomes(passed=1)


SIGNED_TEST = """
import os

def test_signed(make_agent):
    print("secret:", os.environ["AGENTPHONE_WEBHOOK_SECRET"])
    call = make_agent(begin_message="Hello").ring()
    # The agent checks the signature with that variable: a 401 would leave the caller in silence.
    assert call.say("hi").text == "signed: hi"
"""


def signing_secret(result: pytest.RunResult) -> str:
    result.assert_outcomes(passed=1)
    (secret,) = re.findall(r"secret: (\S+)", result.stdout.str())  # printed by the inner test (-s)
    return str(secret)


def test_secret_from_the_ini_the_command_line_the_environment_or_fresh(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGENTPHONE_WEBHOOK_SECRET", raising=False)
    pytester.makepyfile(signed=agent("signed"), test_signed=SIGNED_TEST)
    pytester.makeini(BASE_INI + "agentphone_app = signed:app\nagentphone_webhook_secret = whsec_from_ini\n")
    assert signing_secret(pytester.runpytest("-s")) == "whsec_from_ini"
    cli = pytester.runpytest("-s", "--agentphone-secret", "whsec_from_cli")
    assert signing_secret(cli) == "whsec_from_cli"

    pytester.makeini(BASE_INI + "agentphone_app = signed:app\n")
    monkeypatch.setenv("AGENTPHONE_WEBHOOK_SECRET", "whsec_from_env")
    assert signing_secret(pytester.runpytest("-s")) == "whsec_from_env"
    monkeypatch.delenv("AGENTPHONE_WEBHOOK_SECRET")
    fresh = {signing_secret(pytester.runpytest("-s")) for _ in range(2)}
    assert len(fresh) == 2  # one per session
    assert all(re.fullmatch(r"whsec_[0-9a-f]{48}", secret) for secret in fresh)


def test_account_from_the_ini(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(signed=agent("signed"))
    pytester.makeini(
        BASE_INI + "agentphone_app = signed:app\n"
        "agentphone_account =\n    credit_cents = 1000\n    require_10dlc=false\n"
        "    unavailable_area_codes=212, 646\n"
    )
    pytester.makepyfile(
        test_account="""
        import pytest

        from agentphone_emulator import AccountSettings

        INI = AccountSettings(credit_cents=1000, require_10dlc=False, unavailable_area_codes=("212", "646"))


        def test_the_ini_account(emulator):
            assert emulator.account().settings == INI


        @pytest.mark.agentphone_account(number_limit=1)
        def test_a_marker_changes_the_ini_account(emulator):
            assert emulator.account().settings == INI.model_copy(update={"number_limit": 1})
        """
    )
    # The default account affords one number; this scenario needs the ini's credit for two.
    pytester.makefile(
        ".scenario.yaml",
        two_lines="name: two lines\nsetup:\n  agents: {a: {}}\n  numbers: {sales: a, help: a}\n"
        "call: {to: help}\nturns:\n  - say: hi\n    expect: {text: 'signed: hi'}\n",
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_variables_from_the_ini_and_from_the_command_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(signed=agent("signed"))
    pytester.makeini(
        BASE_INI + "agentphone_app = signed:app\nagentphone_variables =\n    word = from-ini\n    query=a=b\n"
    )
    # The file's own value of word loses to the ini's, which loses to the command line's.
    pytester.makefile(
        ".scenario.yaml",
        words=say_scenario(
            "{{word}} {{query}}", "signed: from-ini a=b", extra="variables: {word: from-file}\n"
        ),
    )
    pytester.runpytest().assert_outcomes(passed=1)
    cli = pytester.runpytest("--agentphone-var", "word=from-cli", "--agentphone-var=query=c")
    cli.assert_outcomes(failed=1)
    cli.stdout.fnmatch_lines(
        ["    expected: equals 'signed: from-ini a=b'", "         got: 'signed: from-cli c'"]
    )


FINDINGS_TESTS = """
def test_a_warning(make_agent):
    assert make_agent(path="/warn").ring().say("hi").text == "hi"


def test_an_error(make_agent):
    make_agent(path="/broken").ring().say("hi")
"""


def test_findings_policy_from_the_ini_and_from_the_command_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(signed=agent("signed"), test_findings=FINDINGS_TESTS)
    pytester.makeini(BASE_INI + "agentphone_app = signed:app\n")
    default = pytester.runpytest()
    default.assert_outcomes(passed=2, errors=1)  # only the error finding fails its test
    assert section(default, "ERROR at teardown of test_an_error")[0] == (
        "the agent broke the platform's contract: 1 finding the test did not expect"
    )

    pytester.makeini(BASE_INI + "agentphone_app = signed:app\nagentphone_findings = warning\n")
    warning = pytester.runpytest()
    warning.assert_outcomes(passed=2, errors=2)
    assert any(
        "voice_unknown_field" in line for line in section(warning, "ERROR at teardown of test_a_warning")
    )
    pytester.runpytest("--agentphone-findings", "off").assert_outcomes(passed=2)
    pytester.runpytest("--agentphone-findings=error").assert_outcomes(passed=2, errors=1)


PORT_TEST = """
def test_port(emulator):
    print("base url:", emulator.base_url)
"""


def emulator_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name == "agentphone-emulator"}


def test_port_option_and_a_taken_port(pytester: pytest.Pytester) -> None:
    pytester.makeini(BASE_INI)
    pytester.makepyfile(test_port=PORT_TEST)
    port = free_port()
    result = pytester.runpytest("-s", f"--agentphone-port={port}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*base url: http://127.0.0.1:{port}"])

    before = emulator_threads()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        pytester.makefile(".scenario.yaml", demo=say_scenario("hi", "hi"))
        # With a target (never imported), the scenario gets as far as starting the emulator.
        result = pytester.runpytest(f"--agentphone-port={port}", "--agentphone-app=never:imported")
    result.assert_outcomes(errors=1, failed=1)
    problem = (
        f"agentphone: the emulator cannot listen on 127.0.0.1:{port}: error while attempting to bind on "
        f"address ('127.0.0.1', {port}): address already in use; pass another --agentphone-port, or none "
        "for a free one"
    )
    assert section(result, "ERROR at setup of test_port") == [problem]
    assert section(result, "scenario: says hi") == [problem]
    assert "Traceback" not in result.stdout.str()
    assert emulator_threads() == before  # the failed start left no thread behind


# -- usage errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ini", "args", "error"),
    [
        pytest.param(
            "agentphone_app = agent:app\nagentphone_webhook = http://127.0.0.1:9/hook\n",
            [],
            "agentphone: give the agent as an app or as a webhook URL, not both "
            "(app 'agent:app', webhook 'http://127.0.0.1:9/hook')",
            id="app and webhook in the ini",
        ),
        pytest.param(
            "",
            ["--agentphone-app=agent:app", "--agentphone-webhook=http://127.0.0.1:9/hook"],
            "agentphone: give the agent as an app or as a webhook URL, not both "
            "(app 'agent:app', webhook 'http://127.0.0.1:9/hook')",
            id="app and webhook on the command line",
        ),
        pytest.param(
            "",
            ["--agentphone-port=65536"],
            "--agentphone-port: expected a port, 1-65535 (or 0: a free one), got 65536",
            id="port out of range",
        ),
        pytest.param(
            "",
            ["--agentphone-app", "agent.py"],
            "agentphone_app expects module:attr (e.g. myagent.server:app), got 'agent.py'",
            id="app not module:attr",
        ),
        pytest.param(
            "agentphone_webhook = localhost:8000/hook\n",
            [],
            "agentphone_webhook expects an http(s) URL (e.g. http://127.0.0.1:8000/webhook), "
            "got 'localhost:8000/hook'",
            id="webhook not a URL",
        ),
        pytest.param(
            "agentphone_account = credits=10000\n",
            [],
            "ini agentphone_account: unknown account setting 'credits' (did you mean credit_cents?)",
            id="unknown account setting",
        ),
        pytest.param(
            "agentphone_account = xyz=1\n",
            [],
            "ini agentphone_account: unknown account setting 'xyz'; known: credit_cents, number_price_cents, "
            "number_limit, lookup_price_millicents, recording_addon, require_10dlc, has_payment_method, "
            "echo_outbound_messages, max_call_minutes, rate_limits, unavailable_area_codes",
            id="unknown account setting, nothing close",
        ),
        pytest.param(
            "agentphone_account = credit_cents=lots\n",
            [],
            "ini agentphone_account: credit_cents: Input should be a valid integer, unable to parse string "
            "as an integer, got 'lots'",
            id="bad account value",
        ),
        pytest.param(
            "agentphone_account =\n    require_10dlc = false\n    credit_cents\n",
            [],
            "agentphone_account: expected NAME=VALUE, got 'credit_cents'",
            id="account line without =",
        ),
        pytest.param(
            "agentphone_variables = =orphan\n",
            [],
            "agentphone_variables: expected NAME=VALUE, got '=orphan'",
            id="variable without a name",
        ),
        pytest.param(
            "",
            ["--agentphone-var", "word"],
            "--agentphone-var: expected NAME=VALUE, got 'word'",
            id="bad --var",
        ),
        pytest.param(
            "agentphone_findings = loud\n",
            [],
            "agentphone_findings: expected error, warning or off, got 'loud'",
            id="bad findings policy",
        ),
    ],
)
def test_a_configuration_mistake_is_a_one_line_usage_error(
    pytester: pytest.Pytester, ini: str, args: list[str], error: str
) -> None:
    pytester.makeini(BASE_INI + ini)
    pytester.makepyfile(test_never="def test_never():\n    raise AssertionError('ran')\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.stderr.lines if line.strip()] == [f"ERROR: {error}"]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_a_findings_policy_outside_the_choices_is_refused_by_the_option(pytester: pytest.Pytester) -> None:
    pytester.makeini(BASE_INI)
    result = pytester.runpytest("--agentphone-findings", "loud")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*error: argument --agentphone-findings: invalid choice: 'loud' (choose from 'error', 'warning', 'off')"
        ]
    )


# -- the NAME=VALUE parser, as properties ----------------------------------------------------------

FIELDS = AccountSettings.model_fields
BOOLEAN_SPELLINGS = {
    True: ["true", "True", "TRUE", "1", "yes", "on"],
    False: ["false", "False", "0", "no", "off"],
}

area_codes = st.lists(st.from_regex(r"[2-9][0-9]{2}", fullmatch=True), max_size=4).map(tuple)
settings_strategy = st.builds(
    AccountSettings,
    credit_cents=st.integers(min_value=0, max_value=10**12),
    number_price_cents=st.integers(min_value=0, max_value=10**6),
    number_limit=st.integers(min_value=0, max_value=10**4),
    lookup_price_millicents=st.integers(min_value=0, max_value=10**6),
    recording_addon=st.booleans(),
    require_10dlc=st.booleans(),
    has_payment_method=st.booleans(),
    echo_outbound_messages=st.booleans(),
    rate_limits=st.booleans(),
    unavailable_area_codes=area_codes,
)


@st.composite
def ini_lines(draw: st.DrawFn, settings: AccountSettings) -> list[str]:
    """The settings as an ini file may spell them: any subset of fields (the rest default), spaces
    around ``=`` and ``,``, booleans in any spelling pydantic reads."""
    lines = []
    for name, value in settings.model_dump().items():
        if value == FIELDS[name].default and draw(st.booleans()):
            continue
        if isinstance(value, bool):
            text = draw(st.sampled_from(BOOLEAN_SPELLINGS[value]))
        elif isinstance(value, tuple):
            text = draw(st.sampled_from([",", ", ", " ,"])).join(value)
        else:
            text = str(value)
        space = draw(st.sampled_from(["", " "]))
        lines.append(f"{name}{space}={space}{text}")
    return draw(st.permutations(lines))


@given(st.data(), settings_strategy)
def test_any_account_round_trips_through_ini_lines(data: st.DataObject, settings: AccountSettings) -> None:
    lines = data.draw(ini_lines(settings))
    assert account_settings(parse_pairs(lines, "agentphone_account"), "ini agentphone_account") == settings


names = st.one_of(
    st.sampled_from(list(FIELDS)), st.text(max_size=20), st.from_regex(r"[a-z_0-9]{1,16}", fullmatch=True)
)
values = st.one_of(
    st.text(max_size=12), st.integers().map(str), st.sampled_from(["true", "no", "212,646", ""])
)


@given(names, values)
def test_any_ini_line_is_a_setting_or_a_one_line_usage_error(name: str, value: str) -> None:
    line = f"{name}={value}"
    try:
        pairs = parse_pairs([line], "agentphone_account")
    except pytest.UsageError as exc:
        # Only a line with nothing before its first "=" is not a pair.
        assert not line.partition("=")[0].strip()
        assert str(exc) == f"agentphone_account: expected NAME=VALUE, got {line!r}"
        return
    ((parsed_name, parsed_value),) = pairs.items()
    assert (parsed_name, parsed_value) == (line.partition("=")[0].strip(), line.partition("=")[2].strip())
    try:
        settings = account_settings(pairs, "ini agentphone_account")
    except pytest.UsageError as exc:
        message = str(exc)
        assert "\n" not in message  # the input is quoted with repr(): one line whatever it holds
        if parsed_name in FIELDS:
            assert message.startswith(f"ini agentphone_account: {parsed_name}")
        else:
            assert message.startswith(f"ini agentphone_account: unknown account setting {parsed_name!r}")
            assert re.search(
                r"\(did you mean \w+\?\)$|; known: credit_cents, .*unavailable_area_codes$", message
            )
        return
    assert parsed_name in FIELDS
    assert isinstance(settings, AccountSettings)


marker_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.lists(st.one_of(st.text(max_size=4), st.integers()), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@given(st.dictionaries(names, marker_values, max_size=3))
def test_marker_settings_are_settings_or_a_settings_error(changes: dict[str, Any]) -> None:
    # A marker's keyword values are Python values, and its mistakes fail the one test (SettingsError),
    # never the session.
    where = "@pytest.mark.agentphone_account"
    try:
        settings = account_settings(changes, where)
    except SettingsError as exc:
        assert str(exc).startswith(f"{where}: ")
        return
    assert set(changes) <= set(FIELDS)
    assert isinstance(settings, AccountSettings)


def test_did_you_mean_names_the_closest_field() -> None:
    with pytest.raises(
        SettingsError, match=r"unknown account setting 'numbr_limit' \(did you mean number_limit\?\)$"
    ):
        account_settings({"numbr_limit": 3}, "@pytest.mark.agentphone_account")


def test_loading_the_plugin_loads_nothing_heavy() -> None:
    """pytest imports the plugin in every run on the machine, most of which never use it: loading it
    (and `pytest_agentphone`, `agentphone_emulator`) must not import the emulator, aiohttp or pydantic."""
    probe = (
        "import sys, pytest_agentphone, pytest_agentphone.plugin, agentphone_emulator\n"
        "heavy = ('agentphone_emulator.server', 'agentphone_emulator.scenario', 'aiohttp', 'pydantic', 'numpy')\n"
        "print(sorted({m for m in sys.modules for h in heavy if m == h or m.startswith(h + '.')}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
