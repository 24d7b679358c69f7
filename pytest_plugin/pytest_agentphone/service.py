"""The session's emulator: started on first use, in a background thread with its own event loop, on a
free loopback port and a virtual clock; stopped when the session ends.

One per process, so under pytest-xdist each worker has its own (its own port, its own state) and
nothing is shared between workers. The ``agentphone_server`` fixture and the collected scenario
items both use it; ``emulator`` hands it to a test on a fresh state.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import pytest

from agentphone_emulator.app_reference import importable_from

from .options import PluginOptions

if TYPE_CHECKING:
    from agentphone_emulator import Emulator


class ServiceError(Exception):
    """The emulator could not start (its port is taken): one line."""


class EmulatorService:
    def __init__(self, options: PluginOptions) -> None:
        self.options = options
        self._stack = contextlib.ExitStack()
        self._emulator: Emulator | None = None

    @property
    def started(self) -> bool:
        return self._emulator is not None

    def get(self) -> Emulator:
        if self._emulator is None:
            from agentphone_emulator import Emulator, VirtualClock

            if self.options.app is not None:
                importable_from(str(self.options.rootpath))
            try:
                self._emulator = self._stack.enter_context(
                    Emulator.run_in_thread(
                        clock=VirtualClock(),
                        port=self.options.port,
                        settings=self.options.account,
                        api_keys=self.options.api_keys,
                    )
                )
            except OSError as exc:
                raise ServiceError(
                    f"agentphone: the emulator cannot listen on 127.0.0.1:{self.options.port}: "
                    f"{exc.strerror or exc}; pass another --agentphone-port, or none for a free one"
                ) from None
        return self._emulator

    def close(self) -> None:
        """Stop the emulator and join its thread (idempotent)."""
        self._emulator = None
        self._stack.close()


OPTIONS_KEY = pytest.StashKey[PluginOptions]()
SERVICE_KEY = pytest.StashKey[EmulatorService]()
