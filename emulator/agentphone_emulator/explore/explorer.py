"""Exploring an agent: hypothesis draws caller plans, each is played on one reused emulator (reset
before every example, virtual clock), the invariants are checked, and the first failure is shrunk
by hypothesis to the shortest plan that still breaks one, replayed, written as a scenario, and run
through the scenario runner (``run``'s own code) to confirm it fails the same way.

The hypothesis database keeps every failing plan (by default under ``.agentphone/explore/``), so the
next run tries it first: a bug found once is found again at once, until it is fixed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis.errors import Flaky, NoSuchExample
from hypothesis.reporting import with_reporter
from hypothesis.strategies import SearchStrategy

from ..agent_env import agent_environment
from ..clock import VirtualClock
from ..errors import one_line
from ..scenario.loader import load_text
from ..scenario.results import ScenarioResult
from ..scenario.run_context import ScenarioError
from ..scenario.runner import run_scenario
from ..server import Emulator
from ..settings import AccountSettings
from .conversation import Conversation, Player
from .invariants import Invariants, Violation
from .plan import Plan, action_of
from .report import result_text
from .result import ExploreResult as ExploreResult  # re-exported: explore.explorer is where users find it
from .scenario_writer import file_name, scenario_yaml
from .spec import ExploreSpec
from .strategies import caller_plans

DEFAULT_EXAMPLES = 200

DEFAULT_DATABASE = Path(".agentphone") / "explore"


class ExploreSetupError(Exception):
    """The spec cannot be played at all (the API refused its setup, its call names no number):
    the same for every plan, so it is said once, before any drawing."""


class PlanDatabase:
    """Failing plans kept between runs, one JSON file per plan under ``directory/<spec key>/``.

    Hypothesis' own database is not used: a fixed seed (``--seed``) turns it off, by design, and
    a run must be reproducible from its seed. So the shrunk plans of earlier runs are played first,
    before any drawing: a failure found once is found again at once, and a plan that no longer
    breaks anything (the agent was fixed) is forgotten."""

    def __init__(self, directory: str | Path, key: str) -> None:
        self.folder = Path(directory) / key

    def plans(self) -> list[tuple[Path, Plan]]:
        found: list[tuple[Path, Plan]] = []
        for path in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []:
            try:
                actions = json.loads(path.read_text(encoding="utf-8"))
                found.append((path, Plan(tuple(action_of(a) for a in actions))))
            except (OSError, ValueError, TypeError, AttributeError):
                continue  # damaged or from another version: not ours to trust
        return found

    def save(self, plan: Plan) -> None:
        text = json.dumps([action.yaml() for action in plan.actions])
        name = hashlib.sha256(text.encode()).hexdigest()[:16] + ".json"
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / name).write_text(text, encoding="utf-8")

    def forget(self, path: Path) -> None:
        with contextlib.suppress(OSError):
            path.unlink()


class Explorer:
    """Explores one agent (``target``: an app reference or a URL) on ``emulator``, an emulator
    served on a background thread on a virtual clock (``Emulator.run_in_thread``); the agent's
    AGENTPHONE_* environment is the caller's business (:func:`exploring` sets it)."""

    def __init__(
        self,
        emulator: Emulator,
        spec: ExploreSpec,
        *,
        target: str,
        secret: str,
        invariants: Invariants | None = None,
        settings: AccountSettings | None = None,
        spec_file: str | None = None,
    ) -> None:
        self.emulator = emulator
        self.spec = spec
        self.target = target
        self.secret = secret
        self.invariants = invariants or Invariants.of(spec.invariants)
        self.spec_file = spec_file
        self.player = Player(emulator, spec, target=target, secret=secret, settings=settings)
        self.played = 0
        emulator.run_coroutine(self.player.open, name="explore")

    def close(self) -> None:
        self.emulator.run_coroutine(self.player.close, name="explore")

    def strategy(self) -> SearchStrategy[Plan]:
        """The caller plans this spec's vocabulary and caller behaviour allow (a hypothesis strategy)."""
        return caller_plans(self.spec.vocabulary, self.spec.caller)

    def play(self, plan: Plan, *, transcript: bool = False) -> Conversation:
        """Play one plan on a fresh state and return the conversation."""
        self.played += 1
        return self.emulator.run_coroutine(lambda: self.player.play(plan, transcript=transcript), name="play")

    def check(self, plan: Plan) -> Violation | None:
        """Play ``plan`` and return the first invariant it breaks (None: all hold)."""
        return self.invariants.check(self.play(plan))

    def explore(
        self,
        *,
        examples: int = DEFAULT_EXAMPLES,
        seed: int | None = None,
        database: str | Path | None = DEFAULT_DATABASE,
        out_dir: str | Path | None = None,
    ) -> ExploreResult:
        """Draw up to ``examples`` plans (``seed``: the same plans every time; default: a fresh
        seed, reported); shrink the first failure, write it under ``out_dir`` (if given) and run it."""
        seed = random.SystemRandom().getrandbits(32) if seed is None else seed
        started = time.perf_counter()
        try:  # the empty call first: a spec the API refuses is one message, not a failure per plan
            self.play(Plan(()))
        except ScenarioError as exc:
            raise ExploreSetupError(str(exc)) from None
        self.played = 0
        config = settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.generate, Phase.shrink],
        )
        saved = PlanDatabase(database, self.database_key()) if database is not None else None
        # Each plan's verdict is kept: hypothesis plays a failing plan again while it shrinks, and
        # an agent whose timing varies (a loaded machine) must not turn that into a FlakyFailure
        # mid-shrink. The shrunk plan is played once more afresh (_explain), which says if it was.
        verdicts: dict[Plan, bool] = {}
        result = ExploreResult(self.spec, self.target, seed, 0, 0.0)

        def breaks(plan: Plan) -> bool:
            if plan not in verdicts:
                verdicts[plan] = self.check(plan) is not None
                if verdicts[plan] and result.found_after is None:
                    result.found_after = self.played
                    result.found_s = time.perf_counter() - started
            return verdicts[plan]

        plan: Plan | None = None
        for path, known in saved.plans() if saved is not None else []:
            if breaks(known):
                plan, result.replayed = known, path
                break
            assert saved is not None
            saved.forget(path)  # fixed: it need not be played again
        if plan is None:
            try:
                with with_reporter(lambda _message: None):  # the report is ours
                    plan = find(self.strategy(), breaks, settings=config, random=random.Random(seed))
            except NoSuchExample:
                plan = None
            except Flaky as exc:  # the strategy itself, or a cached verdict hypothesis still doubted
                result.flaky = f"hypothesis found the exploration unreliable: {one_line(str(exc))}"
        if plan is not None:
            self._explain(result, plan, out_dir)
            if saved is not None and result.violation is not None:
                saved.save(plan)
        result.examples = self.played
        result.wall_s = time.perf_counter() - started
        if not result.ok:
            result.failure_report = result_text(result)
        return result

    def database_key(self) -> str:
        """Where this spec's failures are kept: its name and a digest of its setup, call,
        vocabulary, caller and invariants (a changed spec starts afresh)."""
        spec = self.spec.model_dump_json(by_alias=True)
        slug = re.sub(r"[^a-z0-9]+", "-", self.spec.name.lower()).strip("-")[:40] or "spec"
        return f"{slug}-{hashlib.sha256(spec.encode()).hexdigest()[:12]}"

    def _explain(self, result: ExploreResult, plan: Plan, out_dir: str | Path | None) -> None:
        """Replay the shrunk plan with its transcript, write its scenario, and run that."""
        conversation = self.play(plan, transcript=True)
        violation = self.invariants.check(conversation)
        result.conversation = conversation
        if violation is None:
            result.flaky = (
                "the shrunk call broke an invariant while exploring but not when replayed: the agent "
                "does not answer the same call the same way (time, randomness or memory between calls)"
            )
            return
        result.violation = violation
        text, checkable = scenario_yaml(
            self.spec, conversation, violation, seed=result.seed, spec_file=self.spec_file
        )
        result.scenario_text, result.checkable = text, checkable
        name = file_name(self.spec, violation)
        if out_dir is not None:
            path = Path(out_dir) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            result.scenario_path = path
        result.replay = self.run_scenario_text(text, str(result.scenario_path or name))

    def run_scenario_text(self, text: str, file: str) -> ScenarioResult:
        """``text`` (one scenario) through the scenario runner on this emulator, as ``run`` does."""
        [loaded] = load_text(text, file)

        async def run() -> ScenarioResult:
            headers = {"Authorization": f"Bearer {self.emulator.api_key}"}
            async with aiohttp.ClientSession(headers=headers) as session:
                return await run_scenario(
                    self.emulator, session, loaded, target=self.target, secret=self.secret
                )

        return self.emulator.run_coroutine(run, name="run_scenario")


@contextlib.contextmanager
def exploring(
    spec: ExploreSpec,
    *,
    target: str,
    secret: str,
    app_env: bool,
    invariants: Invariants | None = None,
    spec_file: str | None = None,
    port: int = 0,
    api_key: str | None = None,
) -> Iterator[Explorer]:
    """An :class:`Explorer` on an emulator of its own (a background thread, a virtual clock), with
    an in-process agent's AGENTPHONE_* environment pointed at it when ``app_env``."""
    keys = [api_key] if api_key else None
    with (
        Emulator.run_in_thread(clock=VirtualClock(), port=port, api_keys=keys) as emulator,
        contextlib.ExitStack() as stack,
    ):
        if app_env:
            stack.enter_context(agent_environment(emulator.base_url, emulator.api_key, secret))
        emulator.set_webhook(target, secret=secret)  # an --app is imported now: a typo fails first
        explorer = Explorer(
            emulator, spec, target=target, secret=secret, invariants=invariants, spec_file=spec_file
        )
        try:
            yield explorer
        finally:
            explorer.close()
