"""The state file of ``serve --state FILE`` on disk: one owner at a time, reading it, replacing
it atomically, and cleaning up after a writer that was killed. What the bytes mean is
:mod:`.persistence`'s.

One owner: two emulators saving to one file would each overwrite the other's state, so a serving
emulator holds an OS lock (``flock``) on ``.NAME.lock`` beside the file for its whole life; a second
one is refused before it reads or writes anything. The lock is the kernel's, so a killed owner
leaves no stale lock (only, at most, the lock file, which the next owner reuses).

Writes are atomic: a temporary file in the same folder, fsync, ``os.replace``, fsync of the
folder. A kill at any moment leaves either the previous file or the new one, never a mix. A path
that is a symlink is resolved first, so the file it points to is the one replaced (renaming onto
the link would turn it into a regular file and leave its target stale).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .persistence import SavedState, StateFileError, parse

try:
    import fcntl
except ImportError:  # Windows: no flock; one owner per file is then the user's to keep
    fcntl = None  # type: ignore[assignment]

_TEMP_PREFIX = "tmp-"  # ".{name}.tmp-{pid}-{random}": the pid says whether its writer is still alive


def real_path(path: Path) -> Path:
    """The file ``path`` names once symlinks are followed (which need not exist yet)."""
    return Path(os.path.realpath(path))


class StateLock:
    """The lock that makes this process the one owner of a state file, until :meth:`release`
    (or its death: the kernel drops a dead process's flock)."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    @classmethod
    def acquire(cls, state: Path, name: str) -> StateLock | None:
        """Lock ``state`` (already resolved) for this process; :class:`StateFileError` naming
        ``name`` (the file as the user named it) and the owner's pid if another process holds
        it; OSError if the lock file cannot be made. None where the OS has no flock."""
        if fcntl is None:
            return None
        path = state.parent / f".{state.name}.lock"
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                os.close(fd)
                who = f" (pid {owner})" if owner.isdigit() else ""
                raise StateFileError(
                    f"{name} is in use by another agentphone-emulator{who}: one emulator per state "
                    "file; stop that one, or give this one another file"
                ) from None
            except BaseException:
                os.close(fd)
                raise
            # The owner removes the lock file as it lets go; if that happened between our open and
            # our flock, we hold a lock on a file nobody else will open: start again.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)  # for the refusal message of the next one
        return cls(fd, path)

    @property
    def fd(self) -> int | None:
        return self._fd

    def release(self) -> None:
        """Let go, removing the lock file (before unlocking it: see :meth:`acquire`)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None


def load(path: Path) -> SavedState | None:
    """The state saved at ``path``, or None when there is no file yet."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse(data, str(path))


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash at any moment leaves the old file or the new
    one. The file is created readable by its owner only: it holds API keys and webhook secrets.
    A symlink is written through: its target is replaced, the link stays."""
    path = real_path(path)
    folder = path.parent
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.{_TEMP_PREFIX}{os.getpid()}-")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    # The rename itself is durable only once the folder is synced.
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def remove_stale_temps(path: Path) -> None:
    """Delete temporary files a killed writer left next to ``path`` (those of live processes stay)."""
    path = real_path(path)
    prefix = f".{path.name}.{_TEMP_PREFIX}"
    with contextlib.suppress(OSError):
        for entry in path.parent.iterdir():
            if not entry.name.startswith(prefix):
                continue
            pid_text = entry.name[len(prefix) :].split("-", 1)[0]
            if not pid_text.isdigit() or _alive(int(pid_text)):
                continue
            with contextlib.suppress(OSError):
                entry.unlink()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process: alive
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A process that has exited but not been reaped still answers ``kill(pid, 0)``: a saving
    child killed with its ``serve`` (SIGKILL) is one until init reaps it, and its temporary file
    would be kept as a live writer's by the next start."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[-1].split()
    except OSError:  # no /proc (not Linux), or gone meanwhile
        return False
    return bool(fields) and fields[0] in (b"Z", b"X")
