"""The state file of ``serve --state FILE`` on disk: reading it, replacing it atomically, and
cleaning up after a writer that was killed. What the bytes mean is :mod:`.persistence`'s.

Writes are atomic: a temporary file in the same folder, fsync, ``os.replace``, fsync of the
folder. A kill at any moment leaves either the previous file or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .persistence import SavedState, StateFileError, parse

_TEMP_PREFIX = "tmp-"  # ".{name}.tmp-{pid}-{random}": the pid says whether its writer is still alive


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
    one. The file is created readable by its owner only: it holds API keys and webhook secrets."""
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
    return True
