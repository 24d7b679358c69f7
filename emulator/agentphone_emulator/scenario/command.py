"""``agentphone-emulator run``: load scenario files, run each against the user's agent on a fresh
emulator state, print the report, write JSON / JUnit, exit 0 (all passed), 1 (a scenario failed)
or 2 (usage or scenario-file errors: nothing runs)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import multiprocessing
import os
import secrets
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import aiohttp
from rich.console import Console

from ..agent_env import EMULATOR_KEY_ENV, LLM_KEY_ENV, SECRET_ENV, agent_environment
from ..app_reference import importable_from, is_app_reference
from ..clock import VirtualClock
from ..command_console import CliConsole
from ..command_line import llm_flags_problem
from ..engine.hosted import DEFAULT_MODEL
from ..engine.targets import TargetError
from ..errors import ApiError, describe_api_error
from ..server import Emulator, new_api_key
from ..settings import AccountSettings
from .golden_compare import GoldenMode
from .loader import LoadedScenario, load_file, load_paths
from .log_capture import captured_log
from .persona_llm import LlmEndpoint
from .repeats import RepeatPolicy, check_policy, run_repeated
from .report import print_report, report_console
from .report_files import write_json, write_junit
from .results import RunResult, ScenarioResult
from .runner import run_scenario
from .selection import SelectionError, compile_keyword, searchable
from .signing_hints import RunSecret, fresh_secret_notice, refused_hint


class RunUsageError(Exception):
    pass


def _variables(pairs: Sequence[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise RunUsageError(f"--var expects NAME=VALUE, got {pair!r}")
        values[name] = value
    return values


def _run_secret(args: argparse.Namespace) -> RunSecret:
    """``--webhook-secret``, else ``$AGENTPHONE_WEBHOOK_SECRET``, else a fresh ``whsec_`` secret."""
    app = args.app is not None
    if args.webhook_secret:
        return RunSecret(args.webhook_secret, "--webhook-secret", app)
    if os.environ.get(SECRET_ENV):
        return RunSecret(os.environ[SECRET_ENV], f"${SECRET_ENV}", app)
    return RunSecret("whsec_" + secrets.token_hex(24), "fresh", app)


def _announce(secret: RunSecret) -> None:
    """Once the run can start (a taken port or a bad URL stays a one-line error): the secret."""
    for line in fresh_secret_notice(secret):
        print(line, file=sys.stderr)


def _llm_endpoint(args: argparse.Namespace) -> LlmEndpoint | None:
    """``--llm-url`` / ``--llm-model``, checked as ``serve`` checks them."""
    problem = llm_flags_problem(args.llm_url, args.llm_model, LLM_KEY_ENV)
    if problem is not None:
        raise RunUsageError(problem)
    if args.llm_url is None:
        return None
    return LlmEndpoint(args.llm_url, args.llm_model or DEFAULT_MODEL)


def select(loaded: list[LoadedScenario], keyword: str | None) -> list[LoadedScenario]:
    if keyword is None:
        return loaded
    try:
        predicate = compile_keyword(keyword)
    except SelectionError as exc:
        raise RunUsageError(str(exc)) from None
    return [s for s in loaded if predicate(searchable(s.scenario.name, s.file, s.scenario.tags))]


async def _run_on(
    emulator: Emulator,
    loaded: Sequence[LoadedScenario],
    *,
    target: str,
    secret: str,
    settings: AccountSettings | None,
    variables: Mapping[str, str] | None,
    app_env: bool,
    exit_first: bool,
    ready: Callable[[], None] | None = None,
    repeat: RepeatPolicy | None = None,
    llm: LlmEndpoint | None = None,
    goldens: GoldenMode = "check",
) -> list[ScenarioResult]:
    # The agent calls the API back (texts, conversation state) and verifies signatures: in this
    # process it reads where and how from the environment, as it would in production.
    with contextlib.ExitStack() as stack:
        if app_env:
            stack.enter_context(agent_environment(emulator.base_url, emulator.api_key, secret))
        try:
            # The emulator's own check of a target: an --app is imported now (a typo fails before any
            # run), a URL is validated as the API validates webhook URLs.
            emulator.set_webhook(target, secret=secret)
        except TargetError as exc:
            raise RunUsageError(f"{target}: {exc}") from None
        except ApiError as exc:
            raise RunUsageError(f"{target}: {describe_api_error(exc)}") from None
        if ready is not None:
            ready()
        results: list[ScenarioResult] = []
        headers = {"Authorization": f"Bearer {emulator.api_key}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            for scenario in loaded:
                once = functools.partial(
                    run_scenario,
                    emulator,
                    session,
                    scenario,
                    target=target,
                    secret=secret,
                    settings=settings,
                    variables=variables,
                    llm=llm,
                    goldens=goldens,
                )
                with captured_log() as log:
                    result = await run_repeated(once, scenario.scenario, repeat or RepeatPolicy())
                result.log = log
                results.append(result)
                if exit_first and result.outcome in ("failed", "error"):
                    break
        return results


async def run_loaded(
    loaded: Sequence[LoadedScenario],
    *,
    target: str,
    secret: str,
    api_key: str | None = None,
    port: int = 0,
    settings: AccountSettings | None = None,
    variables: Mapping[str, str] | None = None,
    app_env: bool = False,
    exit_first: bool = False,
    ready: Callable[[], None] | None = None,
    repeat: RepeatPolicy | None = None,
    llm: LlmEndpoint | None = None,
    goldens: GoldenMode = "check",
) -> RunResult:
    """Run scenarios one after the other on one emulator, each on a fresh state; ``ready()`` is
    called once the emulator listens and has taken the target, before the first scenario."""
    started = time.perf_counter()
    emulator = Emulator(clock=VirtualClock(), port=port, api_keys=[api_key or new_api_key()])
    try:
        await emulator.start()
    except OSError as exc:  # as `serve` says it: a taken port is a usage mistake, not a traceback
        raise RunUsageError(
            f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}; pass --port"
        ) from None
    try:
        results = await _run_on(
            emulator,
            loaded,
            target=target,
            secret=secret,
            settings=settings,
            variables=variables,
            app_env=app_env,
            exit_first=exit_first,
            ready=ready,
            repeat=repeat,
            llm=llm,
            goldens=goldens,
        )
    finally:
        await emulator.stop()
    return RunResult(results=results, target=target, wall_s=time.perf_counter() - started)


@dataclass(frozen=True, slots=True)
class WorkerJob:
    """What a worker process needs to run its share: scenarios are named by file and document index
    and loaded again there (a loaded scenario holds positions, not worth pickling)."""

    cwd: str
    scenarios: tuple[tuple[int, str, int], ...]  # (position in the run, file, document index)
    target: str
    secret: str
    variables: tuple[tuple[str, str], ...]
    exit_first: bool
    repeat: RepeatPolicy = field(default_factory=RepeatPolicy)
    llm: LlmEndpoint | None = None
    goldens: GoldenMode = "check"


def _run_share(job: WorkerJob) -> list[tuple[int, ScenarioResult]]:
    """A worker process: its own emulator on a free port, its own environment for the app."""
    importable_from(job.cwd)
    variables = dict(job.variables)
    files: dict[str, list[LoadedScenario]] = {}
    chosen = []
    for _, file, index in job.scenarios:
        if file not in files:
            files[file] = load_file(file, extra_variables=variables)
        chosen.append(files[file][index])
    run = asyncio.run(
        run_loaded(
            chosen,
            target=job.target,
            secret=job.secret,
            variables=variables,
            app_env=True,
            exit_first=job.exit_first,
            repeat=job.repeat,
            llm=job.llm,
            goldens=job.goldens,
        )
    )
    return [(position, result) for (position, _, _), result in zip(job.scenarios, run.results, strict=False)]


def run_in_workers(
    chosen: Sequence[LoadedScenario],
    jobs: int,
    *,
    target: str,
    secret: str,
    variables: Mapping[str, str],
    exit_first: bool,
    repeat: RepeatPolicy | None = None,
    llm: LlmEndpoint | None = None,
    goldens: GoldenMode = "check",
) -> RunResult:
    """Spread scenarios over ``jobs`` processes (round robin, so slow files do not all land on one)
    and merge the results back in the order of the run."""
    started = time.perf_counter()
    shares = [
        WorkerJob(
            cwd=os.getcwd(),
            scenarios=tuple((i, s.file, s.index) for i, s in enumerate(chosen) if i % jobs == worker),
            target=target,
            secret=secret,
            variables=tuple(variables.items()),
            exit_first=exit_first,
            repeat=repeat or RepeatPolicy(),
            llm=llm,
            goldens=goldens,
        )
        for worker in range(jobs)
    ]
    # spawn, not fork: a forked child would inherit this process's threads and event-loop state.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        merged = [
            pair for share in pool.map(_run_share, [s for s in shares if s.scenarios]) for pair in share
        ]
    results = [result for _, result in sorted(merged, key=lambda pair: pair[0])]
    return RunResult(results=results, target=target, wall_s=time.perf_counter() - started)


def run_command(args: argparse.Namespace, console: Console | None = None) -> int:
    console = console or report_console(kind=CliConsole)
    try:
        variables = _variables(args.var)
        loaded, problems = load_paths(args.paths, extra_variables=variables)
        if problems:
            for problem in problems:
                print(problem, file=sys.stderr)
            noun = "problem" if len(problems) == 1 else "problems"
            print(
                f"agentphone-emulator: {len(problems)} {noun} in scenario files; nothing was run",
                file=sys.stderr,
            )
            return 2
        chosen = select(loaded, args.keyword)
        if not chosen:
            what = f"matches -k {args.keyword!r}" if args.keyword else "was found in " + " ".join(args.paths)
            raise RunUsageError(f"no scenario {what}")
        target = args.app or args.webhook
        if args.app is not None:
            if not is_app_reference(args.app):
                raise RunUsageError(f"--app expects module:attr (e.g. myagent.server:app), got {args.app!r}")
            importable_from(os.getcwd())
        port = args.port if args.port is not None else (0 if args.app else 8787)
        run_secret = _run_secret(args)
        secret = run_secret.value
        wrong = check_policy(args.runs, args.min_pass_rate)
        if wrong is not None:
            raise RunUsageError(wrong)
        repeat = RepeatPolicy(args.runs, args.min_pass_rate)
        llm = _llm_endpoint(args)
        if args.jobs < 1:
            raise RunUsageError(f"--jobs must be at least 1, got {args.jobs}")
        if args.jobs > 1 and args.app is None:
            raise RunUsageError(
                "--jobs needs --app: a server you started can call back only one emulator, and each "
                "worker has its own"
            )
        goldens: GoldenMode = "update" if getattr(args, "update_goldens", False) else "check"
        if args.jobs > 1:
            run = run_in_workers(
                chosen,
                min(args.jobs, len(chosen)),
                target=target,
                secret=secret,
                variables=variables,
                exit_first=args.exitfirst,
                repeat=repeat,
                llm=llm,
                goldens=goldens,
            )
        else:
            run = asyncio.run(
                run_loaded(
                    chosen,
                    target=target,
                    secret=secret,
                    api_key=args.api_key or os.environ.get(EMULATOR_KEY_ENV),
                    port=port,
                    variables=variables,
                    app_env=args.app is not None,
                    exit_first=args.exitfirst,
                    ready=functools.partial(_announce, run_secret),
                    repeat=repeat,
                    llm=llm,
                    goldens=goldens,
                )
            )
    except RunUsageError as exc:
        print(f"agentphone-emulator: error: {exc}", file=sys.stderr)
        return 2
    print_report(run, console, verbose=args.verbose)
    hint = refused_hint(run, run_secret)
    if hint is not None:
        print(hint, file=sys.stderr)
    if args.json_path:
        write_json(run, args.json_path)
    if args.junit_path:
        write_junit(run, args.junit_path)
    return 0 if run.ok else 1
