"""Saving one emulator's state to its file while ``serve --state`` runs, only when it changed.

Knowing whether it changed costs nothing: :attr:`EmulatorState.changes` is bumped wherever the
state may change (see store/account.py), and work still under way (``busy``: a live call, a
delivery in flight) counts as a change. A save when neither moved encodes nothing.

Encoding a changed state is the slow part (~10 ms per MB of file, all of it Python holding the
GIL), and it must see one consistent moment of a state the event loop keeps changing. Copying the
state first costs more than encoding it (deepcopy ~3x, pickle ~1.4x), so on Linux the copy is the
kernel's: the saver forks, and the child process encodes its copy-on-write image of the state,
writes the file (atomically, as always) and exits, while the parent goes on serving. The loop
pauses only for the fork (page tables: ~0.1 s for a 1 GB process). The child shares nothing with
the parent's other threads: it runs our encoder, hashlib and file calls, and ``os._exit``. It keeps
the state file's lock (its fd is inherited), so no other emulator can take the file while it
writes, ignores Ctrl-C (the parent decides; it kills a child save it no longer needs), and dies
with the parent (``PR_SET_PDEATHSIG``): a killed emulator leaves no writer behind, only a
temporary file the next start removes.
Elsewhere (or if fork fails) the state is encoded on the loop, and written on a worker thread.

Saves never overlap: a later one waits for the earlier one's rename, so the file always ends with
the newest state.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import gc
import hashlib
import logging
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from .account import EmulatorState
from .persistence import dump_payload, frame
from .state_file import write_atomic

log = logging.getLogger("agentphone_emulator.state")

# A child save that has not finished by then is stuck (it should take seconds): it is killed and
# later saves are made on the loop.
CHILD_LIMIT_SECONDS = 600.0


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def can_save_in_child() -> bool:
    """Fork where it is known to be safe for this: Linux, from the main thread (the child resets
    the signal handlers the main thread installed)."""
    return sys.platform == "linux" and threading.current_thread() is threading.main_thread()


def _die_with_parent() -> Callable[[int], None] | None:
    """Looked up in the parent (the child must not load libraries): makes the calling process
    receive SIGKILL when its parent dies."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def die_with_parent(parent: int) -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # it died before the call above
            os._exit(1)

    return die_with_parent


class Saver:
    """Saves one emulator's state to one file (``path``, symlinks already resolved).

    ``encodes``, ``writes`` and ``skipped`` count what the saves did (an encode whose bytes match
    the file's is not written); ``loop_seconds`` is how long the last save held the event loop.
    """

    def __init__(
        self,
        path: Path,
        state: EmulatorState,
        busy: Callable[[], bool] | None = None,
        *,
        in_child: bool | None = None,
        keep_fds: Sequence[int] = (),
    ) -> None:
        self.path = path
        self.state = state
        self._busy = busy or (lambda: False)
        self.in_child = can_save_in_child() if in_child is None else in_child
        self._keep_fds = tuple(keep_fds)  # the lock's: held by a child save too
        self.encodes = 0
        self.writes = 0
        self.skipped = 0
        self.loop_seconds = 0.0
        self._saved_mark: int | None = None  # state.changes at the last save; None: save next time
        self._last_digest: str | None = None
        self._lock = asyncio.Lock()
        self._child: int | None = None
        self._child_mark: int | None = None  # the mark of the state the child is saving
        self._abandoned = False
        self._die_with_parent: Callable[[int], None] | None = None

    # -- has anything changed? ----------------------------------------------------------------------

    def _mark(self) -> int | None:
        """What ``state.changes`` says now, or None while work is under way (anything may change)."""
        return None if self._busy() else self.state.changes

    def _unchanged(self, mark: int | None) -> bool:
        if mark is not None and mark == self._saved_mark:
            self.skipped += 1
            return True
        return False

    # -- saving ---------------------------------------------------------------------------------------

    def save_blocking(self) -> bool:
        """Save from outside the loop's tasks (before serving starts). OSError if it cannot write."""
        mark = self._mark()
        if self._unchanged(mark):
            return False
        prepared = self._encode()
        wrote = prepared is not None
        if prepared is not None:
            write_atomic(self.path, prepared[0])
            self._wrote(prepared[1])
        self._saved_mark = mark
        return wrote

    async def save(self, *, final: bool = False) -> bool:
        """Save if anything changed; True if the file was written. OSError if it cannot write.

        ``final``: the last save before exiting, made on the loop (nothing left to serve)."""
        async with self._lock:
            mark = self._mark()
            if self._unchanged(mark):
                return False
            self._child_mark = mark
            outcome = await self._save_in_child() if self.in_child and not final else "no child"
            if outcome == "abandoned":
                return False  # not saved: the next save (the final one) still has it to do
            if outcome == "no child":
                prepared = self._encode()
                if prepared is not None:
                    await asyncio.to_thread(write_atomic, self.path, prepared[0])
                    self._wrote(prepared[1])
                outcome = "wrote" if prepared is not None else "same"
            self._saved_mark = mark
            return outcome == "wrote"

    def before_final_save(self) -> None:
        """The emulator is stopping: a child save of the state as it stands is the final save, so
        it is let finish; one of an older state is killed (the final save supersedes it)."""
        mark = self._mark()
        if self._child is not None and (mark is None or mark != self._child_mark):
            self.abandon()

    def abandon(self) -> None:
        """Kill a child save under way."""
        if self._child is not None:
            self._abandoned = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._child, signal.SIGKILL)

    def _encode(self) -> tuple[bytes, str] | None:
        """The file's bytes and the payload's digest, or None when they are what was last written.
        Synchronous, on the loop: the state is one consistent moment."""
        started = time.perf_counter()
        self.encodes += 1
        payload = dump_payload(self.state)
        digest = hashlib.sha256(payload).hexdigest()
        self.loop_seconds = time.perf_counter() - started
        return None if digest == self._last_digest else (frame(payload, digest), digest)

    def _wrote(self, digest: str) -> None:
        self._last_digest = digest
        self.writes += 1

    # -- in a forked child ----------------------------------------------------------------------------

    async def _save_in_child(self) -> str:
        """Save from a forked copy of this process: "wrote", "same" (the bytes were the file's
        already), "abandoned" (killed by :meth:`abandon`) or "no child" (none could be made: the
        caller saves on the loop). OSError if the child could not save."""
        if self._die_with_parent is None:
            self._die_with_parent = _die_with_parent()
        read_end, write_end = os.pipe()
        parent = os.getpid()
        started = time.perf_counter()
        try:
            with warnings.catch_warnings():
                # Python 3.12+ warns about forking a threaded process: see the module's docstring
                # for why this child is safe.
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError as exc:  # no memory for page tables, a process limit
            os.close(read_end)
            os.close(write_end)
            log.warning("cannot fork to save the state (%s); saving on the event loop", exc.strerror)
            return "no child"
        if pid == 0:  # the child: never returns
            os.close(read_end)
            self._child_save(write_end, parent)
        self.loop_seconds = time.perf_counter() - started
        self.encodes += 1
        os.close(write_end)
        self._child, self._abandoned = pid, False
        try:
            report = await asyncio.wait_for(
                asyncio.to_thread(_child_report, pid, read_end), CHILD_LIMIT_SECONDS
            )
        except asyncio.CancelledError:
            self.abandon()
            raise
        except TimeoutError:
            self.abandon()
            self.in_child = False
            raise OSError(
                errno.ETIMEDOUT,
                f"the saving process ran over {CHILD_LIMIT_SECONDS:g} s and was stopped; "
                "saving on the event loop from now on",
            ) from None
        finally:
            self._child = None
        status, _, detail = report.partition(" ")
        if status == "wrote":
            self._wrote(detail)
            return "wrote"
        if status == "same":
            return "same"
        if self._abandoned and not report:
            return "abandoned"
        raise OSError(errno.EIO, detail or "the saving process was stopped before it finished")

    def _child_save(self, report: int, parent: int) -> None:
        """The forked child: encode, write, say how it went on ``report``, exit."""
        code = 1
        try:
            if self._die_with_parent is not None:
                self._die_with_parent(parent)
            gc.disable()  # collections would only touch (and copy) the parent's pages
            signal.set_wakeup_fd(-1)  # the loop's wake-up pipe is the parent's
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            _close_fds_but(report, *self._keep_fds)
            payload = dump_payload(self.state)
            digest = hashlib.sha256(payload).hexdigest()
            if digest == self._last_digest:
                message = "same"
            else:
                write_atomic(self.path, frame(payload, digest))
                message = f"wrote {digest}"
            code = 0
        except OSError as exc:
            message = f"error {exc.strerror or exc}"
        except BaseException as exc:  # a value JSON cannot hold; anything: the parent must hear of it
            message = f"error {type(exc).__name__}: {exc}".replace("\n", " ")
        with contextlib.suppress(OSError):
            os.write(report, message.encode("utf-8", "replace"))
        os._exit(code)


def _close_fds_but(*keep: int) -> None:
    """Close every inherited descriptor above stderr but ``keep``: the child must not hold the
    parent's sockets open (a closed connection would linger until the child exits). Those open
    are listed by /proc (the child only runs on Linux), not tried up to the open-file limit."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            with contextlib.suppress(OSError):  # the listing's own descriptor, closed already
                os.close(fd)


def _child_report(pid: int, read_end: int) -> str:
    """On a worker thread: what the child said, once it has exited (reaped here)."""
    chunks = []
    try:
        while chunk := os.read(read_end, 4096):
            chunks.append(chunk)
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    return b"".join(chunks).decode("utf-8", "replace")
