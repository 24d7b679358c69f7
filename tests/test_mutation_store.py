"""Tests written for mutants of the state's save path (store/persistence.py, state_file.py,
saver.py) that survived ``python bench/mutation.py store.*`` (docs/mutation.md). Real files in a
temporary folder, the real lock, the real Saver; each test's comment names the mutants it guards.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agentphone_emulator import VirtualClock, __version__
from agentphone_emulator.store import persistence
from agentphone_emulator.store import saver as saver_module
from agentphone_emulator.store import state_file as files
from agentphone_emulator.store.account import EmulatorState
from agentphone_emulator.store.persistence import StateFileError


@pytest.mark.skipif(sys.platform == "win32", reason="no flock on Windows")
def test_a_second_lock_on_one_state_file_is_refused_naming_the_owner(tmp_path: Path) -> None:
    # Guards StateLock.acquire/release (serve's one-owner tests run it in a subprocess, which
    # mutmut cannot credit): the refusal names the file and the owner's pid, the lock file holds
    # that pid, and a released lock can be taken again.
    state = tmp_path / "dev.json"
    lock = files.StateLock.acquire(state, "dev.json")
    assert lock is not None and lock.fd is not None
    assert lock.path == tmp_path / ".dev.json.lock"
    assert lock.path.read_text() == f"{os.getpid()}\n"
    with pytest.raises(StateFileError) as refused:
        files.StateLock.acquire(state, "my-state.json")
    assert str(refused.value) == (
        f"my-state.json is in use by another agentphone-emulator (pid {os.getpid()}): one emulator "
        "per state file; stop that one, or give this one another file"
    )
    lock.release()
    assert lock.fd is None and not lock.path.exists()
    lock.release()  # twice: nothing to do
    again = files.StateLock.acquire(state, "dev.json")
    assert again is not None
    again.release()


@pytest.mark.skipif(sys.platform == "win32", reason="no flock on Windows")
def test_the_lock_file_is_private_and_a_foreign_content_names_no_owner(tmp_path: Path) -> None:
    # Guards StateLock.acquire 11 (the lock file's mode left to the umask), 24/35/36 (bytes that
    # are not ASCII in the lock file: the refusal must still be made), 40/41 (" (pid ...)" only
    # for a pid).
    state = tmp_path / "dev.json"
    lock = files.StateLock.acquire(state, "dev.json")
    assert lock is not None
    assert lock.path.stat().st_mode & 0o777 == 0o600
    lock.path.write_bytes(b"\xff\xfeowner")
    with pytest.raises(StateFileError) as refused:
        files.StateLock.acquire(state, "dev.json")
    assert str(refused.value).startswith("dev.json is in use by another agentphone-emulator: one emulator")
    lock.release()


@pytest.mark.skipif(sys.platform == "win32", reason="no flock on Windows")
def test_a_lock_file_removed_before_it_was_locked_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Guards StateLock.acquire 54 (the lock taken on a file its owner had just removed) and 56
    # (that file's descriptor not closed before trying again). Fault injection: the first flock
    # finds its file removed, as when the previous owner lets go between our open and our flock.
    state = tmp_path / "dev.json"
    import fcntl  # here: there is none on Windows

    real_flock = fcntl.flock
    calls = []

    def flock(fd: int, operation: int) -> None:
        calls.append(fd)
        if len(calls) == 1:
            os.unlink(tmp_path / ".dev.json.lock")
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock)
    open_before = len(os.listdir("/proc/self/fd"))
    lock = files.StateLock.acquire(state, "dev.json")
    assert lock is not None and len(calls) == 2
    assert lock.path.read_text() == f"{os.getpid()}\n"  # the lock is on the file others will open
    assert len(os.listdir("/proc/self/fd")) == open_before + 1  # the first descriptor was closed
    lock.release()


@pytest.mark.skipif(sys.platform == "win32", reason="no flock on Windows")
def test_a_lock_that_fails_otherwise_raises_and_leaks_no_descriptor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Guards StateLock.acquire 45 (the descriptor closed, and the flock's own error raised).
    import fcntl  # here: there is none on Windows

    def flock(fd: int, operation: int) -> None:
        raise OSError(37, "No locks available")

    monkeypatch.setattr(fcntl, "flock", flock)
    open_before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(OSError, match="No locks available"):
        files.StateLock.acquire(tmp_path / "dev.json", "dev.json")
    assert len(os.listdir("/proc/self/fd")) == open_before


@pytest.mark.skipif(sys.platform == "win32", reason="no flock on Windows")
def test_releasing_a_lock_whose_file_is_gone_still_lets_go(tmp_path: Path) -> None:
    # Guards StateLock.release 2 (a lock file already removed is no error).
    lock = files.StateLock.acquire(tmp_path / "dev.json", "dev.json")
    assert lock is not None
    lock.path.unlink()
    lock.release()
    assert lock.fd is None


def test_a_state_file_that_cannot_be_read_says_why(tmp_path: Path) -> None:
    # Guards load 2/3 (the message: the OS's reason, not the exception's repr).
    with pytest.raises(StateFileError) as refused:
        files.load(tmp_path)
    assert str(refused.value) == f"cannot read {tmp_path}: Is a directory"


def temp_name(state: Path, pid: int | str, rest: str = "abc123") -> Path:
    return state.parent / f".{state.name}.tmp-{pid}-{rest}"


def test_stale_temporaries_are_removed_and_live_writers_ones_kept(tmp_path: Path) -> None:
    # Guards remove_stale_temps 7/21 (``break`` for ``continue``: the entries after an unrelated
    # file, a live writer's or a name with no pid would be left), 13 (the pid is what comes before
    # the first dash), 17 (``and``: a name with no pid would raise, a live writer's temporary would
    # go), 22 (an entry that cannot be removed is skipped); _alive 2 (this process's own), 7
    # (signal 0 only probes: a live writer must not get a SIGHUP), 10 (a live process is alive).
    state = tmp_path / "dev.json"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for i in range(20):
            (tmp_path / f"unrelated-{i}.json").write_text("{}")
        stale = [temp_name(state, dead.pid, f"r{i}") for i in range(3)]
        stale.append(temp_name(state, dead.pid, "with-dashes-in-it"))
        kept = [temp_name(state, os.getpid()), temp_name(state, live.pid), temp_name(state, "nopid")]
        for path in stale + kept:
            path.write_text("{}")
        undeletable = temp_name(state, dead.pid, "a-folder")
        undeletable.mkdir()
        files.remove_stale_temps(state)
        assert [path for path in stale if path.exists()] == []
        assert all(path.exists() for path in kept) and undeletable.is_dir()
        assert len(list(tmp_path.glob("unrelated-*.json"))) == 20
        # Not signalled: signal 0 only probes. A SIGHUP would end it within the second (a busy
        # machine could only make a mutant that sends one go unnoticed, never fail this).
        with pytest.raises(subprocess.TimeoutExpired):
            live.wait(timeout=1)
    finally:
        live.kill()
        live.wait()


def test_a_process_this_one_may_not_signal_counts_as_alive(tmp_path: Path) -> None:
    # Guards _alive 9 (EPERM: someone else's process is alive). Root may signal any process, so
    # as root (this project's build box) it guards _alive 10 instead and 9 survives.
    state = tmp_path / "dev.json"
    init = temp_name(state, 1)
    init.write_text("{}")
    files.remove_stale_temps(state)
    assert init.exists()


def test_temporaries_of_a_folder_that_is_gone_are_nothing_to_remove(tmp_path: Path) -> None:
    # Guards remove_stale_temps 4 (a folder that cannot be listed is no error).
    files.remove_stale_temps(tmp_path / "gone" / "dev.json")


# -- store/saver.py: the Saver, on the loop and in a forked child ------------------------------------

KEY = "sk_test_mutation_store"
ON_LINUX = pytest.mark.skipif(sys.platform != "linux", reason="saves from a forked child are Linux only")


def slow_in_child(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Fault injection: the forked child's encoding takes ``seconds`` (the parent's does not)."""
    real, parent = persistence.dump_payload, os.getpid()

    def dump_payload(state: EmulatorState) -> bytes:
        if os.getpid() != parent:
            time.sleep(seconds)
        return real(state)

    monkeypatch.setattr(saver_module, "dump_payload", dump_payload)


async def child_of(saver: saver_module.Saver) -> int:
    """The pid of the saver's child save, once it has forked."""
    for _ in range(1000):
        if saver._child is not None:
            return saver._child
        await asyncio.sleep(0.01)
    pytest.fail("hang guard: the save never forked")


async def reaped(pid: int) -> bool:
    for _ in range(1000):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        await asyncio.sleep(0.01)
    return False


@ON_LINUX
async def test_a_child_save_of_an_older_state_is_abandoned_at_the_final_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Guards before_final_save and abandon (serve calls them in a subprocess, which mutmut cannot
    # credit): a child saving a state that has changed since is killed, its save counts as not
    # made, and the final save writes the newest state.
    slow_in_child(monkeypatch, 30)
    path = tmp_path / "state.json"
    state = EmulatorState(api_keys=[KEY])
    saver = saver_module.Saver(path, state, in_child=True)
    saver.abandon()  # no child: nothing to do
    task = asyncio.create_task(saver.save())
    pid = await child_of(saver)
    state.touch()
    saver.before_final_save()
    assert await task is False
    assert await reaped(pid) and not path.exists()
    assert await saver.save(final=True) is True and path.exists()
    assert (saver.writes, saver.skipped) == (1, 0)


@ON_LINUX
async def test_a_child_save_of_the_state_as_it_stands_is_let_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Guards before_final_save (the mark compared with the child's: unchanged, it is the final save).
    slow_in_child(monkeypatch, 0.3)
    path = tmp_path / "state.json"
    saver = saver_module.Saver(path, EmulatorState(api_keys=[KEY]), in_child=True)
    task = asyncio.create_task(saver.save())
    await child_of(saver)
    saver.before_final_save()
    assert await task is True and path.exists()
    assert await saver.save(final=True) is False  # nothing changed since


@ON_LINUX
async def test_a_cancelled_save_kills_its_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Guards _save_in_child's CancelledError branch (the child killed, not left to write later).
    slow_in_child(monkeypatch, 30)
    path = tmp_path / "state.json"
    saver = saver_module.Saver(path, EmulatorState(api_keys=[KEY]), in_child=True)
    task = asyncio.create_task(saver.save())
    pid = await child_of(saver)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await reaped(pid), "the child save outlived its cancelled save"
    assert not path.exists()


@ON_LINUX
async def test_a_child_save_over_its_limit_is_stopped_and_later_saves_are_on_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Guards _save_in_child's TimeoutError branch: the child killed, ETIMEDOUT and its message,
    # and in_child turned off.
    slow_in_child(monkeypatch, 30)
    monkeypatch.setattr(saver_module, "CHILD_LIMIT_SECONDS", 0.5)
    path = tmp_path / "state.json"
    state = EmulatorState(api_keys=[KEY])
    saver = saver_module.Saver(path, state, in_child=True)
    with pytest.raises(OSError) as stopped:
        await saver.save()
    assert stopped.value.errno == errno.ETIMEDOUT
    assert stopped.value.strerror == (
        "the saving process ran over 0.5 s and was stopped; saving on the event loop from now on"
    )
    assert saver.in_child is False and not path.exists()
    assert await saver.save() is True and path.exists()


@ON_LINUX
async def test_a_save_that_cannot_fork_is_made_on_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Guards _save_in_child's fork failure: both pipe ends closed, a warning, the save on the loop.
    def fork() -> int:
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    # The pipe's own ends are watched, not the count of open descriptors: other tests' threads in
    # this worker open and close files meanwhile, which made a count flaky under `pytest -n 4`.
    made: list[tuple[int, int]] = []  # (descriptor, pipe inode) of every end os.pipe gave
    real_pipe = os.pipe

    def pipe() -> tuple[int, int]:
        ends = real_pipe()
        made.extend((end, os.fstat(end).st_ino) for end in ends)
        return ends

    def still_open(end: int, inode: int) -> bool:
        try:
            return os.fstat(end).st_ino == inode  # a reused number names another file
        except OSError:
            return False

    monkeypatch.setattr(os, "fork", fork)
    monkeypatch.setattr(os, "pipe", pipe)
    path = tmp_path / "state.json"
    saver = saver_module.Saver(path, EmulatorState(api_keys=[KEY]), in_child=True)
    with caplog.at_level(logging.WARNING, logger="agentphone_emulator.state"):
        assert await saver.save() is True
    assert path.exists() and saver.in_child is True  # the next save tries a child again
    assert len(made) == 2
    assert [end for end, inode in made if still_open(end, inode)] == []
    assert [r.getMessage() for r in caplog.records if r.name == "agentphone_emulator.state"] == [
        "cannot fork to save the state (Resource temporarily unavailable); saving on the event loop"
    ]


@ON_LINUX
async def test_a_child_save_of_the_bytes_already_written_writes_nothing(tmp_path: Path) -> None:
    # Guards _save_in_child's "same" (a touch that changed nothing: encoded, not written).
    path = tmp_path / "state.json"
    state = EmulatorState(api_keys=[KEY])
    saver = saver_module.Saver(path, state, in_child=True)
    assert await saver.save() is True
    written = path.stat().st_mtime_ns, path.stat().st_ino
    state.touch()
    assert await saver.save() is False
    assert (saver.encodes, saver.writes, saver.skipped) == (2, 1, 0)
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == written


@ON_LINUX
async def test_a_child_that_cannot_write_raises_eio_with_its_reason(tmp_path: Path) -> None:
    # Guards _save_in_child's error report: EIO, the child's reason as the message.
    path = tmp_path / "no-such-folder" / "state.json"
    saver = saver_module.Saver(path, EmulatorState(api_keys=[KEY]), in_child=True)
    with pytest.raises(OSError) as failed:
        await saver.save()
    assert (failed.value.errno, failed.value.strerror) == (errno.EIO, "No such file or directory")
    assert saver.writes == 0


def test_a_save_counts_what_it_encoded_wrote_and_skipped(tmp_path: Path) -> None:
    # Guards save_blocking 1/2/15 (the change mark: an unchanged state is skipped, not encoded),
    # 13 (the digest written remembered: a touch that changed nothing is encoded, not rewritten);
    # _encode 9/10 (how long the encoding held the loop: a part of the whole save).
    path = tmp_path / "state.json"
    state = EmulatorState(api_keys=[KEY])
    saver = saver_module.Saver(path, state)
    started = time.perf_counter()
    assert saver.save_blocking() is True
    whole = time.perf_counter() - started
    # lower bound: the whole save took at least the encoding inside it
    assert whole >= saver.loop_seconds >= 0
    assert saver.save_blocking() is False
    assert (saver.encodes, saver.writes, saver.skipped) == (1, 1, 1)
    state.touch()
    assert saver.save_blocking() is False
    assert (saver.encodes, saver.writes, saver.skipped) == (2, 1, 1)
    assert saver.save_blocking() is False
    assert (saver.encodes, saver.writes, saver.skipped) == (2, 1, 2)


_PARENT = """
import asyncio, os, sys, time
from pathlib import Path
from agentphone_emulator.store import saver as s
from agentphone_emulator.store.account import EmulatorState
real, parent = s.dump_payload, os.getpid()
def slow(state):
    if os.getpid() != parent:
        time.sleep(60)
    return real(state)
s.dump_payload = slow
async def main():
    saver = s.Saver(Path(sys.argv[1]), EmulatorState(api_keys=["sk_test_parent"]), in_child=True)
    task = asyncio.create_task(saver.save())
    while saver._child is None:
        await asyncio.sleep(0.01)
    print(saver._child, flush=True)
    await task
asyncio.run(main())
"""


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status  # dead, not yet reaped by whoever adopted it


@ON_LINUX
async def test_a_child_save_dies_with_its_emulator(tmp_path: Path) -> None:
    # Guards _save_in_child 1 (the die-with-parent hook never looked up: a killed emulator would
    # leave its child writing). An emulator (a subprocess, running the same mutant) is killed
    # mid-save; its child must go too. A save here first, so mutmut credits this test.
    saver = saver_module.Saver(tmp_path / "here.json", EmulatorState(api_keys=[KEY]), in_child=True)
    assert await saver.save() is True
    emulator = subprocess.Popen(
        [sys.executable, "-c", _PARENT, str(tmp_path / "there.json")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert emulator.stdout is not None
        child = int(await asyncio.to_thread(emulator.stdout.readline))
        emulator.kill()
        await asyncio.to_thread(emulator.wait)
        for _ in range(1000):
            if _gone(child):
                break
            await asyncio.sleep(0.01)
        else:
            os.kill(child, signal.SIGKILL)
            pytest.fail("the child save outlived its emulator")
    finally:
        emulator.kill()
        emulator.wait()
    assert not (tmp_path / "there.json").exists()


@ON_LINUX
async def test_abandoning_a_child_that_has_just_ended_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Guards abandon 4 (a child already reaped, its save not yet heard on the loop: killing it
    # finds no process, which is no error). The loop is held (no await) from the fork until the
    # child has been reaped by the reporting thread, so the save cannot have heard it yet.
    slow_in_child(monkeypatch, 0.5)  # long enough to be seen forked
    path = tmp_path / "state.json"
    saver = saver_module.Saver(path, EmulatorState(api_keys=[KEY]), in_child=True)
    task = asyncio.create_task(saver.save())
    pid = await child_of(saver)
    for _ in range(3000):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.01)  # holding the loop on purpose
    else:
        pytest.fail("hang guard: the child save was never reaped")
    saver.abandon()
    assert await task is True and path.exists()


@ON_LINUX
async def test_a_saver_saves_in_a_child_only_where_it_may(tmp_path: Path) -> None:
    # Guards __init__ 8/9/10 (in_child: the platform's answer unless given), 19/20 (nothing has
    # held the loop yet); _save_in_child 30/31 (how long the fork held the loop: a part of the
    # whole save).
    state = EmulatorState(api_keys=[KEY])
    default = saver_module.Saver(tmp_path / "a.json", state)
    assert default.in_child is saver_module.can_save_in_child() is True  # Linux, the main thread
    assert saver_module.Saver(tmp_path / "b.json", state, in_child=False).in_child is False
    assert default.loop_seconds == 0.0
    started = time.perf_counter()
    assert await default.save() is True
    whole = time.perf_counter() - started
    # lower bound: the whole save took at least the fork inside it
    assert whole >= default.loop_seconds >= 0


def test_a_busy_state_is_encoded_at_every_save(tmp_path: Path) -> None:
    # Guards _mark 1 (work under way may change anything: no save is skipped while it runs).
    saver = saver_module.Saver(tmp_path / "state.json", EmulatorState(api_keys=[KEY]), lambda: True)
    assert saver.save_blocking() is True
    assert saver.save_blocking() is False  # encoded again, the same bytes: not rewritten
    assert (saver.encodes, saver.writes, saver.skipped) == (2, 1, 0)


@ON_LINUX
async def test_a_child_killed_from_outside_is_a_failed_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Guards _save_in_child 37/73 (only abandon() makes a silent child "abandoned"), 82/83 (the
    # message of a child that said nothing), 57 (no child left recorded after it: abandon() and
    # before_final_save() are then no-ops).
    slow_in_child(monkeypatch, 30)
    path = tmp_path / "state.json"
    saver = saver_module.Saver(path, EmulatorState(api_keys=[KEY]), in_child=True)
    task = asyncio.create_task(saver.save())
    os.kill(await child_of(saver), signal.SIGKILL)
    with pytest.raises(OSError) as failed:
        await task
    assert (failed.value.errno, failed.value.strerror) == (
        errno.EIO,
        "the saving process was stopped before it finished",
    )
    saver.abandon()
    saver.before_final_save()
    assert not path.exists()


@ON_LINUX
async def test_an_abandoned_save_is_still_owed_by_the_final_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Guards _save_in_child 75/76 and save 14/15 ("abandoned" is not saved: the mark stays, so
    # the final save writes the state even though it has not changed since).
    slow_in_child(monkeypatch, 30)
    path = tmp_path / "state.json"
    saver = saver_module.Saver(path, EmulatorState(api_keys=[KEY]), in_child=True)
    task = asyncio.create_task(saver.save())
    await child_of(saver)
    saver.abandon()
    assert await task is False and not path.exists()
    assert await saver.save(final=True) is True and path.exists()


# -- store/persistence.py: the payload and its header ------------------------------------------------


def test_the_payload_is_compact_literal_utf8_json_with_the_clock_and_the_id_generator(tmp_path: Path) -> None:
    # Guards dump_payload 1/8/13/16/19-21 (a seeded id generator's position saved, as getstate()
    # gives it), 7/12/14 (where a virtual clock stood), 31/34 (compact separators), 32/35/38
    # (literal UTF-8, not \\u escapes).
    clock = VirtualClock(datetime(2026, 5, 1, 12, 30, tzinfo=UTC))
    state = EmulatorState(api_keys=[KEY], clock=clock, seed=7)
    next(iter(state.accounts.values())).name = "Café ☎"
    payload = persistence.dump_payload(state)
    data = json.loads(payload)
    assert json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() == payload
    assert "Café ☎".encode() in payload
    saved = persistence.parse(persistence.frame(payload), "state.json")
    assert saved.virtual_clock_now == clock.now()
    rng = state.ids._random
    assert rng is not None and saved.ids == rng.getstate()
    unseeded = persistence.parse(
        persistence.frame(persistence.dump_payload(EmulatorState(api_keys=[KEY]))), "s"
    )
    assert (unseeded.ids, unseeded.virtual_clock_now) == (None, None)  # a real clock, random ids


def test_the_header_names_the_format_version_writer_size_and_checksum() -> None:
    # Guards frame 6/7 (the writer's key: what a too-old emulator names when it refuses the file).
    payload = b'{"accounts":{}}'
    header, _, rest = persistence.frame(payload).partition(b"\n")
    assert json.loads(header) == {
        "format": "agentphone-emulator-state",
        "version": persistence.VERSION,
        "writer": f"agentphone-emulator {__version__}",
        "payload_bytes": len(payload),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
    }
    assert rest == payload + b"\n"
