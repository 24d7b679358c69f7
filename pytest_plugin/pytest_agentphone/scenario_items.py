"""YAML scenario files collected as tests, one item per scenario (Tavern-style).

A file is a scenario file when its name matches ``agentphone_scenario_patterns`` (default
``*.scenario.yaml`` and ``*.scenario.yml``) or it is a ``.yaml`` / ``.yml`` under a folder listed in
``agentphone_scenarios``. Each scenario runs with the scenario runner of ``agentphone-emulator run``
on the session's emulator (a fresh state each), against the agent of ``agentphone_app`` or
``agentphone_webhook``. ``-k`` matches the scenario's name, its file and its tags; every item carries
the ``agentphone_scenario`` marker, so ``-m "not agentphone_scenario"`` leaves them out.

A failure reads like the CLI's report: the transcript so far, each failed check as
``file:line what`` with ``expected:`` and ``got:``, then the findings; a file that does not load is one
collection error per problem line (``file:line:col: path: message``), with no traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from agentphone_emulator.agent_env import agent_environment

from .options import PluginOptions
from .service import OPTIONS_KEY, SERVICE_KEY, ServiceError

if TYPE_CHECKING:  # imported where used: only a session with scenario files pays for the runner
    from agentphone_emulator import Emulator
    from agentphone_emulator.scenario.loader import LoadedScenario
    from agentphone_emulator.scenario.results import ScenarioResult

MARKER = "agentphone_scenario"


GOLDEN_DIR = "__goldens__"  # golden_models.GOLDEN_DIR, not imported: collection stays light


def is_scenario_file(path: Path, options: PluginOptions) -> bool:
    if path.suffix not in (".yaml", ".yml") or GOLDEN_DIR in path.parts:
        return False
    if any(path.match(pattern) for pattern in options.scenario_patterns):
        return True
    return any(path == root or root in path.parents for root in options.scenario_paths)


def shown_path(path: Path, config: pytest.Config) -> str:
    """The path as failures show it: relative to where pytest was started, as its tracebacks are."""
    try:
        return str(path.relative_to(config.invocation_params.dir))
    except ValueError:
        return str(path)


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[ScenarioItem]:
        from agentphone_emulator.scenario.loader import ScenarioFileError, load_file

        options: PluginOptions = self.config.stash[OPTIONS_KEY]
        try:
            # Loaded from the absolute path, reported under the one the user reads.
            loaded = load_file(self.path, extra_variables=options.variables)
        except ScenarioFileError as exc:
            shown = shown_path(self.path, self.config)
            raise self.CollectError(
                "\n".join(str(problem).replace(str(self.path), shown, 1) for problem in exc.problems)
            ) from None
        shown = shown_path(self.path, self.config)
        for scenario in loaded:
            yield ScenarioItem.from_parent(
                self, name=scenario.scenario.name, loaded=dataclasses.replace(scenario, file=shown)
            )


class ScenarioFailed(Exception):
    """The scenario failed or could not run; the item's report is its result."""

    def __init__(self, result: ScenarioResult) -> None:
        super().__init__(result.error or f"{len(result.failures)} failed checks")
        self.result = result


class ScenarioUsageError(Exception):
    """Nothing to run the scenario against, or a target that cannot be used: one line."""


class ScenarioItem(pytest.Item):
    def __init__(self, *, loaded: LoadedScenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loaded = loaded
        self.result: ScenarioResult | None = None
        self.add_marker(MARKER)
        self.extra_keyword_matches.update(loaded.scenario.tags)

    def setup(self) -> None:
        skip = self.loaded.scenario.skip
        if skip:
            _skip(skip if isinstance(skip, str) else "skip: true")

    def runtest(self) -> None:
        from agentphone_emulator.engine.targets import TargetError
        from agentphone_emulator.errors import ApiError, describe_api_error
        from agentphone_emulator.scenario.log_capture import captured_log

        options: PluginOptions = self.config.stash[OPTIONS_KEY]
        target = options.target
        if target is None:
            raise ScenarioUsageError(
                "no agent to run the scenario against: set agentphone_app (module:attr) or "
                "agentphone_webhook (URL) in the ini file, or pass --agentphone-app / --agentphone-webhook"
            )
        try:
            emulator = self.config.stash[SERVICE_KEY].get()
        except ServiceError as exc:
            raise ScenarioUsageError(str(exc)) from None
        with contextlib.ExitStack() as stack:
            if options.app is not None:
                # The agent reads where the API is, its key and the secret from the environment.
                stack.enter_context(agent_environment(emulator.base_url, emulator.api_key, options.secret))
            try:
                # The emulator's own check of the target, as `run` makes it: an app that does not
                # import is the user's mistake on one line, not an internal error of the runner's.
                emulator.set_webhook(target, secret=options.secret)
            except TargetError as exc:
                raise ScenarioUsageError(f"agentphone: {target}: {exc}") from None
            except ApiError as exc:
                raise ScenarioUsageError(f"agentphone: {target}: {describe_api_error(exc)}") from None
            log = stack.enter_context(captured_log())
            result = emulator.run_coroutine(
                lambda: _run(emulator, self.loaded, target, options), name="run_scenario"
            )
        result.log = log
        self.result = result
        if result.repeats is not None:
            # pytest's own --junitxml writes these as the testcase's properties.
            repeats = result.repeats
            self.user_properties += [
                ("agentphone_runs", repeats.count),
                ("agentphone_runs_passed", repeats.passed),
                ("agentphone_flaky", repeats.flaky),
            ]
        self._check_golden(result)
        if result.outcome == "skipped":
            _skip(result.skip_reason or "skipped")
        if result.outcome != "passed":
            raise ScenarioFailed(result)

    def _check_golden(self, result: ScenarioResult) -> None:
        from agentphone_emulator.scenario.goldens import golden_parts

        if not golden_parts(self.loaded.scenario):
            return
        try:
            from .goldens import GoldenUnavailable, check_golden
        except ImportError:
            raise ScenarioUsageError(
                "agentphone: expect: golden in pytest needs syrupy: pip install 'agentphone-emulator[goldens]'"
            ) from None
        try:
            check_golden(self, self.loaded, result)
        except GoldenUnavailable as exc:
            raise ScenarioUsageError(str(exc)) from None

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | Any:
        error = excinfo.value
        if isinstance(error, ScenarioFailed):
            return failure_text(error.result, self.config)
        if isinstance(error, ScenarioUsageError):
            return str(error)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.loaded.line - 1, f"scenario: {self.name}"


def _skip(reason: str) -> NoReturn:
    # Reported at the item's location (the scenario's line, as -rs shows it), as a skip marker is;
    # pytest.skip() would point at this file.
    raise pytest.skip.Exception(reason, _use_item_location=True)


async def _run(
    emulator: Emulator, loaded: LoadedScenario, target: str, options: PluginOptions
) -> ScenarioResult:
    import aiohttp

    from agentphone_emulator.engine.hosted import DEFAULT_MODEL
    from agentphone_emulator.scenario.persona_llm import LlmEndpoint
    from agentphone_emulator.scenario.repeats import RepeatPolicy, run_repeated
    from agentphone_emulator.scenario.runner import run_scenario

    headers = {"Authorization": f"Bearer {emulator.api_key}"}
    llm = LlmEndpoint(options.llm_url, options.llm_model or DEFAULT_MODEL) if options.llm_url else None
    async with aiohttp.ClientSession(headers=headers) as session:
        return await run_repeated(
            lambda: run_scenario(
                emulator,
                session,
                loaded,
                target=target,
                secret=options.secret,
                settings=options.account,
                variables=options.variables,
                llm=llm,
                goldens="off",  # compared through syrupy after the run (goldens.py), for --snapshot-update
            ),
            loaded.scenario,
            RepeatPolicy(options.runs, options.min_pass_rate),
        )


def failure_text(result: ScenarioResult, config: pytest.Config) -> str:
    from agentphone_emulator.scenario.report import details_text

    width = max(config.get_terminal_writer().fullwidth - 4, 60)
    from agentphone_emulator.scenario.report import runs_text

    what = (
        "could not run"
        if result.outcome == "error"
        else f"failed {len(result.failures)} of {len(result.checks)} checks"
    )
    if result.repeats is not None:
        what += f": {runs_text(result)}"
    head = f"{result.file}:{result.line}: scenario {result.name!r} {what}"
    body = details_text(result, width=width)
    return f"{head}\n{body}" if body else head
