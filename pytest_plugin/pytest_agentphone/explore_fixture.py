"""``agentphone_explore``: exploration from a test. Call it with a spec (a path, a mapping, or an
``ExploreSpec``) and the agent; it explores on the session's emulator with a fixed seed and
returns the result, whose ``assert_ok()`` fails the test with the explore report (the broken
invariant, the shrunk call's transcript, the scenario written for it)::

    def test_agent_keeps_its_invariants(agentphone_explore):
        agentphone_explore("agent.explore.yaml", app="myagent.server:app").assert_ok()

``agentphone_explore.explorer(spec, app=...)`` gives the ``Explorer`` itself, for a hypothesis
test of your own: ``explorer.strategy()`` is the caller plans, ``explorer.check(plan)`` plays one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from agentphone_emulator.agent_env import agent_environment
from agentphone_emulator.app_reference import importable_from, is_app_reference

from .options import PluginOptions
from .service import OPTIONS_KEY

if TYPE_CHECKING:
    from agentphone_emulator import Emulator
    from agentphone_emulator.explore.explorer import Explorer, ExploreResult
    from agentphone_emulator.explore.invariants import Invariants
    from agentphone_emulator.explore.spec import ExploreSpec


class Exploration:
    """What ``agentphone_explore`` returns: call it to explore, or ask it for an :class:`Explorer`."""

    def __init__(self, emulator: Emulator, options: PluginOptions) -> None:
        self._emulator = emulator
        self._options = options
        self._stack = contextlib.ExitStack()

    def _spec(self, spec: str | Path | Mapping[str, Any] | ExploreSpec) -> tuple[ExploreSpec, str | None]:
        from agentphone_emulator.explore.spec import ExploreSpec, load_spec
        from agentphone_emulator.scenario.loader import ScenarioFileError

        if isinstance(spec, ExploreSpec):
            return spec, None
        if isinstance(spec, Mapping):
            return ExploreSpec.model_validate(dict(spec)), None
        path = Path(spec)
        if not path.is_absolute():
            path = Path(self._options.rootpath) / path
        try:
            return load_spec(path), str(path)
        except ScenarioFileError as exc:
            problems = "\n".join(str(p) for p in exc.problems)
        pytest.fail(f"agentphone_explore: the spec has problems:\n{problems}", pytrace=False)

    def explorer(
        self,
        spec: str | Path | Mapping[str, Any] | ExploreSpec,
        *,
        app: str | None = None,
        webhook: str | None = None,
        invariants: Invariants | None = None,
    ) -> Explorer:
        """An :class:`Explorer` on the session's emulator (closed after the test).

        Args:
            spec: The explore spec: a YAML file (relative to the rootdir), a mapping or an ExploreSpec.
            app: The agent in this process (``module:attr``); default: the ini's ``agentphone_app``.
            webhook: Or its URL; default: the ini's ``agentphone_webhook``.
            invariants: Python invariants (with predicates) instead of the spec's.

        Returns:
            The explorer: ``strategy()``, ``play(plan)``, ``check(plan)``, ``explore(...)``.
        """
        from agentphone_emulator.explore.explorer import Explorer

        loaded, file = self._spec(spec)
        target = app or webhook or self._options.target
        if not isinstance(target, str):
            pytest.fail("agentphone_explore: name the agent: app='module:attr' or webhook=URL", pytrace=False)
        if is_app_reference(target):
            importable_from(str(self._options.rootpath))
        secret = self._options.secret
        self._stack.enter_context(agent_environment(self._emulator.base_url, self._emulator.api_key, secret))
        self._emulator.set_webhook(target, secret=secret)
        explorer = Explorer(
            self._emulator, loaded, target=target, secret=secret, invariants=invariants, spec_file=file
        )
        self._stack.callback(explorer.close)
        return explorer

    def __call__(
        self,
        spec: str | Path | Mapping[str, Any] | ExploreSpec,
        *,
        app: str | None = None,
        webhook: str | None = None,
        invariants: Invariants | None = None,
        examples: int = 100,
        seed: int = 0,
        database: str | Path | None = None,
        out_dir: str | Path | None = None,
    ) -> ExploreResult:
        """Explore the agent and return what was found (``result.assert_ok()`` fails the test).

        Args:
            spec: The explore spec: a YAML file (relative to the rootdir), a mapping or an ExploreSpec.
            app: The agent in this process (``module:attr``); default: the ini's ``agentphone_app``.
            webhook: Or its URL; default: the ini's ``agentphone_webhook``.
            invariants: Python invariants (with predicates) instead of the spec's.
            examples: How many calls hypothesis draws.
            seed: The seed (the same calls every run: a test must not change its mind).
            database: A folder of failing plans to play first (default: ``.agentphone/explore``
                under the rootdir).
            out_dir: Where to write the shrunk failure's scenario (default: nowhere; the failure
                message shows it).

        Returns:
            The exploration's result.
        """
        explorer = self.explorer(spec, app=app, webhook=webhook, invariants=invariants)
        folder = (
            database if database is not None else Path(self._options.rootpath) / ".agentphone" / "explore"
        )
        return explorer.explore(examples=examples, seed=seed, database=folder, out_dir=out_dir)

    def close(self) -> None:
        self._stack.close()


@pytest.fixture
def agentphone_explore(request: pytest.FixtureRequest, agentphone_server: Emulator) -> Iterator[Exploration]:
    """Explore an agent with hypothesis-drawn callers (docs/explore.md) on the session's emulator.

    Yields:
        (Exploration): Call it as ``agentphone_explore(spec, app=...)`` for an ``ExploreResult``
            (``.assert_ok()``), or ``agentphone_explore.explorer(spec, app=...)`` for the
            ``Explorer`` (``strategy()``, ``check(plan)``) in a hypothesis test of your own.
    """
    exploration = Exploration(agentphone_server, request.config.stash[OPTIONS_KEY])
    try:
        yield exploration
    finally:
        exploration.close()
        agentphone_server.reset()  # the next test starts clean, whatever the calls left behind
