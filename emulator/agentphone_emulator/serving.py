"""``serve`` once it listens: the state file's side (``--state FILE``: own it, load it before
serving, write it once before listening so a folder that cannot take it is an error at start, save
it every interval while it changes) and the way it stops.

Stopping, on SIGTERM or Ctrl-C, in this order:

1. The state is saved, before anything that could take long: whatever follows, a SIGKILL from
   docker (10 s) or systemd (90 s) cannot cost it.
2. The emulator stops serving: open transcript streams end at once, requests under way get a few
   seconds (``server/loop.py``'s ``SHUTDOWN_GRACE_SECONDS``). A second signal cuts that wait short.
3. The state is saved again if a request that finished meanwhile changed it (nothing to encode
   otherwise), and the file's lock is let go.

Every problem is a :class:`ServeError`: one line, which the CLI prints and exits 2 with.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import one_line
from .store.persistence import SavedState, StateFileError
from .store.saver import Saver
from .store.state_file import StateLock, load, real_path, remove_stale_temps

if TYPE_CHECKING:
    from .server import Emulator


class ServeError(Exception):
    """A problem ``serve`` reports in one line, exit 2."""


def save_error(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return one_line(str(exc))


class StateKeeper:
    """One state file for one serving emulator, owned (locked) from :meth:`load` to :meth:`close`."""

    def __init__(self, path: Path) -> None:
        self.path = path  # as the user named it: every message says it this way
        self.target = real_path(path)  # what is written: the file a symlink points to
        self.saver: Saver | None = None
        self._lock: StateLock | None = None

    def load(self) -> SavedState | None:
        """Become the file's one owner, then read it (None when there is no file yet). Another
        emulator on the file, or a file that is not a readable state file, is a ServeError, and
        the file is left exactly as it is."""
        if self.path.is_dir():
            raise ServeError(f"--state {self.path} is a directory, not a file")
        try:
            self._lock = StateLock.acquire(self.target, str(self.path))
        except StateFileError as exc:
            raise ServeError(f"--state {exc}") from None
        except OSError as exc:
            raise ServeError(f"cannot write --state {self.path}: {exc.strerror or exc}") from None
        remove_stale_temps(self.target)
        try:
            return load(self.path)
        except StateFileError as exc:
            self.close()
            raise ServeError(f"--state {exc}; the file was left as it is") from None

    def close(self) -> None:
        """Stop owning the file (the process's exit would do it too, leaving the lock file)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def first_save(self, emulator: Emulator) -> None:
        lock = self._lock.fd if self._lock is not None else None
        self.saver = Saver(
            self.target, emulator.state, emulator.platform.busy, keep_fds=() if lock is None else (lock,)
        )
        try:
            self.saver.save_blocking()
        except OSError as exc:
            raise ServeError(f"cannot write --state {self.path}: {exc.strerror or exc}") from None

    async def keep_saving(self, interval: float, stop: asyncio.Event) -> None:
        """Save every ``interval`` seconds of wall time (a virtual clock does not matter here)
        until ``stop``; a failed save is a warning and the next interval tries again."""
        if interval <= 0 or self.saver is None:
            return
        while True:
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
                return
            except TimeoutError:
                pass
            try:
                await self.saver.save()
            except (OSError, TypeError, ValueError) as exc:  # a full disk; a value JSON cannot hold
                print(
                    f"warning: cannot save the state to {self.path}: {save_error(exc)}; "
                    f"trying again in {interval:g} s",
                    file=sys.stderr,
                    flush=True,
                )

    async def final_save(self) -> None:
        if self.saver is None:
            return
        try:
            await self.saver.save(final=True)
        except (OSError, TypeError, ValueError) as exc:
            raise ServeError(f"cannot save the state to {self.path}: {save_error(exc)}") from None


class StopSignals:
    """SIGTERM and Ctrl-C: the first stops serving, a second hurries the stop. Installed before the
    ready line, so a signal sent as soon as it is read is not a KeyboardInterrupt."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.hurry = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._received)

    def _received(self) -> None:
        if self.stop.is_set() and not self.hurry.is_set():
            self.hurry.set()
            print(
                "agentphone-emulator: stopping now; requests under way are cut off",
                file=sys.stderr,
                flush=True,
            )
        self.stop.set()


async def serve_until_stopped(
    emulator: Emulator, keeper: StateKeeper | None, interval: float, signals: StopSignals
) -> None:
    """Serve until ``signals`` says stop, saving every ``interval`` seconds, then stop in the order
    the module's docstring gives."""
    stop, hurry = signals.stop, signals.hurry
    saving = None if keeper is None else asyncio.create_task(keeper.keep_saving(interval, stop))
    try:
        await stop.wait()
    finally:
        stop.set()  # also when leaving by an exception
        try:
            if keeper is not None and saving is not None:
                if keeper.saver is not None:
                    keeper.saver.before_final_save()
                await saving  # it ends at `stop`, once a save it had begun is done
                await keeper.final_save()
        finally:
            stopping = asyncio.create_task(emulator.stop())
            await asyncio.sleep(0)  # started, so a cut (cancel) still runs its platform's stop
            hurried = asyncio.create_task(hurry.wait())
            await asyncio.wait({stopping, hurried}, return_when=asyncio.FIRST_COMPLETED)
            hurried.cancel()
            stopping.cancel()  # a no-op once it is done; else the second signal's cut
            with contextlib.suppress(asyncio.CancelledError):
                await stopping
            print("AgentPhone emulator stopped", file=sys.stderr, flush=True)
        if keeper is not None:
            await keeper.final_save()  # free when nothing changed during the stop
