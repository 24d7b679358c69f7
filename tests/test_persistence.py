"""``serve --state FILE``: the state survives a restart, a kill never leaves a broken file, and a
file that is not a good state file is refused in one line and left byte for byte as it was.

The CLI tests run the real command in subprocesses and talk to it over HTTP with the SDK; the codec
is checked by a hypothesis round trip over every record type the state holds.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
import requests
from agentphone import AgentPhone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentphone_emulator import Emulator, VirtualClock
from agentphone_emulator.settings import AccountSettings
from agentphone_emulator.store import agents as agent_store
from agentphone_emulator.store import numbers as number_store
from agentphone_emulator.store import persistence, state_file
from agentphone_emulator.store.account import Account, EmulatorState
from agentphone_emulator.store.findings import Finding

CLI = [sys.executable, "-m", "agentphone_emulator"]
KEY = "sk_test_persist"
TEXTER = "+14155550100"


@contextmanager
def serving(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    env = {k: v for k, v in os.environ.items() if k != "AGENTPHONE_EMULATOR_API_KEY"}
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert "ready at" in ready, proc.stderr.read() if proc.stderr else ""
        yield proc, ready
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def base_url(ready: str) -> str:
    return ready.split("ready at ", 1)[1].split()[0]


def stop(proc: subprocess.Popen[str], sig: signal.Signals = signal.SIGINT) -> str:
    proc.send_signal(sig)
    assert proc.wait(timeout=20) == 0
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert "Traceback" not in err
    return err


def inbound_text(url: str, to: str, body: str, key: str = KEY) -> None:
    resp = requests.post(
        url + "/__emulator/sms",
        json={"from": TEXTER, "to": to, "body": body},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert resp.status_code == 201, resp.text


def test_state_survives_a_restart_with_the_same_key(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with serving("--api-key", KEY, "--state", str(state), "--seed", "7") as (proc, ready):
        url = base_url(ready)
        with AgentPhone(api_key=KEY, base_url=url) as sdk:
            agent = sdk.agents.create(name="Support", begin_message="Hi!")
            number = str(sdk.numbers.buy(agent_id=agent.id).phone_number)
        inbound_text(url, number, "where is my order?")
        stop(proc)
    assert state.stat().st_mode & 0o777 == 0o600  # API keys and webhook secrets are in it

    # No --api-key: the file's key is the key; a new --api-key would get a fresh account.
    with serving("--state", str(state), "--seed", "7", "--api-key", "sk_test_new") as (proc, ready):
        url = base_url(ready)
        assert ready.rstrip().endswith("api key: sk_test_new")  # the flag's key is first
        with AgentPhone(api_key=KEY, base_url=url) as sdk:
            assert [a.id for a in sdk.agents.list().data] == [agent.id]
            assert [str(n.phone_number) for n in sdk.numbers.list().data] == [number]
            conversations = sdk.conversations.list().data
            assert len(conversations) == 1
            messages = sdk.conversations.get_messages(conversations[0].id).data
            assert [m.body for m in messages] == ["where is my order?"]
            # The seeded id generator resumes where it stopped: no id of an existing record again.
            assert sdk.agents.create(name="Second").id != agent.id
        with AgentPhone(api_key="sk_test_new", base_url=url) as sdk:
            assert sdk.agents.list().data == []
        stop(proc, signal.SIGTERM)

    # Both keys are in the file now, each with its account.
    saved = state_file.load(state)
    assert saved is not None and set(saved.keys) == {KEY, "sk_test_new"}
    assert len(saved.accounts[saved.keys[KEY]].agents) == 2


def test_settings_changed_over_the_control_plane_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    changes = {"creditCents": 1234, "voiceHistoryIncludesUtterance": False, "require10dlcApproval": True}
    auth = {"Authorization": f"Bearer {KEY}"}
    with serving("--api-key", KEY, "--state", str(state)) as (proc, ready):
        url = base_url(ready) + "/__emulator/account"
        changed = requests.patch(url, json=changes, headers=auth, timeout=10)
        assert changed.status_code == 200, changed.text
        stop(proc)
    with serving("--state", str(state)) as (proc, ready):
        account = requests.get(base_url(ready) + "/__emulator/account", headers=auth, timeout=10).json()
        assert {name: account["settings"][name] for name in changes} == changes
        assert account["balanceCents"] == 1234
        stop(proc)


def test_the_periodic_save_happens_without_a_shutdown(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with serving("--api-key", KEY, "--state", str(state), "--state-interval", "0.2") as (proc, ready):
        with AgentPhone(api_key=KEY, base_url=base_url(ready)) as sdk:
            agent_id = sdk.agents.create(name="Saved while running").id
        deadline = time.monotonic() + 15  # generous: a save every 0.2 s
        while time.monotonic() < deadline:
            saved = state_file.load(state)
            assert saved is not None
            if agent_id in saved.accounts[saved.keys[KEY]].agents:
                break
            time.sleep(0.05)
        else:
            pytest.fail("hang guard: the state file did not get the agent in 15 s while the emulator ran")
        assert proc.poll() is None
        # Nothing changed since: the file is not rewritten (same inode, same bytes).
        before = (state.stat().st_ino, state.read_bytes())
        time.sleep(0.8)
        assert (state.stat().st_ino, state.read_bytes()) == before


def _keep_creating(url: str, halt: threading.Event) -> None:
    with AgentPhone(api_key=KEY, base_url=url) as sdk:
        while not halt.is_set():
            try:
                sdk.agents.create(name="x" * 200, system_prompt="y" * 2000)
            except Exception:  # the server was killed under us
                return


def test_a_kill_at_any_moment_leaves_the_previous_good_state(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    rng = random.Random(1234)
    agents_seen = 0
    for _ in range(3):
        with serving("--api-key", KEY, "--state", str(state), "--state-interval", "0.02") as (proc, ready):
            halt = threading.Event()
            writer = threading.Thread(target=_keep_creating, args=(base_url(ready), halt))
            writer.start()
            time.sleep(rng.uniform(0.3, 1.2))
            proc.kill()  # SIGKILL: no handler, no final save
            proc.wait(timeout=10)
            halt.set()
            writer.join(timeout=20)
        saved = state_file.load(state)  # parses: never a torn or half-written file
        assert saved is not None
        agents = len(saved.accounts[saved.keys[KEY]].agents)
        assert agents >= agents_seen  # what an earlier run saved is still there
        agents_seen = agents
    assert agents_seen > 0
    # A killed writer's temporary file is cleaned up by the next start.
    with serving("--api-key", KEY, "--state", str(state)) as (proc, _ready):
        stop(proc)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_second_serve_on_the_same_file_is_refused_and_the_first_keeps_its_data(tmp_path: Path) -> None:
    """Two emulators on one file would each save their own state over the other's: the second
    one is refused (one line naming the file and the owner's pid, exit 2) and writes nothing."""
    state = tmp_path / "state.json"
    link = tmp_path / "same-file.json"
    link.symlink_to(state)  # another name for the same file is the same file
    with serving("--api-key", KEY, "--state", str(state), "--state-interval", "0") as (proc, ready):
        with AgentPhone(api_key=KEY, base_url=base_url(ready)) as sdk:
            agent_id = sdk.agents.create(name="First owner").id
        before = state.read_bytes()
        results = run_all(
            *(
                [*CLI, "serve", "--port", "0", "--api-key", "sk_test_other", "--state", str(path)]
                for path in (state, link)
            )
        )
        for path, result in zip((state, link), results, strict=True):
            assert result.returncode == 2, result.stdout + result.stderr
            assert "ready at" not in result.stdout
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
            assert lines[0].startswith(f"agentphone-emulator: error: --state {path} is in use by "), lines[0]
            assert f"(pid {proc.pid})" in lines[0], lines[0]
        assert state.read_bytes() == before  # the refused ones wrote nothing
        stop(proc)
    saved = state_file.load(state)
    assert saved is not None and agent_id in saved.accounts[saved.keys[KEY]].agents
    assert "sk_test_other" not in saved.keys
    # The owner's lock goes with it: the file can be served again, and no lock file is left.
    with serving("--api-key", KEY, "--state", str(state)) as (proc, _ready):
        stop(proc)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same-file.json", "state.json"]


def test_a_state_path_that_is_a_symlink_stays_one_and_its_target_is_saved(tmp_path: Path) -> None:
    """``--state`` naming a symlink (a dotfiles setup, a shared volume) saves into the file it
    points to; the link is not replaced by a regular file that leaves the target stale."""
    (tmp_path / "data").mkdir()
    (tmp_path / "conf").mkdir()
    target = tmp_path / "data" / "state.json"
    link = tmp_path / "conf" / "state.json"
    link.symlink_to(target)  # dangling until the first save creates the target
    with serving("--api-key", KEY, "--state", str(link), "--state-interval", "0") as (proc, ready):
        with AgentPhone(api_key=KEY, base_url=base_url(ready)) as sdk:
            agent_id = sdk.agents.create(name="Through the link").id
        stop(proc, signal.SIGTERM)
    assert link.is_symlink() and link.resolve() == target.resolve()
    saved = state_file.load(target)
    assert saved is not None and agent_id in saved.accounts[saved.keys[KEY]].agents
    assert target.stat().st_mode & 0o777 == 0o600
    # Nothing left beside either name (temporary files go beside the target, and are renamed).
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["state.json"]
    assert [p.name for p in (tmp_path / "conf").iterdir()] == ["state.json"]
    # And the link's state loads again through the link.
    with serving("--api-key", KEY, "--state", str(link)) as (proc, ready):
        with AgentPhone(api_key=KEY, base_url=base_url(ready)) as sdk:
            assert [a.id for a in sdk.agents.list().data] == [agent_id]
        stop(proc)
    assert link.is_symlink()


@pytest.mark.parametrize(
    "signals", [(signal.SIGTERM,), (signal.SIGINT, signal.SIGINT)], ids=["SIGTERM", "Ctrl-C twice"]
)
def test_an_open_transcript_stream_does_not_hold_the_stop_or_cost_the_state(
    tmp_path: Path, signals: tuple[signal.Signals, ...]
) -> None:
    """A client following a live call's transcript (SSE) kept ``serve`` from stopping for two
    minutes, past docker's and systemd's grace, so the SIGKILL that follows lost the state. The
    stream is closed at the stop, and the state is saved before anything that could take long."""
    state = tmp_path / "state.json"
    with serving("--api-key", KEY, "--state", str(state), "--state-interval", "0") as (proc, ready):
        url = base_url(ready)
        with AgentPhone(api_key=KEY, base_url=url) as sdk:
            agent = sdk.agents.create(name="On the phone", begin_message="Hello!")
            number = str(sdk.numbers.buy(agent_id=agent.id).phone_number)
        headers = {"Authorization": f"Bearer {KEY}"}
        call = requests.post(url + "/__emulator/calls", json={"to": number}, headers=headers, timeout=30)
        assert call.status_code == 201, call.text
        call_id = call.json()["callId"]
        with requests.get(
            f"{url}/v1/calls/{call_id}/transcript/stream", headers=headers, stream=True, timeout=60
        ) as stream:
            lines = stream.iter_lines()
            assert next(lines) == b"event: connected"
            started = time.monotonic()
            for sig in signals:
                proc.send_signal(sig)
                time.sleep(0.2)
            code = proc.wait(timeout=30)  # a hang guard only: the figure is in docs/reliability.md
            stop_seconds = time.monotonic() - started
            assert list(lines)[-1:] in ([], [b""])  # the stream ended; no half event
        assert code == 0
        assert proc.stderr is not None and "Traceback" not in proc.stderr.read()
    print(f"stopped in {stop_seconds:.2f} s with a transcript stream open")
    saved = state_file.load(state)
    assert saved is not None
    account = saved.accounts[saved.keys[KEY]]
    assert agent.id in account.agents
    assert call_id in account.calls


# -- files that are not good state files ------------------------------------------------------------------


def good_file_bytes() -> bytes:
    state = EmulatorState(api_keys=[KEY])
    return persistence.frame(persistence.dump_payload(state))


def _future_version(data: bytes) -> bytes:
    header, payload = data.split(b"\n", 1)
    fields = json.loads(header)
    fields["version"] = persistence.VERSION + 1
    return json.dumps(fields).encode() + b"\n" + payload


def _flip_a_payload_byte(data: bytes) -> bytes:
    at = data.index(b"Emulator account")
    return data[:at] + b"X" + data[at + 1 :]


def _bad_field(data: bytes) -> bytes:
    """A well-framed file whose content does not fit the records (a hand edit gone wrong)."""
    payload = json.loads(data.split(b"\n", 1)[1])
    next(iter(payload["accounts"].values()))["created_at"] = "yesterday"
    return persistence.frame(json.dumps(payload).encode())


BAD_FILES = {
    "truncated": (lambda data: data[: len(data) // 2], "is truncated"),
    "truncated in its header": (lambda data: data[:40], "is truncated"),
    "empty": (lambda data: b"", "is empty"),
    "corrupt": (_flip_a_payload_byte, "is corrupt (its checksum does not match"),
    "a bad field": (_bad_field, "is corrupt (accounts."),
    "future version": (_future_version, f"is state format version {persistence.VERSION + 1}"),
    "not ours (JSON)": (lambda data: b'{"name": "my-package", "version": "1.0"}\n', "is not an agentphone"),
    "not ours (binary)": (lambda data: b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "is not an agentphone"),
}


def run_all(*commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run the commands side by side (each is a Python start-up: CI time), wait for all."""
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]
    results = []
    try:
        for command, proc in zip(commands, procs, strict=True):
            out, err = proc.communicate(timeout=60)
            results.append(subprocess.CompletedProcess(command, proc.returncode, out, err))
    finally:  # one that serves instead of failing must not outlive the test
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    return results


def test_a_bad_state_file_is_one_line_exit_2_and_left_untouched(tmp_path: Path) -> None:
    good = good_file_bytes()
    files = {}
    for number, (kind, (make, _)) in enumerate(BAD_FILES.items()):
        folder = tmp_path / str(number)
        folder.mkdir()
        files[kind] = (folder / "state.json", make(good))
        files[kind][0].write_bytes(files[kind][1])
    results = run_all(*([*CLI, "serve", "--port", "0", "--state", str(path)] for path, _ in files.values()))
    for (kind, (path, content)), result in zip(files.items(), results, strict=True):
        assert result.returncode == 2, kind
        assert "Traceback" not in result.stderr, kind
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (kind, result.stderr)
        assert lines[0].startswith(f"agentphone-emulator: error: --state {path} "), kind
        assert BAD_FILES[kind][1] in lines[0], (kind, lines[0])
        assert lines[0].endswith("; the file was left as it is"), kind
        assert path.read_bytes() == content, kind
        assert [p.name for p in path.parent.iterdir()] == ["state.json"], kind


def test_state_flag_mistakes_are_one_line(tmp_path: Path) -> None:
    cases = (
        (["--state-interval", "5"], "--state-interval needs --state"),
        (["--state", str(tmp_path)], "is a directory"),
        (["--state", str(tmp_path / "missing" / "state.json")], "cannot write --state"),
    )
    results = run_all(*([*CLI, "serve", "--port", "0", *args] for args, _ in cases))
    for (args, expected), result in zip(cases, results, strict=True):
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr and expected in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# -- the codec -------------------------------------------------------------------------------------------


def json_values() -> st.SearchStrategy[Any]:
    """Free-form JSON (what an `Any` field holds). A new strategy per use: hypothesis validates a
    shared recursive strategy once per thread and warned, wrongly, that this one never recurses."""
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3),
        max_leaves=8,
    )


def strategy(hint: Any) -> st.SearchStrategy[Any]:
    """Values of every shape a type hint of the store allows (NaN aside: NaN != NaN)."""
    if hint is Any:
        return json_values()
    if hint is datetime:
        return st.datetimes(timezones=st.just(UTC))
    if hint is float:
        return st.floats(allow_nan=False)
    if hint is AccountSettings:  # every switch varied, so a new one is round-tripped too
        switches = {n: st.booleans() for n, f in AccountSettings.model_fields.items() if f.annotation is bool}
        return st.builds(AccountSettings, credit_cents=st.integers(0, 10**6), **switches)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return st.sampled_from(list(hint))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        saved = [f.name for f in dataclasses.fields(hint) if f.compare]
        return st.builds(hint, **{name: strategy(hints[name]) for name in saved})
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list:
        return st.lists(strategy(args[0]), max_size=2)
    if origin is set:
        return st.sets(strategy(args[0]), max_size=2)
    if origin is dict:
        return st.dictionaries(st.text(max_size=5), strategy(args[1]), max_size=2)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return st.lists(strategy(args[0]), max_size=2).map(tuple)
    if origin is tuple:
        return st.tuples(*(strategy(a) for a in args))
    if args and type(None) in args:
        return st.none() | strategy(next(a for a in args if a is not type(None)))
    return st.from_type(hint)


def _round_trip(value: Any, hint: Any) -> Any:
    text = json.dumps(persistence.encode(value, hint))  # through text: what the file holds
    return persistence.decode(json.loads(text), hint)


RECORD_TYPES = sorted(
    {typing.get_type_hints(Account)[f.name] for f in dataclasses.fields(Account)} | {Finding},
    key=str,
)


@pytest.mark.parametrize("hint", RECORD_TYPES, ids=str)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_type_the_state_holds_round_trips(hint: Any, data: st.DataObject) -> None:
    value = data.draw(strategy(hint))
    assert _round_trip(value, hint) == value


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(saved=strategy(persistence.SavedState))
def test_a_whole_saved_state_round_trips(saved: persistence.SavedState) -> None:
    assert _round_trip(saved, persistence.SavedState) == saved


def test_a_value_that_does_not_fit_says_where() -> None:
    with pytest.raises(ValueError, match=r"^accounts\.acct_1: expected an object \(Account\), got list$"):
        persistence.decode(
            {"accounts": {"acct_1": []}, "number_owner": {}, "keys": {}}, persistence.SavedState
        )


async def test_a_pending_retry_survives_a_restart_and_is_delivered_after_it() -> None:
    """A text whose webhook was down waits for its next attempt; saved, loaded into a new
    emulator and rescheduled, that attempt happens there, where the webhook now answers."""
    settings = AccountSettings(credit_cents=10_000)
    async with Emulator(settings=settings, clock=VirtualClock()) as first:
        account = first.account()
        agent = agent_store.create_agent(first.state, account, {"name": "Down"})
        number = number_store.buy_number(
            first.state, account, country="US", area_code=None, agent_id=agent.id, type="sms",
            imessage_type=None, external_id=None, expires_at=None,
        )  # fmt: skip
        first.set_webhook("http://127.0.0.1:9/down", secret="whsec_restart")
        await first.asend_sms(from_="+14155550100", to=number.phone_number, body="are you there?")
        [pending] = first.deliveries()
        assert (pending.status, pending.attempt_count) == ("pending", 1)
        saved = persistence.parse(persistence.frame(persistence.dump_payload(first.state)), "state.json")
        key = first.api_key

    second = Emulator(api_keys=[key], settings=settings, clock=VirtualClock())
    persistence.restore_into(saved, second.state)
    async with second:
        second.platform.dispatcher.reschedule()
        second.set_webhook("tests.voice_app:app/voice", secret="whsec_restart")
        await second.afast_forward(3600)
        [delivered] = second.deliveries()
        assert delivered.id == pending.id
        assert (delivered.status, delivered.attempt_count) == ("success", 2)
