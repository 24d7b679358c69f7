"""`agentphone-emulator load` and the Locust users, run for real: Locust in subprocesses (importing
it patches the whole process for gevent, so never in the test process), headless, a few seconds,
against a real agent on loopback (an aiohttp app on a thread of this process). Checked: every
metric is in Locust's stats, a contract finding is a failure named by its code, the gates set the
exit status, bad input is one line and exit 2, and no process outlives a run or a Ctrl-C.
"""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import socket
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from agentphone import AgentPhone
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from agentphone_emulator.load import shipment
from agentphone_emulator.load.numbers import NumberPool
from agentphone_emulator.load.shipment import ShipmentError, pack, unpack
from agentphone_emulator.phone import normalize_e164
from agentphone_emulator.server import Emulator

from .helpers import wait_until

BROKEN = """\
---
name: broken call
setup:
  agents: {support: {voiceSpeed: 2}}
  numbers: {main: support}
  webhook: {path: /bad}
call: {to: main}
turns:
  - say: Hi
"""
SCENARIO = """\
name: quick call
setup:
  agents: {support: {voiceSpeed: 2}}
  numbers: {main: support}
call: {to: main}
turns:
  - say: Hi
  - say: Bye
---
name: quick text
setup:
  account: {require_10dlc: false}
  agents: {support: {}}
  numbers: {main: support}
steps:
  - text: {to: main, body: Hi}
"""
METRICS = [
    ("CALL", "quick call / call setup"),
    ("TURN", "quick call / turn 1 first chunk"),
    ("TURN", "quick call / turn 1 last chunk"),
    ("SMS", "quick text / sms delivery"),
    ("EMULATOR", "emulator / loop lag"),
    ("EMULATOR", "quick call / turn send delay"),
]


HITS = {"turns": 0}  # voice turns /good answered


async def _good(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    HITS["turns"] += body.get("channel") == "voice"
    return web.Response(body=b'{"text": "ok"}\n', content_type="application/x-ndjson")


async def _bad(request: web.Request) -> web.StreamResponse:
    await request.read()
    return web.Response(status=500, text="boom")


@pytest.fixture(scope="module")
def agent() -> Iterator[str]:
    """A real agent on loopback: /good answers every turn and text, /bad answers HTTP 500."""
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/good", _good)
    app.router.add_post("/bad", _bad)
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.run_until_complete(runner.cleanup())
    loop.close()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("load") / "quick.yaml"
    path.write_text(SCENARIO)
    return path


@pytest.fixture(scope="module")
def with_broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quick scenarios and one whose webhook answers HTTP 500 (a finding on every turn)."""
    path = tmp_path_factory.mktemp("load") / "mixed.yaml"
    path.write_text(SCENARIO + BROKEN)
    return path


def _load(*args: str) -> subprocess.Popen[str]:
    # A session of its own: afterwards, any process left in its group is one the run left behind.
    return subprocess.Popen(
        [sys.executable, "-m", "agentphone_emulator", "load", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _group(pgid: int) -> list[int]:
    """The live processes whose process group is ``pgid``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(entry))
    return found


def _stats(prefix: Path) -> dict[tuple[str, str], dict[str, str]]:
    with open(f"{prefix}_stats.csv", newline="") as f:
        return {(row["Type"], row["Name"]): row for row in csv.DictReader(f)}


def _failures(prefix: Path) -> list[dict[str, str]]:
    with open(f"{prefix}_failures.csv", newline="") as f:
        return list(csv.DictReader(f))


def _finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    wait_until(lambda: not _group(proc.pid), "the run's processes to end")
    return proc.returncode, out, err


def test_one_process_measures_everything_and_findings_fail_the_gate(
    agent: str, with_broken: Path, tmp_path: Path
) -> None:
    prefix = tmp_path / "run"
    html = tmp_path / "report.html"
    proc = _load(
        str(with_broken), "--webhook", f"{agent}/good", "--users", "4", "--spawn-rate", "50",
        "--run-time", "2", "--csv", str(prefix), "--html", str(html), "--wait", "0.1",
        "--transcripts", str(tmp_path / "transcripts.txt"), "--chart", str(tmp_path / "run.png"),
        "--max-p95-first-chunk-ms", "60000", "--max-failure-rate", "0",
    )  # fmt: skip
    code, out, err = _finish(proc)
    assert code == 1, err + out
    assert (tmp_path / "run.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")  # the chart was drawn
    stats = _stats(prefix)
    for key in METRICS:
        assert key in stats and int(stats[key]["Request Count"]) > 0, (key, sorted(stats))
    codes = {(row["Method"], row["Name"], row["Error"]) for row in _failures(prefix)}
    assert ("FINDING", "broken call / contract", "PlayFailure('webhook_http_error')") in codes, codes
    assert all(name.startswith("broken call") for _, name, _ in codes), codes
    assert "gate first-chunk p95: passed" in out
    assert "gate failure rate: FAILED" in out
    assert "quick call / turn 1 first chunk" in html.read_text()
    kept = (tmp_path / "transcripts.txt").read_text()
    assert "== broken call (caller +1200900" in kept and "failed: webhook_http_error" in kept, kept
    assert "# Slowest plays\n\n== quick call" in kept, kept
    assert not _group(proc.pid)


def test_gates_that_hold_exit_0(agent: str, scenario: Path, tmp_path: Path) -> None:
    passing = _load(
        str(scenario), "--webhook", f"{agent}/good", "--users", "2", "--spawn-rate", "50", "--run-time", "1", "--wait", "0.1",
        "--max-p95-first-chunk-ms", "60000", "--max-failure-rate", "0.5",
    )  # fmt: skip
    code, out, err = _finish(passing)
    assert code == 0, err + out
    assert "gate first-chunk p95: passed" in out and "gate failure rate: passed" in out


def test_a_master_and_two_workers_then_ctrl_c_leaves_nothing_behind(
    agent: str, scenario: Path, tmp_path: Path
) -> None:
    prefix = tmp_path / "run"
    proc = _load(
        str(scenario), "--webhook", f"{agent}/good", "--users", "4", "--spawn-rate", "50", "--run-time", "60",
        "--workers", "2", "--csv", str(prefix), "--wait", "0.1", "--transcripts", str(tmp_path / "kept.txt"),
    )  # fmt: skip
    # Both workers joined and the run started; then the agent answered turns (the workers report
    # every 3 s, so the master's figures come in with their final reports when they quit).
    assert proc.stderr is not None
    line = ""
    while "running:" not in line:
        line = proc.stderr.readline()
        assert line, "the load run ended before it started"
    assert "over 2 workers" in line
    before = HITS["turns"]
    # 12 turns among 4 callers: one of them began a third turn, so its first call (two turns) is
    # over and its play's transcript is kept.
    wait_until(lambda: HITS["turns"] >= before + 12, "the agent to answer a dozen turns", guard=30)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the master and its workers
    code, out, err = _finish(proc)
    assert code == 130, err + out
    assert "Traceback" not in err, err  # each worker closed its emulators before it exited
    # The workers sent their plays' transcripts to the master with their reports.
    assert "== quick call (caller +1" in (tmp_path / "kept.txt").read_text()
    stats = _stats(prefix)
    for key in METRICS[:3]:
        assert key in stats and int(stats[key]["Request Count"]) > 0, (key, sorted(stats))
    assert not _group(proc.pid)


def test_plays_that_cannot_run_fail_the_run_without_any_gate(agent: str, tmp_path: Path) -> None:
    unplaceable = tmp_path / "unplaceable.yaml"
    unplaceable.write_text("name: wrong number\ncall: {to: '+12025550100'}\nturns:\n  - say: Hi\n")
    proc = _load(
        str(unplaceable), "--webhook", f"{agent}/good", "--users", "1", "--run-time", "1", "--wait", "0.1"
    )
    code, out, err = _finish(proc)
    assert code == 1, err + out
    assert "could not be placed" in out and "FAILED: nothing was measured" in out, out


def test_the_example_locustfile_runs_on_plain_locust(agent: str, tmp_path: Path) -> None:
    locustfile = Path(__file__).resolve().parent.parent / "examples" / "locustfile.py"
    proc = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", "5", "-r", "50",
         "-t", "4s", "--host", f"{agent}/good", "--only-summary"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    code, out, err = _finish(proc)
    assert code in (0, 1), err  # 1: the scenarios' expectations of the example agent fail here
    summary = out + err  # Locust's summary table (its logger writes to stderr)
    kinds = {line.split()[0] for line in summary.splitlines() if line[:1].isupper() and " / " in line}
    assert {"CALL", "SMS", "EMULATOR"} <= kinds, (kinds, summary[-2000:])
    assert "Traceback" not in err, err


GATES = """
from locust.stats import RequestStats
from agentphone_emulator.load.gates import judge
stats = RequestStats()
def lines(**gates):
    return [v.line.split(",")[0].split(": ")[1] + ("" if v.passed else "!") for v in judge(stats, **gates)]
print(lines(max_p95_first_chunk_ms=100, max_failure_rate=0.5))
stats.log_request("SMS", "s / sms delivery", 5, 0)
print(lines(max_p95_first_chunk_ms=100, max_failure_rate=0.5))
for ms in [10] * 90 + [500] * 10:
    stats.log_request("TURN", "s / turn 1 first chunk", ms, 0)
stats.log_request("TURN", "s / turn 1 last chunk", 9000, 0)
stats.log_error("FINDING", "s / contract", "webhook_http_error")
print(lines(max_p95_first_chunk_ms=100, max_failure_rate=0.005), lines(max_p95_first_chunk_ms=600, max_failure_rate=0.01))
"""


def test_the_gates_judge_every_first_chunk_and_fail_when_nothing_was_measured() -> None:
    # In a subprocess: importing Locust patches the process it runs in.
    done = subprocess.run([sys.executable, "-c", GATES], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "['FAILED!', 'FAILED!']",  # nothing measured: no pass
        "['FAILED!', 'passed']",  # no first chunk: the latency gate fails
        "['FAILED!', 'FAILED!'] ['passed', 'passed']",  # p95 is 500 ms; 1 failure in 102 requests
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--webhook", "http://127.0.0.1:9/"], "no scenario"),
        (["SCENARIO", "--webhook", "ftp://x"], "is not an http or https URL"),
        (["SCENARIO"], "--webhook URL is required"),
        (["SCENARIO", "--webhook", "http://h/", "--worker"], "--worker needs --master-host"),
        (["missing.yaml", "--webhook", "http://h/"], "missing.yaml:1:1: no such file or directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(scenario: Path, args: list[str], message: str) -> None:
    argv = [str(scenario) if a == "SCENARIO" else a for a in args]
    done = subprocess.run(
        [sys.executable, "-m", "agentphone_emulator", "load", *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


@given(st.integers(0, 7999), st.integers(0, 7999), st.integers(0, 99_999), st.integers(0, 99_999))
def test_caller_numbers_are_valid_and_never_shared_between_workers(
    w1: int, w2: int, s1: int, s2: int
) -> None:
    a, b = NumberPool(w1).number(s1), NumberPool(w2).number(s2)
    assert normalize_e164(a) == a and normalize_e164(b) == b
    assert (a == b) == ((w1, s1) == (w2, s2))


def test_a_pool_hands_out_each_number_to_one_caller_at_a_time() -> None:
    pool = NumberPool(3)
    first, second = pool.take(), pool.take()
    assert first != second
    pool.give_back(first)
    assert pool.take() == first  # reused once free, never while taken
    assert len({pool.take() for _ in range(100)} | {first, second}) == 102


def test_the_sweep_drops_what_a_long_run_is_done_with_and_keeps_the_rest(
    vemu: Emulator, vclient: AgentPhone
) -> None:
    from agentphone_emulator.load.sweep import KEEP_SECONDS, sweep

    agent = vclient.agents.create(name="Support")
    number = vclient.numbers.buy(agent_id=agent.id).phone_number
    done = vemu.ring(to=number, from_="+12009000001")
    done.hangup()
    vemu.send_sms(from_="+12009000001", to=number, body="hi")
    account = vemu.account()
    assert sweep(vemu) == 0  # all of it is recent
    vemu.advance(KEEP_SECONDS + 1)
    live = vemu.ring(to=number, from_="+12009000002")  # up for longer than the margin, still needed
    vemu.advance(KEEP_SECONDS + 1)
    assert sweep(vemu) == 2  # the ended call and the text (no webhook: no delivery)
    assert list(account.calls) == [live.id] and not account.messages
    live.hangup()


def test_a_worker_with_no_copy_of_the_scenarios_plays_the_masters(
    agent: str, scenario: Path, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    prefix = tmp_path / "run"
    master = _load(
        str(scenario), "--webhook", f"{agent}/good", "--master", "--master-bind-host", "127.0.0.1",
        "--master-port", port, "--users", "1", "--spawn-rate", "50", "--run-time", "2", "--wait", "0.1",
        "--csv", str(prefix),
    )  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Another machine, as it were: its own directory, where its scenario path names nothing.
    worker = subprocess.Popen(
        [sys.executable, "-m", "agentphone_emulator", "load", "scenarios/quick.yaml", "--webhook",
         f"{agent}/good", "--worker", "--master-host", "127.0.0.1", "--master-port", port],
        cwd=elsewhere, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        code, out, err = _finish(master)
        worker_code, _, worker_err = _finish(worker)
    finally:
        for proc in (master, worker):
            if proc.poll() is None:
                proc.kill()
    assert code == 0, err + out
    assert worker_code == 0 and "Traceback" not in worker_err, worker_err
    line = "worker: playing the master's 1 scenario file, not its own scenarios/quick.yaml"
    assert line in worker_err.splitlines(), worker_err
    stats = _stats(prefix)
    assert int(stats[("CALL", "quick call / call setup")]["Request Count"]) > 0, sorted(stats)


def test_the_scenarios_a_master_sends_arrive_whole_under_its_paths(scenario: Path, tmp_path: Path) -> None:
    sent = pack([str(scenario)])
    got = unpack(sent)
    assert got.problem is None and got.files == (str(scenario),)
    assert [item.file for item in got.loaded] == [str(scenario)] * 2  # findings name the master's file
    assert [item.scenario.name for item in got.loaded] == ["quick call", "quick text"]


def test_too_much_to_send_is_one_line_naming_the_limit(
    scenario: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shipment, "MAX_SHIPMENT_BYTES", 2**20)
    big = scenario.parent / "big.yaml"
    big.write_text(SCENARIO.replace("name: quick", "name: big") + "#" * 2**20)
    with pytest.raises(ShipmentError) as caught:
        pack([str(scenario), str(big)])
    assert str(caught.value).endswith("bytes: at most 1 MiB go to the workers"), caught.value
    big.unlink()


WIRE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
SHIPMENTS = st.fixed_dictionaries(
    {"version": st.sampled_from([1, 2, "1", None]), "files": st.lists(
        st.fixed_dictionaries({"path": st.text(max_size=20) | WIRE, "text": st.sampled_from([SCENARIO, BROKEN, ""]) | WIRE}),
        max_size=3,
    )}
)  # fmt: skip


@given(WIRE | SHIPMENTS)
def test_whatever_a_worker_receives_is_scenarios_or_one_line(data: object) -> None:
    try:
        got = unpack(data)
    except ShipmentError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert got.loaded and got.problem is None


def test_a_malformed_message_is_one_line_on_the_worker_and_fails_its_setup(
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = types.SimpleNamespace()  # only its identity is used: no Locust in the test process
    handle = shipment.receiver(env, ["mine.yaml"])  # type: ignore[arg-type]
    handle(msg=types.SimpleNamespace(data={"version": 1, "files": [{"path": "a.yaml", "text": 7}]}))
    err = capsys.readouterr().err
    assert err == "agentphone-emulator: error: the master's scenarios: files[0].text is not text\n"
    got = shipment.received_for(env)  # type: ignore[arg-type]
    assert got is not None and got.problem is not None and not got.loaded  # its users' setup fails
    shipment.forget(env)  # type: ignore[arg-type]
