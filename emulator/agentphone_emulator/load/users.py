"""The Locust users: VoiceCaller plays a scenario file's calls, Texter its texts, each user one
caller (its own number) at a time, against the agent at Locust's ``host`` (the webhook URL).

    class Caller(VoiceCaller):
        scenario_files = ["scenarios/voice_support.yaml"]
        wait_time = between(1, 3)

Each Locust process shares one LoadWorld (the engine thread and the emulators); every measurement
is a Locust request (see measurements.py for the kinds), so the UI, ``--csv`` and ``--html``
show them with percentiles.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import gevent
from gevent.lock import BoundedSemaphore
from locust import User, constant, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import WorkerRunner

from .measurements import ERROR, Measurement
from .numbers import NumberPool
from .shipment import forget, received_for
from .transcripts import Kept, PlayTranscript
from .world import LoadSetupError, LoadWorld

# (id(environment), scenario files, webhook) -> its world: user classes with other scenarios get
# their own; the caller numbers are the environment's, so no two classes hand out the same one.
WorldKey = tuple[int, tuple[str, ...], str]
_worlds: dict[WorldKey, LoadWorld] = {}
_pools: dict[int, NumberPool] = {}
_opening = BoundedSemaphore(1)
_kept: dict[int, Kept] = {}
_outbox: dict[int, list[PlayTranscript]] = {}  # a worker's transcripts not yet sent to the master
TRANSCRIPTS_KEY = "agentphone_transcripts"
PUMP_SECONDS = 0.2  # how often the measurements taken on the engine's thread become requests
_failed: dict[WorldKey, str] = {}


class PlayFailure(Exception):
    """A measurement that failed: its text is the finding's code, the check, the error."""


def world_for(user: ScenarioUser) -> LoadWorld:
    """The process's LoadWorld, opened by the first user to ask (the others wait, yielding)."""
    env = user.environment
    webhook = user.host or env.host or ""
    sent = received_for(env)  # a worker plays what its master sent, if it sent anything
    files = sent.files if sent is not None else tuple(user.scenario_files)
    key: WorldKey = (id(env), files, webhook)
    with _opening:
        if key in _failed:
            raise LoadSetupError(_failed[key])
        if key not in _worlds:
            if not webhook:
                _failed[key] = "no webhook URL: set the user's host (or --host / --webhook)"
                raise LoadSetupError(_failed[key])
            if sent is not None and sent.problem is not None:
                _failed[key] = sent.problem
                raise LoadSetupError(_failed[key])
            try:
                if sent is not None:
                    _worlds[key] = LoadWorld.start(sent.loaded, webhook, secret=user.webhook_secret)
                else:
                    _worlds[key] = LoadWorld.open(list(files), webhook, secret=user.webhook_secret)
            except LoadSetupError as exc:
                _failed[key] = str(exc)
                raise
            _listen(env)
        return _worlds[key]


def pool_for(env: Environment) -> NumberPool:
    """The environment's caller numbers, from the worker index the master gave this process."""
    if id(env) not in _pools:
        index = getattr(env.runner, "worker_index", 0) if env.runner is not None else 0
        _pools[id(env)] = NumberPool(index)
    return _pools[id(env)]


def _listen(env: Environment) -> None:
    if getattr(env, "_agentphone_listening", False):
        return
    env._agentphone_listening = True  # type: ignore[attr-defined]
    if isinstance(env.runner, WorkerRunner):
        _send_to_master(env)
    pump = gevent.spawn(_pump, env)

    def quitting(**_: object) -> None:
        pump.kill()
        close_world(env)

    env.events.quitting.add_listener(quitting)
    env.events.test_stop.add_listener(lambda **_: _report(env))


def close_world(env: Environment) -> None:
    """Stop the environment's emulators and engine threads (Locust's ``quitting``; the command)."""
    _report(env)
    for key in [k for k in _worlds if k[0] == id(env)]:
        _worlds.pop(key).close()
    for key in [k for k in _failed if k[0] == id(env)]:
        _failed.pop(key)
    _pools.pop(id(env), None)
    forget(env)


def fire(env: Environment, measured: list[Measurement]) -> None:
    for m in measured:
        env.events.request.fire(
            request_type=m.request_type,
            name=m.name,
            response_time=m.response_time_ms,
            response_length=m.response_length,
            exception=PlayFailure(m.failure) if m.failure is not None else None,
            context={},
        )


def _report(env: Environment) -> None:
    """Fire what the environment's worlds measured (the pump, and once more at the end), and keep
    their plays' transcripts (a worker's go to the master with its next report)."""
    for key, world in list(_worlds.items()):
        if key[0] == id(env):
            fire(env, world.take())
            while world.plays:
                play = world.plays.popleft()
                if isinstance(env.runner, WorkerRunner):
                    _outbox.setdefault(id(env), []).append(play)
                else:
                    kept_for(env).add(play)


def kept_for(env: Environment) -> Kept:
    """The failed and slowest plays' transcripts this environment has seen (or its workers sent)."""
    return _kept.setdefault(id(env), Kept())


def collect_from_workers(env: Environment) -> None:
    """On a master: keep the transcripts the workers send with their reports."""

    def received(client_id: str, data: dict[str, Any], **_: object) -> None:
        for item in data.get(TRANSCRIPTS_KEY, ()):
            kept_for(env).add(PlayTranscript.from_wire(item))

    env.events.worker_report.add_listener(received)


def _send_to_master(env: Environment) -> None:
    def sending(client_id: str, data: dict[str, Any], **_: object) -> None:
        plays = _outbox.pop(id(env), [])
        data[TRANSCRIPTS_KEY] = [p.to_wire() for p in plays]

    env.events.report_to_master.add_listener(sending)


def _pump(env: Environment) -> None:
    while True:
        gevent.sleep(PUMP_SECONDS)
        _report(env)


class ScenarioUser(User):
    """What both users share: the scenarios, the caller's number, the play and its report."""

    abstract = True
    scenario_files: ClassVar[list[str]] = []
    """Scenario files or directories (the same YAML ``agentphone-emulator run`` plays)."""
    webhook_secret: ClassVar[str | None] = None
    """The secret turns are signed with; default ``$AGENTPHONE_WEBHOOK_SECRET``, else a fresh one."""
    wait_time = constant(0)
    plays_calls: ClassVar[bool] = False
    plays_texts: ClassVar[bool] = False
    _order = itertools.count()

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.world: LoadWorld | None = None
        self.caller: str | None = None
        self._turn = next(self._order)

    def on_start(self) -> None:
        try:
            self.world = world_for(self)
        except LoadSetupError as exc:
            fire(self.environment, [Measurement(ERROR, "setup", 0.0, failure=str(exc))])
            self.world = None
            raise StopUser() from None
        self.caller = pool_for(self.environment).take()

    def on_stop(self) -> None:
        if self.caller is not None:
            pool_for(self.environment).give_back(self.caller)
            self.caller = None

    @task
    def play(self) -> None:
        world = self.world
        if world is None or self.caller is None:
            raise StopUser()
        scenes = [s for s in world.scenes if self._plays(s.loaded.scenario)]
        if not scenes:
            fire(self.environment, [Measurement(ERROR, "setup", 0.0, failure=self._nothing(world))])
            raise StopUser()
        scene = scenes[self._turn % len(scenes)]
        self._turn += 1
        measured = world.play_one(scene, self.caller, calls=self.plays_calls, texts=self.plays_texts)
        if not measured:
            gevent.sleep(0.1)  # nothing played: do not spin

    def _plays(self, scenario: Any) -> bool:
        from .play import CALL_STEPS, TEXT_STEPS

        kinds: tuple[type, ...] = ()
        if self.plays_calls:
            kinds += CALL_STEPS
        if self.plays_texts:
            kinds += TEXT_STEPS
        return any(isinstance(step, kinds) for _, step in scenario.timeline())

    def _nothing(self, world: LoadWorld) -> str:
        what = "call" if self.plays_calls else "text"
        files = dict.fromkeys(scene.loaded.file for scene in world.scenes)  # a worker's: its master's
        return f"no scenario in {', '.join(files)} has a {what} to play"


class VoiceCaller(ScenarioUser):
    """A caller who plays the scenarios' calls (inbound, outbound, web), one call at a time."""

    abstract = True
    plays_calls = True


class Texter(ScenarioUser):
    """A texter who plays the scenarios' texts to the agent, one at a time."""

    abstract = True
    plays_texts = True


__all__ = ["ScenarioUser", "Texter", "VoiceCaller", "close_world", "fire"]


def prime_world(env: Environment, user: type[ScenarioUser], world: LoadWorld) -> None:
    """Give ``env``'s users of class ``user`` a world opened beforehand (the command opens it
    first, so a setup the emulator refuses is one line and exit 2, not a failure per user)."""
    _worlds[(id(env), tuple(user.scenario_files), user.host or env.host or "")] = world
    _listen(env)
