"""LoadWorld: what one Locust process shares among its simulated callers: the engine thread, one
emulator per scenario on the real clock (each scenario's setup done once, in its own account, so
scenarios that name the same agents do not meet), the caller numbers, and the loop-lag probe.

Created by the first user that starts (the others wait for it without blocking the hub), closed
when Locust quits; ``close`` stops every emulator and the thread, so nothing outlives the run.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from ..clock import RealClock
from ..scenario.loader import LoadedScenario, load_paths
from ..scenario.run_context import Api, ScenarioError
from ..scenario.runner import ScenarioRun
from ..server import new_api_key
from ..settings import AccountSettings
from .engine_thread import EngineThread
from .load_emulator import LoadEmulator
from .measurements import EMULATOR, Measurement
from .sweep import sweep
from .transcripts import PlayTranscript

SECRET_ENV = "AGENTPHONE_WEBHOOK_SECRET"
LAG_PROBE_SECONDS = 0.05
SWEEP_SECONDS = 10.0


class LoadSetupError(Exception):
    """The scenarios cannot be played: a file's problems, a setup the emulator refused."""


@dataclass
class Scene:
    """One scenario, set up on its own emulator: what a play starts from."""

    loaded: LoadedScenario
    emulator: LoadEmulator
    base: ScenarioRun

    @property
    def name(self) -> str:
        return self.loaded.scenario.name


@dataclass
class LoadWorld:
    engine: EngineThread
    scenes: list[Scene]
    session: aiohttp.ClientSession
    taken: deque[Measurement] = field(default_factory=deque)
    plays: deque[PlayTranscript] = field(default_factory=deque)  # each play's transcript, for Kept
    _probe: asyncio.Task[None] | None = None

    @classmethod
    def open(
        cls,
        paths: Sequence[str],
        webhook: str,
        *,
        secret: str | None = None,
    ) -> LoadWorld:
        loaded, problems = load_paths(list(paths))
        if problems:
            raise LoadSetupError(str(problems[0]))
        if not loaded:
            raise LoadSetupError(f"no scenario in {', '.join(paths) or 'the paths given'}")
        return cls.start(loaded, webhook, secret=secret)

    @classmethod
    def start(cls, loaded: list[LoadedScenario], webhook: str, *, secret: str | None = None) -> LoadWorld:
        """The world of scenarios loaded already (a worker's, sent by its master)."""
        if not loaded:
            raise LoadSetupError("no scenario to play")
        secret = secret or os.environ.get(SECRET_ENV) or "whsec_" + secrets.token_hex(24)
        engine = EngineThread()
        try:
            world = engine.run(lambda: _open(engine, loaded, webhook, secret))
        except BaseException:
            engine.stop()
            raise
        return world

    def play_one(self, scene: Scene, caller: str, *, calls: bool, texts: bool) -> int:
        """Play ``scene`` once as ``caller`` (the measurements go to :meth:`take`)."""
        from .play import play

        return self.engine.run(
            lambda: play(
                scene.base, caller, self.taken.append, calls=calls, texts=texts, keep=self.plays.append
            )
        )

    def take(self) -> list[Measurement]:
        """The measurements taken since the last call, oldest first (the engine's thread appends,
        a greenlet takes: a deque's append and popleft are atomic)."""
        taken: list[Measurement] = []
        while self.taken:
            taken.append(self.taken.popleft())
        return taken

    def close(self) -> None:
        try:
            self.engine.run(self._close)
        finally:
            self.engine.stop()

    async def _close(self) -> None:
        # Plays still under way (their users were stopped mid-call): cancelled, then waited for,
        # so the emulators stop with no call task left running.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for other in others:
            other.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await self.session.close()
        for scene in self.scenes:
            await scene.emulator.stop()

    async def _probe_lag(self) -> None:
        """How late the loop runs a timer: every turn's timing absorbs this much of the emulator.
        Every SWEEP_SECONDS it also drops what the emulators are done with (sweep.py)."""
        last_sweep = time.monotonic()
        while True:
            if time.monotonic() - last_sweep >= SWEEP_SECONDS:
                last_sweep = time.monotonic()
                for scene in self.scenes:
                    sweep(scene.emulator)
            started = time.perf_counter()
            await asyncio.sleep(LAG_PROBE_SECONDS)
            late = (time.perf_counter() - started - LAG_PROBE_SECONDS) * 1000
            self.taken.append(Measurement(EMULATOR, "emulator / loop lag", max(0.0, late)))


async def _open(engine: EngineThread, loaded: list[LoadedScenario], webhook: str, secret: str) -> LoadWorld:
    key = new_api_key()  # one key for every scene's emulator: one session serves them all
    session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"})
    scenes: list[Scene] = []
    try:
        for item in loaded:
            emulator = LoadEmulator(clock=RealClock(), api_keys=[key], control_plane=False)
            await emulator.start()
            scenes.append(Scene(item, emulator, await _set_up(emulator, session, item, webhook, secret)))
    except BaseException:
        for scene in scenes:
            await scene.emulator.stop()
        await session.close()
        raise
    world = LoadWorld(engine, scenes, session)
    world._probe = asyncio.get_running_loop().create_task(world._probe_lag())
    return world


async def _set_up(
    emulator: LoadEmulator, session: aiohttp.ClientSession, item: LoadedScenario, webhook: str, secret: str
) -> ScenarioRun:
    run = ScenarioRun(
        emulator,
        Api(session, emulator.base_url),
        item,
        target=webhook,
        secret=secret,
        settings=AccountSettings(),
        variables={},
    )
    try:
        await run.setup()
    except ScenarioError as exc:
        line = item.line_of(exc.path) if exc.path else item.line
        raise LoadSetupError(f"{item.file}:{line}: {exc}") from None
    return run
