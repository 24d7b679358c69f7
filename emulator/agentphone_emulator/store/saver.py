"""Saving one emulator's state to its file while ``serve --state`` runs, only when it changed."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from .account import EmulatorState
from .persistence import dump_payload, frame
from .state_file import write_atomic


class Saver:
    """Saves one emulator's state to one file, only when it changed since the last save.

    Knowing whether it changed costs an encoding of the state (tens of milliseconds for thousands
    of records, on the loop); writing and fsyncing, the slow part, happens on a worker thread and
    only when the bytes differ. Saves never overlap: a later one waits for the earlier one's
    rename, so the file always ends with the newest state.
    """

    def __init__(self, path: Path, state: EmulatorState) -> None:
        self.path = path
        self.state = state
        self._last_digest: str | None = None
        self._lock = asyncio.Lock()

    def _prepare(self) -> tuple[bytes, str] | None:
        payload = dump_payload(self.state)
        digest = hashlib.sha256(payload).hexdigest()
        return None if digest == self._last_digest else (frame(payload, digest), digest)

    def save_blocking(self) -> bool:
        """Save from outside the loop's tasks (before serving starts). OSError if it cannot write."""
        prepared = self._prepare()
        if prepared is None:
            return False
        write_atomic(self.path, prepared[0])
        self._last_digest = prepared[1]
        return True

    async def save(self) -> bool:
        """Save if anything changed; True if the file was written. OSError if it cannot write."""
        async with self._lock:
            prepared = self._prepare()
            if prepared is None:
                return False
            await asyncio.to_thread(write_atomic, self.path, prepared[0])
            self._last_digest = prepared[1]
            return True
