"""``agentphone-emulator run`` as a user runs it: a real subprocess from the repository root (so
``--app examples.support_agent:app`` imports), real files, exit codes, stdout and stderr.

Exit 0: every scenario passed (or was skipped); 1: one failed; 2: nothing could run (a bad scenario
file, a missing path, a bad option, an app that cannot be imported). Then ``-k``'s expression
language itself, in-process: examples and a Hypothesis property against Python's own booleans.
"""

from __future__ import annotations

import itertools
import json
import keyword
import os
import socket
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from agentphone_emulator.scenario.selection import SelectionError, compile_keyword, searchable
from tests.helpers import free_port

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "agentphone_emulator"]
APP = ["--app", "examples.support_agent:app"]

ORDERS = """\
name: order status
tags: [voice, orders]
setup:
  agents: {support: {beginMessage: "Hi, this is Acme support. How can I help?"}}
  numbers: {main: support}
call: {to: main}
turns:
  - say: Where is my order A-2077?
    expect:
      text: {contains: %s}
"""
TEXTS = """\
name: text thread
tags: [sms]
setup:
  account: {require_10dlc: false}
  agents: {support: {}}
  numbers: {main: support}
steps:
  - text: {to: main, body: Hi there}
    expect: {reply: {contains: Text an order number}}
"""
LATER = """\
name: later
tags: [slow]
skip: not written yet
steps: [{wait: 1}]
"""
REPLY = "Let me check on that. Order A-2077 shipped this morning and arrives Thursday."


def agentphone(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60, columns: str | None = "200"
) -> subprocess.CompletedProcess[str]:
    """Run the CLI from the repository root with a wide terminal (``columns=None``: no COLUMNS, as in
    a CI job) and a fast example agent."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AGENTPHONE_") and k != "COLUMNS"}
    wide = {"COLUMNS": columns} if columns is not None else {}
    return subprocess.run(
        [*CLI, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**clean, "SUPPORT_AGENT_TOOL_SECONDS": "0.02", **wide, **(env or {})},
    )


def scenario_file(tmp_path: Path, *documents: str, name: str = "scenarios.yaml") -> Path:
    path = tmp_path / name
    path.write_text("---\n".join(textwrap.dedent(d) for d in documents))
    return path


def report(path: Path) -> dict[str, object]:
    return json.loads(path.read_text())


def outcomes(path: Path) -> list[tuple[str, str]]:
    return [(s["name"], s["outcome"]) for s in report(path)["scenarios"]]  # type: ignore[index]


# -- exit codes and what is printed -------------------------------------------------------------------


def test_a_passing_file_exits_0(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, ORDERS % "shipped", TEXTS, LATER)
    done = agentphone("run", str(path), *APP)
    assert (done.returncode, done.stderr) == (0, ""), done.stdout + done.stderr
    assert done.stdout.rstrip().splitlines()[-1].startswith("2 passed, 1 skipped in ")


def test_a_failing_file_exits_1_and_shows_where_what_was_expected_and_what_came(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, ORDERS % "refunds")
    done = agentphone("run", str(path), *APP)
    assert (done.returncode, done.stderr) == (1, ""), done.stdout + done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()]
    at = lines.index(f"{path}:10  turn 1 text")
    assert lines[at + 1 : at + 3] == ["expected: contains 'refunds'", f"got: {REPLY!r}"]
    assert lines[-1].startswith("1 failed in ")


def test_a_report_written_to_a_pipe_is_not_wrapped_padded_or_cut(tmp_path: Path) -> None:
    """A CI log: stdout is a pipe and COLUMNS is not set. Rich would lay the report out for 80
    columns: replies folded over lines, every row padded to the table's width, the texter's number
    cut to 'text from +…'."""
    thread = TEXTS.replace("Text an order number", "refunds").replace(
        "Hi there", "'Where is my order A-2077?'"
    )
    path = scenario_file(tmp_path, ORDERS % "refunds", thread)
    done = agentphone("run", str(path), *APP, columns=None)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line for line in lines if line != line.rstrip()] == []
    assert any(REPLY in line for line in lines), done.stdout  # the whole reply on one line
    assert any("text from +14155550123" in line for line in lines), done.stdout
    assert max(map(len, lines)) > 80


def test_a_bad_scenario_file_exits_2_with_its_line_and_column_and_runs_nothing(tmp_path: Path) -> None:
    good = scenario_file(tmp_path, ORDERS % "shipped", name="good.yaml")
    bad = scenario_file(
        tmp_path, "name: bad\ncall: {to: main}\nturns:\n  - say: Hello\n    expect: {within_ms: fast}\n"
    )
    done = agentphone("run", str(good), str(bad), *APP)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines() == [
        f'{bad}:5:14: turns[0].expect.within_ms: expected a number, got "fast"',
        "agentphone-emulator: 1 problem in scenario files; nothing was run",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-k", "refunds"], "agentphone-emulator: error: no scenario matches -k 'refunds'"),
        (["-k", "voice and"], "agentphone-emulator: error: -k 'voice and': ends where a word was expected"),
        (["--var", "order"], "agentphone-emulator: error: --var expects NAME=VALUE, got 'order'"),
    ],
)
def test_a_usage_mistake_exits_2_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    done = agentphone("run", str(scenario_file(tmp_path, ORDERS % "shipped")), *APP, *args)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", message + "\n")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://", "Input should be a valid URL, empty host"),
        ("ftp://x/y", "URL scheme should be 'http' or 'https'"),
    ],
)
def test_a_webhook_that_is_not_an_http_url_exits_2_in_one_line(tmp_path: Path, url: str, why: str) -> None:
    """ "http://" passed a startswith check and then raised the API's 422 as a traceback."""
    done = agentphone("run", str(scenario_file(tmp_path, ORDERS % "shipped")), "--webhook", url)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(f"agentphone-emulator: error: {url}: target: {why}")
    assert len(done.stderr.splitlines()) == 1


def test_a_taken_port_exits_2_in_one_line(tmp_path: Path) -> None:
    """With --webhook the emulator listens on a fixed port; a taken one was a traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = agentphone(
            "run", str(scenario_file(tmp_path, ORDERS % "shipped")), "--webhook", "http://127.0.0.1:9/x",
            "--port", str(port),
        )  # fmt: skip
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(f"agentphone-emulator: error: cannot listen on 127.0.0.1:{port}: ")
    assert done.stderr.endswith("; pass --port\n") and len(done.stderr.splitlines()) == 1


def test_a_missing_path_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    done = agentphone("run", str(missing), *APP)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines() == [
        f"{missing}:1:1: no such file or directory",
        "agentphone-emulator: 1 problem in scenario files; nothing was run",
    ]


def test_an_app_that_cannot_be_imported_exits_2_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "agent_without_config.py").write_text("raise RuntimeError('AGENT_CONFIG is not set')\n")
    path = scenario_file(tmp_path, ORDERS % "shipped")
    done = agentphone(
        "run", str(path), "--app", "agent_without_config:app", env={"PYTHONPATH": str(tmp_path)}
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "agentphone-emulator: error: agent_without_config:app: cannot import 'agent_without_config' for "
        "'agent_without_config:app': RuntimeError: AGENT_CONFIG is not set\n"
    )


# -- report files, selection, -x ------------------------------------------------------------------------


def test_json_and_junit_reports_have_every_scenario(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, ORDERS % "refunds", TEXTS, LATER)
    json_path, junit_path = tmp_path / "out" / "run.json", tmp_path / "junit.xml"
    (tmp_path / "out").mkdir()
    done = agentphone("run", str(path), *APP, "--json", str(json_path), "--junit", str(junit_path))
    assert done.returncode == 1, done.stdout + done.stderr
    assert outcomes(json_path) == [
        ("order status", "failed"),
        ("text thread", "passed"),
        ("later", "skipped"),
    ]
    assert report(json_path)["counts"] == {"passed": 1, "failed": 1, "error": 0, "skipped": 1}
    (failed,) = [c for c in report(json_path)["scenarios"][0]["checks"] if not c["passed"]]  # type: ignore[index]
    assert (failed["line"], failed["expected"], failed["got"]) == (10, "contains 'refunds'", repr(REPLY))
    suite = ET.parse(junit_path).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")  # type: ignore[assignment]
    assert suite is not None
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "3",
        "failures": "1",
        "errors": "0",
        "skipped": "1",
    }
    assert [case.get("name") for case in suite.iter("testcase")] == ["order status", "text thread", "later"]


@pytest.mark.parametrize(
    ("expression", "chosen"),
    [
        ("STATUS", ["order status"]),  # a word of the name, in any case
        ("sms or slow", ["text thread", "later"]),  # tags
        ("not voice and not (slow)", ["text thread"]),
    ],
)
def test_k_selects_by_name_file_and_tags(tmp_path: Path, expression: str, chosen: list[str]) -> None:
    path = scenario_file(tmp_path, ORDERS % "shipped", TEXTS, LATER)
    json_path = tmp_path / "run.json"
    done = agentphone("run", str(path), *APP, "-k", expression, "--json", str(json_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert [name for name, _ in outcomes(json_path)] == chosen


def test_exitfirst_stops_after_the_first_failing_scenario(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, ORDERS % "refunds", TEXTS)
    json_path = tmp_path / "run.json"
    done = agentphone("run", str(path), *APP, "-x", "--json", str(json_path))
    assert done.returncode == 1
    assert outcomes(json_path) == [("order status", "failed")]


def test_jobs_spread_scenarios_over_workers_and_keep_their_order(tmp_path: Path) -> None:
    path = scenario_file(
        tmp_path, ORDERS % "refunds", TEXTS, ORDERS.replace("order status", "again") % "shipped"
    )
    json_path = tmp_path / "run.json"
    done = agentphone("run", str(path), *APP, "-j", "2", "--json", str(json_path))
    assert done.returncode == 1, done.stdout + done.stderr
    assert outcomes(json_path) == [("order status", "failed"), ("text thread", "passed"), ("again", "passed")]


def test_schema_prints_the_json_schema_of_a_scenario() -> None:
    done = agentphone("schema")
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)
    assert {"name", "setup", "steps", "call", "turns", "expect"} <= set(schema["properties"])


# -- --webhook: the example agent as a real server --------------------------------------------------------


@contextmanager
def example_agent_server(port: int, env: dict[str, str]) -> Iterator[str]:
    """``python -m examples.support_agent --port P``, as examples/README.md runs it; yields its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.support_agent", "--port", str(port)],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(url + "/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None, "the example agent exited"
            if time.monotonic() > deadline:
                pytest.fail("hang guard: the example agent did not start in 30 s")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_webhook_runs_scenarios_against_a_server_that_calls_the_emulator_back(tmp_path: Path) -> None:
    emulator_port = free_port()
    secret, key = "whsec_cli_webhook", "sk_test_cli_webhook"
    env = {
        "AGENTPHONE_BASE_URL": f"http://127.0.0.1:{emulator_port}",
        "AGENTPHONE_API_KEY": key,
        "AGENTPHONE_WEBHOOK_SECRET": secret,
        "SUPPORT_AGENT_TOOL_SECONDS": "0.02",
    }
    path = scenario_file(tmp_path, ORDERS % "shipped", TEXTS)
    with example_agent_server(free_port(), env) as url:
        done = agentphone(
            "run",
            str(path),
            "--webhook",
            url + "/webhook",
            "--port",
            str(emulator_port),
            "--api-key",
            key,
            "--webhook-secret",
            secret,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().splitlines()[-1].startswith("2 passed in ")


# -- -k expressions -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "text", "chosen"),
    [
        ("orders", "order status scenarios/orders.yaml voice", True),
        ("ORDERS", "scenarios/orders.yaml", True),  # words are matched lower-cased
        ("refund", "order status scenarios/orders.yaml voice", False),
        ("status.yaml", "x status.yaml", True),  # a word is any run of non-space, non-paren characters
        ("not voice", "order status voice", False),
        ("a or b and c", "a", True),  # and binds tighter than or
        ("(a or b) and c", "a", False),
        ("not a and b", "b", True),  # not binds tightest
        ("not (a and b)", "a b", False),
        ("not not a", "a", True),
    ],
)
def test_keyword_expressions(expression: str, text: str, chosen: bool) -> None:
    assert compile_keyword(expression)(text) is chosen


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "-k needs at least one word"),
        ("  ", "-k needs at least one word"),
        ("a and", "-k 'a and': ends where a word was expected"),
        ("not", "-k 'not': ends where a word was expected"),
        ("(a or b", "-k '(a or b': a '(' is not closed"),
        ("a b", "-k 'a b': unexpected 'b'"),
        ("a)", "-k 'a)': unexpected ')'"),
        ("or a", "-k 'or a': unexpected 'or'"),
        ("()", "-k '()': unexpected ')'"),
    ],
)
def test_keyword_mistakes_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(SelectionError) as raised:
        compile_keyword(expression)
    assert str(raised.value) == message


def test_searchable_text_is_name_file_and_tags_lower_cased() -> None:
    assert searchable("Order Status", "scenarios/Orders.yaml", ["Voice", "SMS"]) == (
        "order status scenarios/orders.yaml voice sms"
    )


@dataclass(frozen=True)
class Word:
    word: str


@dataclass(frozen=True)
class Not:
    inner: Expression


@dataclass(frozen=True)
class Both:
    operator: str  # "and" / "or"
    left: Expression
    right: Expression


Expression = Word | Not | Both
PRECEDENCE = {"or": 1, "and": 2, "not": 3, "word": 4}

words = st.from_regex(r"[a-z]{1,4}", fullmatch=True).filter(lambda w: not keyword.iskeyword(w))
expressions = st.recursive(
    words.map(Word),
    lambda inner: st.one_of(
        inner.map(Not),
        st.builds(Both, st.sampled_from(["and", "or"]), inner, inner),
    ),
    max_leaves=12,
)


def render(expression: Expression, parenthesize: Iterator[bool], outer: int = 0) -> str:
    """The expression as text both ``-k`` and Python read, with the parentheses precedence needs
    and, where ``parenthesize`` says so, more."""
    if isinstance(expression, Word):
        text, own = expression.word, PRECEDENCE["word"]
    elif isinstance(expression, Not):
        text, own = "not " + render(expression.inner, parenthesize, PRECEDENCE["not"]), PRECEDENCE["not"]
    else:
        own = PRECEDENCE[expression.operator]
        # Both operators are left-associative: a right operand of the same precedence needs parentheses.
        left = render(expression.left, parenthesize, own)
        right = render(expression.right, parenthesize, own + 1)
        text = f"{left} {expression.operator} {right}"
    return f"({text})" if own < outer or next(parenthesize) else text


def words_of(expression: Expression) -> set[str]:
    if isinstance(expression, Word):
        return {expression.word}
    if isinstance(expression, Not):
        return words_of(expression.inner)
    return words_of(expression.left) | words_of(expression.right)


@settings(max_examples=300, deadline=None)
@given(expression=expressions, present=st.lists(words, max_size=6), extra=st.lists(st.booleans(), min_size=1))
def test_a_keyword_expression_is_the_boolean_expression_python_reads(
    expression: Expression, present: list[str], extra: list[bool]
) -> None:
    text = " ".join(present)
    source = render(expression, itertools.cycle(extra))
    truth = {word: word in text for word in words_of(expression)}
    assert compile_keyword(source)(text) is eval(source, {"__builtins__": {}}, truth), source
