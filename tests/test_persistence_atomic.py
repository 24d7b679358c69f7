"""A state save is atomic by construction, proven on the real code path, not by chance.

``tests/test_persistence.py`` kills a saving ``serve`` at random moments; a write in place would
survive that most of the time (a kill rarely lands inside the write). Here the save is watched
directly, through Python's audit hooks (every ``open`` and ``rename`` the process makes) and a spy on
``os.fsync``: the file itself is never opened for writing; the bytes go to a temporary file in the
same folder (so the rename cannot cross file systems), which is synced before it is renamed over
the file, and the folder is synced after. Faults injected at each step leave the old file whole.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentphone_emulator.store import persistence
from agentphone_emulator.store import saver as saver_module
from agentphone_emulator.store import state_file as files
from agentphone_emulator.store.account import EmulatorState

KEY = "sk_test_atomic_save"
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC

_recordings: list[list[tuple[str, Any]]] = []
"""The recordings in progress; the audit hook (which cannot be removed) is idle when empty."""


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _recordings:
        return
    if event == "open":
        path, mode, flags = args
        if isinstance(path, str | os.PathLike):
            writes = bool(flags & WRITE_FLAGS) if mode is None else any(c in mode for c in "wax+")
            if writes:
                _recordings[-1].append(("open-for-writing", Path(path)))
    elif event == "os.rename":
        _recordings[-1].append(("rename", (Path(args[0]), Path(args[1]))))


sys.addaudithook(_audit)


@pytest.fixture
def syscalls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, Any]]]:
    """What the process opens for writing, renames and fsyncs, in order, while the test runs."""
    events: list[tuple[str, Any]] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        events.append(("fsync", Path(os.readlink(f"/proc/self/fd/{fd}"))))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    _recordings.append(events)
    try:
        yield events
    finally:
        _recordings.remove(events)


def state_bytes(label: str) -> bytes:
    state = EmulatorState(api_keys=[KEY])
    next(iter(state.accounts.values())).name = label
    return persistence.frame(persistence.dump_payload(state))


def saved_name(path: Path) -> str:
    saved = files.load(path)
    assert saved is not None
    return str(next(iter(saved.accounts.values())).name)


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    path = tmp_path / "dev.json"
    path.write_bytes(state_bytes("old"))
    return path


def test_a_save_writes_a_synced_temporary_file_and_renames_it_over_the_old_one(
    state_file: Path, syscalls: list[tuple[str, Any]]
) -> None:
    files.write_atomic(state_file, state_bytes("new"))
    assert saved_name(state_file) == "new"

    target = state_file.resolve()
    written = [path for kind, path in syscalls if kind == "open-for-writing"]
    assert target not in [p.resolve() for p in written], (
        f"the state file itself was opened for writing: {syscalls}"
    )
    [temp] = written
    assert temp.parent.resolve() == target.parent, "the temporary file must be beside the file it replaces"
    steps = [
        (kind, tuple(p.resolve() for p in what) if kind == "rename" else what.resolve())
        for kind, what in syscalls
        if kind != "open-for-writing"
    ]
    assert steps == [
        ("fsync", temp.resolve()),  # the bytes are on disk before the name points at them
        ("rename", (temp.resolve(), target)),
        ("fsync", target.parent),  # and the rename itself is durable
    ], syscalls
    assert not temp.exists()


def test_the_saver_saves_through_the_atomic_write(state_file: Path, syscalls: list[tuple[str, Any]]) -> None:
    """What ``serve --state`` calls, not just the helper: the same opens, syncs and rename."""
    state = EmulatorState(api_keys=[KEY])
    saver = saver_module.Saver(state_file, state)
    assert saver.save_blocking()
    assert state_file.resolve() not in [p.resolve() for kind, p in syscalls if kind == "open-for-writing"]
    assert [kind for kind, _ in syscalls if kind != "open-for-writing"] == ["fsync", "rename", "fsync"]


@pytest.mark.parametrize("fails", ["write", "fsync", "rename"])
def test_a_crash_at_any_step_leaves_the_old_file_whole_and_no_temporary_file(
    state_file: Path, monkeypatch: pytest.MonkeyPatch, fails: str
) -> None:
    before = state_file.read_bytes()

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    if fails == "write":  # the disk fills half way through the bytes
        real_fdopen = os.fdopen
        monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: HalfWriter(real_fdopen(fd, *a, **k)))
    elif fails == "fsync":
        monkeypatch.setattr(os, "fsync", crash)
    else:
        monkeypatch.setattr(os, "replace", crash)
        monkeypatch.setattr(os, "rename", crash)

    with pytest.raises(OSError, match="No space left"):
        files.write_atomic(state_file, state_bytes("new"))
    assert state_file.read_bytes() == before
    assert saved_name(state_file) == "old"
    assert [p.name for p in state_file.parent.iterdir()] == [state_file.name]


class HalfWriter:
    """A file whose write puts half the bytes on disk, then fails as a full disk does."""

    def __init__(self, file: Any) -> None:
        self.file = file

    def __enter__(self) -> HalfWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()

    def write(self, data: bytes) -> int:
        self.file.write(data[: len(data) // 2])
        self.file.flush()
        raise OSError(28, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.file, name)


# -- hostile files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["payload", "header"])
def test_a_state_file_nested_100k_deep_is_one_line_not_a_traceback(tmp_path: Path, where: str) -> None:
    """A well-framed file (right size, right checksum) whose JSON is nested 100,000 deep: Python's
    JSON decoder runs out of stack (RecursionError), which once escaped as a traceback."""
    deep = b"[" * 100_000 + b"]" * 100_000
    path = tmp_path / "deep.json"
    if where == "payload":
        path.write_bytes(persistence.frame(deep))
    else:
        path.write_bytes(deep + b"\n{}\n")
    with pytest.raises(persistence.StateFileError) as refused:
        files.load(path)
    message = str(refused.value)
    assert "\n" not in message
    assert message == (
        f"{path} is corrupt (its JSON is nested deeper than any state)"
        if where == "payload"
        else f"{path} is not an agentphone-emulator state file"
    )


# -- found by mutation testing (bench/mutation.py store.state_file, store.saver) ------------------------------


def test_a_writer_killed_mid_save_leaves_a_temporary_file_the_next_start_removes(state_file: Path) -> None:
    files.write_atomic(state_file, state_bytes("saved"))
    writer = os.fork()
    if writer == 0:  # a writer that dies after writing its temporary file, before the rename
        try:
            os.fsync = lambda fd: os._exit(0)  # type: ignore[assignment]
            files.write_atomic(state_file, state_bytes("lost"))
        finally:
            os._exit(1)
    _, status = os.waitpid(writer, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    [left] = [p for p in state_file.parent.iterdir() if p != state_file]
    # Named after the file and its writer's pid, which is how the next start knows it is stale.
    assert left.name.startswith(f".{state_file.name}.tmp-{writer}-")
    files.remove_stale_temps(state_file)
    assert list(state_file.parent.iterdir()) == [state_file]
    assert saved_name(state_file) == "saved"


def test_a_rename_that_fails_after_the_temporary_file_vanished_reports_the_rename(
    state_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def vanish_then_fail(source: str, target: object) -> None:
        os.unlink(source)  # gone already: cleaning it up fails too, and that must not hide why
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "replace", vanish_then_fail)
    with pytest.raises(OSError, match="cross-device"):
        files.write_atomic(state_file, state_bytes("new"))
    assert saved_name(state_file) == "old"


def test_a_folder_that_cannot_be_synced_does_not_fail_the_save(
    state_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            raise OSError(22, "Invalid argument")  # some file systems cannot fsync a directory
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    files.write_atomic(state_file, state_bytes("new"))
    assert saved_name(state_file) == "new"


def test_the_saver_writes_only_when_the_state_changed(state_file: Path) -> None:
    state = EmulatorState(api_keys=[KEY])
    saver = saver_module.Saver(state_file, state)
    assert saver.save_blocking() is True
    written = state_file.read_bytes()
    assert saver.save_blocking() is False
    next(iter(state.accounts.values())).name = "renamed"
    state.touch()  # what every write through the API does (the saver trusts the change counter)
    assert saver.save_blocking() is True
    assert state_file.read_bytes() != written and saved_name(state_file) == "renamed"


async def test_the_saver_saves_from_the_loop_only_when_the_state_changed(state_file: Path) -> None:
    state = EmulatorState(api_keys=[KEY])
    saver = saver_module.Saver(state_file, state)
    assert await saver.save() is True
    assert files.load(state_file) is not None
    assert await saver.save() is False
    next(iter(state.accounts.values())).name = "renamed"
    state.touch()  # what every write through the API does (the saver trusts the change counter)
    assert await saver.save() is True
    assert saved_name(state_file) == "renamed"


def test_a_temporary_file_of_an_exited_writer_not_yet_reaped_is_removed(tmp_path: Path) -> None:
    """A saving child killed with its serve stays a zombie until init reaps it, and a zombie still
    answers kill(pid, 0): the next start kept its temporary file as a live writer's (a flake of
    test_a_kill_at_any_moment_leaves_the_previous_good_state under load)."""
    path = tmp_path / "state.json"
    path.write_bytes(b"x")
    child = os.fork()
    if child == 0:
        os._exit(0)
    try:
        # It has exited once its /proc entry says so; until waitpid below it stays a zombie.
        while (Path(f"/proc/{child}/stat").read_bytes().rsplit(b")", 1)[-1].split() or [b"?"])[0] != b"Z":
            os.sched_yield()
        left = tmp_path / f".state.json.tmp-{child}-abc"
        left.write_bytes(b"half")
        live = tmp_path / f".state.json.tmp-{os.getpid()}-def"  # this process: a live writer
        live.write_bytes(b"half")
        files.remove_stale_temps(path)
        assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "state.json"]
    finally:
        os.waitpid(child, 0)
