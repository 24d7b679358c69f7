"""Who may do what on the control plane, over real HTTP on loopback: an account's API key acts on
its own account only; what touches every account (reset, snapshots, the shared clock, callees,
hosted mode) takes the emulator's admin key, which is the only key of a one-account emulator; and
an HTTP request never gets a module imported into the emulator unless its operator allowed it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from agentphone import AgentPhone

from agentphone_emulator import Emulator, VirtualClock

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "agentphone_emulator"]
A, B, ADMIN = "sk_test_account_a", "sk_test_account_b", "sk_admin_operator"


def control(base_url: str, key: str, method: str, path: str, body: object = None) -> requests.Response:
    return requests.request(
        method,
        f"{base_url}/__emulator{path}",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def agent_names(base_url: str, key: str) -> list[str]:
    with AgentPhone(api_key=key, base_url=base_url) as sdk:
        return sorted(a.name for a in sdk.agents.list().data)


def add_agent(base_url: str, key: str, name: str) -> None:
    with AgentPhone(api_key=key, base_url=base_url) as sdk:
        sdk.agents.create(name=name)


def assert_admin_required(answer: requests.Response, what: str) -> None:
    """403 in the API's error shape, naming the route and saying which key it takes."""
    assert answer.status_code == 403, (what, answer.status_code, answer.text)
    body = answer.json()
    assert set(body) == {"detail", "code"} and body["code"] == "ADMIN_KEY_REQUIRED", body
    assert what in body["detail"] and "admin key" in body["detail"], body["detail"]
    assert "--admin-key" in body["detail"]
    assert A not in body["detail"] and B not in body["detail"]  # a key is never echoed


@pytest.fixture
def two_accounts() -> Iterator[Emulator]:
    """Two accounts and no admin key given: the emulator makes one up (``emu.admin_key``)."""
    with Emulator.run_in_thread(api_keys=[A, B], clock=VirtualClock()) as emu:
        yield emu


# -- item 17: the scope of a key ---------------------------------------------------------------------


def test_one_accounts_key_cannot_reset_or_restore_every_account(two_accounts: Emulator) -> None:
    url = two_accounts.base_url
    add_agent(url, B, "B's agent")
    assert_admin_required(control(url, A, "POST", "/reset"), "POST /__emulator/reset")
    assert agent_names(url, B) == ["B's agent"]  # nothing of B's went
    admin = two_accounts.admin_key

    snapshot = control(url, admin, "POST", "/snapshots")
    assert snapshot.status_code == 201, snapshot.text
    snap = snapshot.json()["id"]
    add_agent(url, B, "B's second agent")
    assert_admin_required(control(url, A, "POST", f"/snapshots/{snap}/restore"), "/restore")
    assert_admin_required(control(url, B, "POST", f"/snapshots/{snap}/restore"), "/restore")
    assert_admin_required(control(url, A, "POST", "/snapshots"), "POST /__emulator/snapshots")
    assert agent_names(url, B) == ["B's agent", "B's second agent"]

    # The admin key can: it acts on the whole emulator.
    assert control(url, admin, "POST", f"/snapshots/{snap}/restore").status_code == 200
    assert agent_names(url, B) == ["B's agent"]
    assert control(url, admin, "POST", "/reset").json() == {"reset": True}
    assert agent_names(url, B) == [] and agent_names(url, A) == []


def test_the_shared_clock_callees_and_hosted_mode_take_the_admin_key(two_accounts: Emulator) -> None:
    url = two_accounts.base_url
    start = control(url, A, "GET", "/clock").json()["now"]  # reading it is anyone's
    assert_admin_required(control(url, A, "POST", "/clock/advance", {"seconds": 60}), "clock/advance")
    assert_admin_required(control(url, B, "POST", "/clock/fast-forward"), "clock/fast-forward")
    assert control(url, B, "GET", "/clock").json()["now"] == start  # it did not move

    # A callee scripted for a number answers every account's calls to it; the hosted model's URL
    # is where every hosted call's prompt (and $AGENTPHONE_EMULATOR_LLM_KEY) goes.
    assert_admin_required(control(url, A, "POST", "/callees", {"number": "+14155552671"}), "callees")
    assert_admin_required(
        control(url, A, "POST", "/hosted", {"llmUrl": "http://127.0.0.1:9/v1"}), "POST /__emulator/hosted"
    )
    assert two_accounts.platform.voice.hosted.llm_url is None
    assert "+14155552671" not in two_accounts.platform.voice.callees

    admin = two_accounts.admin_key
    moved = control(url, admin, "POST", "/clock/advance", {"seconds": 60})
    assert moved.status_code == 200 and moved.json()["advancedSeconds"] == 60
    assert control(url, admin, "GET", "/clock").json()["now"] == moved.json()["now"]
    assert control(url, admin, "POST", "/callees", {"number": "+14155552671"}).status_code == 201


def test_an_accounts_own_controls_stay_its_own(two_accounts: Emulator) -> None:
    """Per-account routes work with either account's key, on that account only; the admin key has
    no account of its own (a clear 403, not a guess at which account was meant)."""
    url, admin = two_accounts.base_url, two_accounts.admin_key
    assert control(url, A, "GET", "/findings").json() == {"findings": []}
    assert control(url, B, "GET", "/deliveries").json() == []
    assert control(url, B, "GET", "/account").status_code == 200
    for method, path in [("GET", "/findings"), ("GET", "/deliveries"), ("POST", "/sms")]:
        refused = control(url, admin, method, path, {})
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["code"] == "ADMIN_KEY_HAS_NO_ACCOUNT"
        assert "one of the accounts' API keys" in refused.json()["detail"]
    refused = requests.get(f"{url}/v1/agents", headers={"Authorization": f"Bearer {admin}"}, timeout=30)
    assert refused.status_code == 403 and refused.json()["code"] == "ADMIN_KEY_HAS_NO_ACCOUNT"
    wrong = control(url, "sk_test_nobody", "POST", "/reset")
    assert wrong.status_code == 401 and wrong.json()["detail"] == "Invalid API key"


def test_several_keys_and_no_admin_key_given_make_one_up() -> None:
    with Emulator.run_in_thread(api_keys=[A, B]) as emu:
        assert emu.admin_key.startswith("sk_admin_") and emu.admin_key not in (A, B)
        assert_admin_required(control(emu.base_url, A, "POST", "/reset"), "POST /__emulator/reset")
        assert control(emu.base_url, emu.admin_key, "POST", "/reset").status_code == 200
    with Emulator.run_in_thread(api_keys=[A, B]) as other:
        assert other.admin_key != emu.admin_key  # random, not derived from anything


def test_a_single_account_is_its_own_admin_as_before() -> None:
    """The common case, one key and one account: its key resets, snapshots, restores and moves
    the clock, exactly as scripts did before admin keys existed."""
    with Emulator.run_in_thread(api_keys=[A], clock=VirtualClock()) as emu:
        url = emu.base_url
        assert emu.admin_key == A
        add_agent(url, A, "Mine")
        snap = control(url, A, "POST", "/snapshots").json()["id"]
        add_agent(url, A, "Another")
        assert control(url, A, "POST", f"/snapshots/{snap}/restore").status_code == 200
        assert agent_names(url, A) == ["Mine"]
        assert control(url, A, "POST", "/clock/advance", {"seconds": 5}).status_code == 200
        assert control(url, A, "POST", "/clock/fast-forward").status_code == 200
        assert control(url, A, "POST", "/callees", {"number": "+14155552671"}).status_code == 201
        assert control(url, A, "POST", "/reset").status_code == 200
        assert agent_names(url, A) == []


def test_an_explicit_admin_key_takes_over_even_for_one_account() -> None:
    with Emulator.run_in_thread(api_keys=[A], admin_key=ADMIN) as emu:
        assert_admin_required(control(emu.base_url, A, "POST", "/reset"), "POST /__emulator/reset")
        assert control(emu.base_url, ADMIN, "POST", "/reset").status_code == 200
    with Emulator.run_in_thread(api_keys=[A, B], admin_key=A) as emu:  # an account's key, chosen
        assert control(emu.base_url, A, "POST", "/reset").status_code == 200
        assert control(emu.base_url, A, "GET", "/findings").status_code == 200
        assert_admin_required(control(emu.base_url, B, "POST", "/reset"), "POST /__emulator/reset")
    for bad in ["", "  ", "sk admin"]:
        with pytest.raises(ValueError, match="admin key"):
            Emulator(admin_key=bad)


def test_the_control_planes_openapi_marks_the_admin_routes() -> None:
    with Emulator.run_in_thread() as emu:
        document = requests.get(emu.base_url + "/__emulator/openapi.json", timeout=30).json()
    paths = document["paths"]
    for path in ["/__emulator/reset", "/__emulator/snapshots", "/__emulator/clock/advance"]:
        op = paths[path]["post"]
        assert "403" in op["responses"] and "admin key" in op["description"], path
    assert "403" not in paths["/__emulator/sms"]["post"]["responses"]


# -- item 18: importing user code from an HTTP request ------------------------------------------------


def side_effect_module(folder: Path) -> tuple[str, Path]:
    """A module that writes a marker file when imported (and is an app)."""
    name = f"import_marker_{uuid.uuid4().hex[:10]}"
    marker = folder / f"{name}.imported"
    (folder / f"{name}.py").write_text(
        "from pathlib import Path\n"
        f"Path({str(marker)!r}).write_text('imported')\n"
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'application/json')])\n"
        "    return [b'{}']\n"
    )
    return name, marker


@pytest.fixture
def importable(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))


def test_an_http_request_imports_nothing_by_default(importable: Path) -> None:
    first, first_marker = side_effect_module(importable)
    name, marker = side_effect_module(importable)
    with Emulator.run_in_thread() as emu:
        refused = control(emu.base_url, emu.api_key, "POST", "/webhook", {"target": f"{first}:app"})
        assert refused.status_code == 403, refused.text
        assert not first_marker.exists() and first not in sys.modules
        # The first refusal may have imported what refusing needs; the second imports nothing.
        before = set(sys.modules)
        refused = control(emu.base_url, emu.api_key, "POST", "/webhook", {"target": f"{name}:app/hook"})
        assert refused.status_code == 403, refused.text
        assert set(sys.modules) == before
        assert not marker.exists()
        body = refused.json()
        assert body["code"] == "APP_IMPORT_NOT_ALLOWED"
        assert f"--app-module {name}" in body["detail"] and "http(s) URL" in body["detail"]
        assert emu.account().webhook is None  # and nothing was set


def test_allowed_modules_are_a_dotted_prefix(importable: Path) -> None:
    name, marker = side_effect_module(importable)
    (importable / "pkg_allowed").mkdir()
    (importable / "pkg_allowed" / "__init__.py").write_text("")
    (importable / "pkg_allowed" / "sub.py").write_text("def app(environ, start_response): ...\n")
    with Emulator.run_in_thread(app_modules=[name, "pkg_allowed"]) as emu:
        url, key = emu.base_url, emu.api_key
        allowed = control(url, key, "POST", "/webhook", {"target": f"{name}:app/hook"})
        assert allowed.status_code == 200, allowed.text
        assert marker.read_text() == "imported"
        assert control(url, key, "POST", "/webhook", {"target": "pkg_allowed.sub:app"}).status_code == 200
        # A prefix is a whole module path: pkg_allowed allows pkg_allowed.*, not pkg_allowedx.
        lookalike = control(url, key, "POST", "/webhook", {"target": "pkg_allowedx:app"})
        assert lookalike.status_code == 403 and lookalike.json()["code"] == "APP_IMPORT_NOT_ALLOWED"
    with pytest.raises(ValueError, match="module"):
        Emulator(app_modules=["not a module"])


# -- serve, in a subprocess ---------------------------------------------------------------------------


@contextmanager
def serving(*args: str, cwd: Path = ROOT) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", "0", "--virtual-clock", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env={k: v for k, v in os.environ.items() if not k.startswith("AGENTPHONE_")},
    )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert "ready at" in ready, proc.stderr.read() if proc.stderr else ""
        yield proc, ready.split("ready at ", 1)[1].split()[0]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def status_lines(proc: subprocess.Popen[str], count: int) -> list[str]:
    """The ``count`` lines after the ready line; fewer (serve printed no more) fail, not hang."""
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        lines.extend(proc.stdout.readline().rstrip("\n") for _ in range(count))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=30)  # not a timing assertion: a bound on waiting for a line never printed
    assert len(lines) == count, lines
    return lines


def trigger_advance(url: str, key: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "trigger", "advance", "60", "--url", url, "--api-key", key],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_with_two_keys_prints_an_admin_key_and_guards_reset() -> None:
    with serving("--api-key", A, "--api-key", B) as (proc, url):
        clock, admin = status_lines(proc, 2)
        assert clock.startswith("clock: virtual")
        found = re.fullmatch(r"admin key: (sk_admin_[0-9a-f]{32})  \(reset, snapshots, the clock\)", admin)
        assert found, admin
        admin_key = found.group(1)
        add_agent(url, B, "B's agent")
        assert_admin_required(control(url, A, "POST", "/reset"), "POST /__emulator/reset")
        assert agent_names(url, B) == ["B's agent"]
        refused = trigger_advance(url, A)
        assert refused.returncode == 1 and "admin key" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
        assert trigger_advance(url, admin_key).returncode == 0
        assert control(url, admin_key, "POST", "/reset").status_code == 200
        assert agent_names(url, B) == []


def test_serve_with_one_key_is_unchanged() -> None:
    """Today's scripts: one key, reset and move the clock with it; no admin line is printed."""
    with serving("--api-key", A, "--webhook", "http://127.0.0.1:9/hook") as (proc, url):
        clock, webhook = status_lines(proc, 2)
        assert clock.startswith("clock: virtual") and webhook.startswith("webhook: ")
        add_agent(url, A, "Mine")
        assert trigger_advance(url, A).returncode == 0
        assert control(url, A, "POST", "/reset").status_code == 200
        assert agent_names(url, A) == []
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
        assert "admin key" not in out


def test_serve_admin_key_flag() -> None:
    with serving("--api-key", A, "--api-key", B, "--admin-key", ADMIN) as (proc, url):
        assert status_lines(proc, 2)[1] == f"admin key: {ADMIN}  (reset, snapshots, the clock)"
        assert control(url, ADMIN, "POST", "/reset").status_code == 200
        assert_admin_required(control(url, B, "POST", "/reset"), "POST /__emulator/reset")
    for bad in [["--admin-key", ""], ["--admin-key", "has space"], ["--app-module", "not-a.module"]]:
        done = subprocess.run(
            [*CLI, "serve", "--port", "0", *bad], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2, bad
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr


def test_serve_imports_no_module_an_http_request_names(tmp_path: Path) -> None:
    name, marker = side_effect_module(tmp_path)
    with serving("--api-key", A, cwd=tmp_path) as (_proc, url):
        refused = control(url, A, "POST", "/webhook", {"target": f"{name}:app"})
        assert refused.status_code == 403 and refused.json()["code"] == "APP_IMPORT_NOT_ALLOWED"
        assert not marker.exists()
    with serving("--api-key", A, "--app-module", name, cwd=tmp_path) as (_proc, url):
        assert not marker.exists()  # allowing is not importing
        allowed = control(url, A, "POST", "/webhook", {"target": f"{name}:app"})
        assert allowed.status_code == 200, allowed.text
        assert marker.read_text() == "imported"


def test_serve_webhook_allows_its_own_modules_app_over_http(tmp_path: Path) -> None:
    name, marker = side_effect_module(tmp_path)
    with serving("--api-key", A, "--webhook", f"{name}:app/sms", cwd=tmp_path) as (_proc, url):
        assert marker.exists()  # serve imported it, as its command line said
        again = control(url, A, "POST", "/webhook", {"target": f"{name}:app/voice"})
        assert again.status_code == 200, again.text
        other = control(url, A, "POST", "/webhook", {"target": "json:dumps"})
        assert other.status_code == 403


def test_a_sub_accounts_webhook_is_set_on_that_sub_account_and_no_other(two_accounts: Emulator) -> None:
    """POST /__emulator/webhook with X-Sub-Account-Id looked its account up by the sub-account's
    key, which it has none of, and fell back to the emulator's first key: B's sub-account's
    webhook was set on account A."""
    url = two_accounts.base_url
    created = requests.post(
        f"{url}/v1/sub-accounts",
        json={"name": "B's team"},
        headers={"Authorization": f"Bearer {B}"},
        timeout=30,
    )
    assert created.status_code in (200, 201), created.text
    sub_id = created.json()["id"]
    answer = requests.post(
        f"{url}/__emulator/webhook",
        json={"target": "https://b-team.example.com/hook"},
        headers={"Authorization": f"Bearer {B}", "X-Sub-Account-Id": sub_id},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    sub = two_accounts.state.accounts[sub_id]
    assert sub.webhook is not None and sub.webhook.url == "https://b-team.example.com/hook"
    assert two_accounts.account(A).webhook is None
    assert two_accounts.account(B).webhook is None
