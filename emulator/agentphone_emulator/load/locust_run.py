"""The ``load`` command's run on Locust's own runners: a local runner in this process, a master
with ``--workers N`` local worker processes (or workers from other machines), or a worker; then
Locust's summary, CSV and HTML, and the gates' verdicts as the exit status.

Nothing outlives the run: local workers are this process's children, stopped (then killed) in a
``finally``; each process's emulators and engine thread are closed when its runner ends; SIGINT
and SIGTERM end the run the same way, early.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from gevent.event import Event
from locust import constant
from locust import events as global_events
from locust.env import Environment
from locust.runners import WorkerRunner
from locust.stats import (
    StatsCSVFileWriter,
    get_error_report_summary,
    get_percentile_stats_summary,
    get_stats_summary,
    stats_history,
)

from ..command_line import UsageError
from ..scenario.loader import load_paths
from .chart import Samples, draw, sample_forever
from .gates import judge
from .measurements import CALL, ERROR, SMS, TURN
from .play import CALL_STEPS, TEXT_STEPS
from .shipment import MESSAGE, ShipmentError, pack, receiver, send_to_workers
from .users import (
    ScenarioUser,
    Texter,
    VoiceCaller,
    close_world,
    collect_from_workers,
    kept_for,
    prime_world,
)
from .users import _report as report_measurements
from .world import SECRET_ENV, LoadSetupError, LoadWorld

WORKERS_JOIN_SECONDS = 60.0
WORKER_STOP_SECONDS = 10.0
PERCENTILES = [0.5, 0.9, 0.95, 0.99, 1.0]


def user_classes(args: argparse.Namespace, secret: str) -> list[type[ScenarioUser]]:
    """The run's user classes, named the same in the master and every worker (Locust dispatches
    users by class name), from what the scenarios hold: callers for calls, texters for texts."""
    files = [str(Path(p).resolve()) for p in args.scenarios]
    attrs: dict[str, Any] = {
        "scenario_files": files,
        "host": args.webhook,
        "webhook_secret": secret,
        "wait_time": constant(args.wait),
    }
    if args.worker:
        # The master decides which users this worker runs, and (usually) sends the scenarios.
        return [
            type("Caller", (VoiceCaller,), {**attrs, "weight": 1}),
            type("Texters", (Texter,), {**attrs, "weight": 1}),
        ]
    loaded, problems = load_paths(args.scenarios)
    if problems:
        raise UsageError(str(problems[0]))
    if not loaded:
        raise UsageError(f"no scenario in {', '.join(args.scenarios)}")
    steps = [step for item in loaded for _, step in item.scenario.timeline()]
    has_calls = any(isinstance(s, CALL_STEPS) for s in steps)
    has_texts = any(isinstance(s, TEXT_STEPS) for s in steps)
    classes: list[type[ScenarioUser]] = []
    if has_calls:
        classes.append(type("Caller", (VoiceCaller,), {**attrs, "weight": 1}))
    if has_texts and (args.texters is None or args.texters > 0):
        weight = 1 if args.texters is None else args.texters
        classes.append(type("Texters", (Texter,), {**attrs, "weight": max(1, round(weight))}))
    if not classes:
        raise UsageError(f"the scenarios in {', '.join(args.scenarios)} have no call or text to play")
    return classes


def run_load(args: argparse.Namespace) -> int:
    secret = args.webhook_secret or os.environ.get(SECRET_ENV) or "whsec_" + secrets.token_hex(24)
    classes = user_classes(args, secret)
    env = Environment(user_classes=list(classes), host=args.webhook, events=global_events)
    stopping = Event()
    hub = gevent.get_hub()

    def stop(signum: int, frame: object) -> None:
        # Ctrl-C or a TERM ends the run the way its end does (not with KeyboardInterrupt, which
        # would skip the report, the workers' last figures and the clean-up): the hub sets the event.
        hub.loop.run_callback(stopping.set)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    if args.worker:
        return _worker(env, args, stopping)
    children: list[subprocess.Popen[bytes]] = []
    try:
        if args.workers or args.master:
            port = args.master_port if args.master else _free_port()
            bind = args.master_bind_host if args.master else "127.0.0.1"
            try:
                shipment = pack(classes[0].scenario_files)
            except ShipmentError as exc:
                raise UsageError(str(exc)) from None
            runner: Any = env.create_master_runner(bind, port)
            collect_from_workers(env)
            send_to_workers(env, shipment)
            if args.workers:
                children = [_spawn_worker(args, port, secret) for _ in range(args.workers)]
            expected = args.workers or args.expect_workers
            if not _wait_workers(runner, expected, stopping, children):
                runner.quit()
                return 130 if stopping.is_set() else 1
        else:
            for user in classes:
                try:
                    world = LoadWorld.open(user.scenario_files, args.webhook, secret=secret)
                except LoadSetupError as exc:
                    raise UsageError(str(exc)) from None
                prime_world(env, user, world)
            runner = env.create_local_runner()
        history = gevent.spawn(stats_history, runner)
        samples = Samples()
        sampler = gevent.spawn(sample_forever, samples, env.stats, runner) if args.chart else None
        runner.start(args.users, spawn_rate=args.spawn_rate)
        where = f" over {runner.worker_count} workers" if args.workers or args.master else ""
        print(
            f"running: {args.users} simulated callers{where} for {args.run_time:g} s",
            file=sys.stderr,
            flush=True,
        )
        stopping.wait(timeout=args.run_time)
        if sampler is not None:
            sampler.kill(block=True)
            samples.take(env.stats, runner.user_count)
        if args.workers or args.master:
            _quit_workers(env, runner)
        runner.quit()
        close_world(env)
        history.kill(block=True)
        if sampler is not None:
            title = f"{args.users} callers, {', '.join(Path(p).name for p in args.scenarios)}"
            try:
                draw(samples, args.chart, title)
            except OSError as exc:
                raise UsageError(f"cannot write {args.chart}: {exc.strerror}") from None
        if args.csv:
            _write_csv(env, args.csv)
        if args.html:
            _write_html(env, args.html)
        if args.transcripts:
            _write_transcripts(env, args.transcripts)
        return _report(env, args, interrupted=stopping.is_set())
    finally:
        close_world(env)
        _stop_children(children)


def _worker(env: Environment, args: argparse.Namespace, stopping: Event) -> int:
    receive = receiver(env, args.scenarios)

    class Worker(WorkerRunner):
        def connect_to_master(self) -> None:
            # The handler is in place before the first message: the master sends the scenarios
            # right after its "ack", which may come before this constructor returns.
            if MESSAGE not in self.custom_messages:
                self.register_message(MESSAGE, receive)
            super().connect_to_master()

    runner = Worker(env, args.master_host, args.master_port)
    env.runner = runner
    ended = gevent.spawn(runner.greenlet.join)

    def quit_when_stopped() -> None:
        # Interrupted itself (Ctrl-C reaches the whole group): leave as a master's "quit" would
        # have it, stopping the callers and sending the last figures, then say so to the master
        # (Locust's "quitting" listener), which then stops waiting for this worker.
        stopping.wait()
        runner.stop()
        report_measurements(env)
        runner._send_stats()
        env.events.quitting.fire(environment=env, reverse=True)
        runner.quit()

    watcher = gevent.spawn(quit_when_stopped)
    try:
        ended.join()
    finally:
        if stopping.is_set():
            # Interrupted: the master's "quit" may have ended the runner while this worker's own
            # leaving is closing its emulators; let that finish (killing it mid-close would leave
            # the engine's thread to die with the interpreter, its sockets unclosed).
            watcher.join(timeout=WORKER_STOP_SECONDS)
        watcher.kill()
        close_world(env)
    return 0


def _quit_workers(env: Environment, runner: Any) -> None:
    """Tell the workers to quit and wait for each one's last report: a worker answers ``quit``
    with the figures it has not sent yet, and Locust's own ``quit`` gives them only half a second
    before it stops listening (a loaded worker's last calls would be lost)."""
    from locust.rpc import Message

    waiting = {client.id for client in runner.clients.all}

    def reported(client_id: str, **_: object) -> None:
        waiting.discard(client_id)

    env.events.worker_report.add_listener(reported)
    for client_id in list(waiting):
        runner.server.send_to_client(Message("quit", None, client_id))
    waited = 0.0
    # A worker that quit by itself (Ctrl-C reaches the whole process group) has left the master's
    # list: its last figures came with its leaving, so it is not waited for.
    while waiting & {client.id for client in runner.clients.all} and waited < WORKER_STOP_SECONDS:
        gevent.sleep(0.05)
        waited += 0.05
    env.events.worker_report.remove_listener(reported)


def _wait_workers(
    runner: Any, expected: int, stopping: Event, children: list[subprocess.Popen[bytes]]
) -> bool:
    print(
        f"waiting for {expected} worker{'s' if expected != 1 else ''} on port {runner.master_bind_port} ...",
        file=sys.stderr,
    )
    waited = 0.0
    while len(runner.clients.ready) < expected:
        if stopping.is_set():
            return False
        dead = [c for c in children if c.poll() is not None]
        if dead:
            print(
                f"agentphone-emulator: error: a worker exited with status {dead[0].returncode}",
                file=sys.stderr,
            )
            return False
        if waited >= WORKERS_JOIN_SECONDS:
            print(
                f"agentphone-emulator: error: only {len(runner.clients.ready)} of {expected} workers joined "
                f"in {WORKERS_JOIN_SECONDS:g} s",
                file=sys.stderr,
            )
            return False
        gevent.sleep(0.1)
        waited += 0.1
    return True


def _spawn_worker(args: argparse.Namespace, port: int, secret: str) -> subprocess.Popen[bytes]:
    # No scenario paths: the master sends its workers the scenarios (shipment.py).
    command = [
        sys.executable,
        "-m",
        "agentphone_emulator",
        "load",
        "--webhook",
        args.webhook,
        "--wait",
        str(args.wait),
        "--worker",
        "--master-host",
        "127.0.0.1",
        "--master-port",
        str(port),
    ]
    environment = {**os.environ, SECRET_ENV: secret}
    # Its own stdin: a worker must not read the terminal; Ctrl-C reaches it through the group.
    return subprocess.Popen(command, env=environment, stdin=subprocess.DEVNULL)


def _stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=WORKER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _write_csv(env: Environment, prefix: str) -> None:
    """Locust's CSV files, once, at the end (its periodic writer rewrites them every second)."""
    try:
        if parent := os.path.dirname(prefix):
            os.makedirs(parent, exist_ok=True)
        writer = StatsCSVFileWriter(env, PERCENTILES, prefix, full_history=False)
    except OSError as exc:
        raise UsageError(f"cannot write {prefix}_stats.csv: {exc.strerror}") from None
    writer.requests_csv_writer.writerow(writer.requests_csv_columns)
    writer._requests_data_rows(writer.requests_csv_writer)
    writer.stats_history_csv_writer.writerow(writer.stats_history_csv_columns)
    writer._stats_history_data_rows(writer.stats_history_csv_writer, time.time())
    writer.failures_csv_writer.writerow(writer.failures_columns)
    writer._failures_data_rows(writer.failures_csv_writer)
    writer.exceptions_csv_writer.writerow(writer.exceptions_columns)
    writer._exceptions_data_rows(writer.exceptions_csv_writer)
    writer.close_files()


def _write_transcripts(env: Environment, file: str) -> None:
    kept = kept_for(env)
    try:
        Path(file).write_text(kept.render(), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {file}: {exc.strerror}") from None
    print(
        f"transcripts: {len(kept.failed)} failed and {len(kept.slowest)} slowest plays in {file}",
        file=sys.stderr,
    )


def _write_html(env: Environment, file: str) -> None:
    from locust.html import get_html_report

    try:
        Path(file).write_text(get_html_report(env, show_download_link=False), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {file}: {exc.strerror}") from None


def _report(env: Environment, args: argparse.Namespace, *, interrupted: bool) -> int:
    stats = env.stats
    for line in [
        *get_stats_summary(stats, current=False),
        "",
        *get_percentile_stats_summary(stats),
        "",
        *get_error_report_summary(stats),
    ]:
        print(line)
    verdicts = judge(
        stats, max_p95_first_chunk_ms=args.max_p95_first_chunk_ms, max_failure_rate=args.max_failure_rate
    )
    for verdict in verdicts:
        print(verdict.line)
    # Never a silent pass: a run that measured nothing, or whose plays could not run (a setup a
    # worker's emulator refused, the emulator's own failure), fails whatever the gates say.
    measured = sum(e.num_requests for e in stats.entries.values() if e.method in (CALL, TURN, SMS))
    errors = sum(e.num_failures for e in stats.entries.values() if e.method == ERROR)
    if measured == 0:
        print("FAILED: nothing was measured (no call set up, no turn answered, no text delivered)")
    if errors:
        print(
            f"FAILED: {errors} play{'s' if errors != 1 else ''} could not run (ERROR in the failures above)"
        )
    if interrupted:
        return 130
    if measured == 0 or errors:
        return 1
    return 0 if all(v.passed for v in verdicts) else 1
