"""``agentphone-emulator serve``: the AgentPhone REST API on a local port, until Ctrl-C or SIGTERM.

    agentphone-emulator serve [--host 127.0.0.1] [--port 0] [--api-key KEY ...] [--credit 5.00]
                              [--virtual-clock [START]] [--webhook TARGET [--webhook-secret SECRET]]
                              [--llm-url URL [--llm-model NAME]] [--state FILE [--state-interval 30]]
                              [--admin-key KEY] [--app-module MODULE ...]

The flags are arguments.py's; this module checks them (one line and exit 2 for a mistake), builds
the emulator, prints the ready line and serves (serving.py keeps the state file and the signals).
The emulator, asyncio and logging are imported by ``run``: building the parser needs none of them.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import ipaddress
import os
import sys
from typing import TYPE_CHECKING, Any

from ..agent_env import LLM_KEY_ENV
from ..app_reference import is_app_reference
from ..command_line import UsageError, is_http_url, llm_flags_problem
from ..errors import one_line
from .access import access_options, admin_line
from .arguments import (
    API_KEY_ENV,
    DEFAULT_STATE_INTERVAL,
    add_serve_arguments,
    settings_from_args,
)

if TYPE_CHECKING:
    from ..serving import StateKeeper
    from ..store.persistence import SavedState

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser("serve", help="serve the AgentPhone REST API on a local port")
    add_serve_arguments(serve)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from ..serving import ServeError

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(serve(args))
    except ServeError as exc:
        raise UsageError(str(exc)) from None
    return 0


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_webhook_url(target: str) -> None:
    """A ``--webhook`` that is not an app reference is stored as a URL and would only fail at the
    first delivery: say so before listening."""
    if not is_app_reference(target) and not is_http_url(target):
        hint = f" (did you mean http://{target}?)" if "://" not in target else ""
        raise UsageError(
            f"--webhook expects an http(s) URL or an app reference such as "
            f"'myagent.server:app/webhook', got {target!r}{hint}"
        )


def _check_llm_flags(args: argparse.Namespace) -> None:
    problem = llm_flags_problem(args.llm_url, args.llm_model, LLM_KEY_ENV)
    if problem is not None:
        raise UsageError(problem)


def _speech_flags(args: argparse.Namespace) -> None:
    """``--stt`` / ``--vosk-model`` / ``--end-silence-ms``: checked now (a one-line error, not a
    refusal at the first browser connection), then given to the audio route. Without them nothing
    of speech is imported."""
    if args.stt is None and args.vosk_model is None and args.end_silence_ms is None:
        return
    if args.end_silence_ms is not None and args.end_silence_ms < 100:  # as mic mode's own check
        raise UsageError(f"--end-silence-ms must be at least 100, got {args.end_silence_ms}")
    from ..api.control_audio import configure_speech
    from ..speech.stt import BACKENDS, SttError, find_vosk_model

    kind = args.stt or "auto"
    if kind not in ("auto", *BACKENDS):
        raise UsageError(f"--stt must be one of auto, {', '.join(BACKENDS)}, not {kind!r}")
    if kind == "pocketsphinx" and args.vosk_model is not None:
        raise UsageError("--vosk-model is for --stt vosk (pocketsphinx uses its built-in English model)")
    if kind != "pocketsphinx" and (kind == "vosk" or args.vosk_model is not None):
        try:
            model = str(find_vosk_model(args.vosk_model))
        except SttError as exc:
            raise UsageError(str(exc)) from None
        configure_speech("vosk", model, end_silence_ms=args.end_silence_ms)
    else:
        configure_speech(kind, end_silence_ms=args.end_silence_ms)


async def serve(args: argparse.Namespace) -> None:
    from ..serving import StateKeeper

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {args.port}")
    if args.webhook_secret is not None and args.webhook is None:
        raise UsageError("--webhook-secret needs --webhook (the webhook it signs for)")
    if args.webhook_secret == "":
        raise UsageError("--webhook-secret cannot be empty")
    _check_llm_flags(args)
    _speech_flags(args)
    if not _is_loopback(args.host):
        print(
            f"warning: listening on {args.host}, reachable from other machines; anyone who can reach it "
            "and knows an API key can use the emulator",
            file=sys.stderr,
        )
    try:
        access = access_options(args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    keys = args.api_keys or ([os.environ[API_KEY_ENV]] if os.environ.get(API_KEY_ENV) else None)
    if args.state_interval is not None and args.state is None:
        raise UsageError("--state-interval needs --state (the file it saves to)")
    keeper = StateKeeper(args.state) if args.state is not None else None
    saved = keeper.load() if keeper is not None else None
    try:
        await _serve(args, keys, saved, keeper, access)
    finally:
        if keeper is not None:
            keeper.close()


async def _serve(
    args: argparse.Namespace,
    keys: list[str] | None,
    saved: SavedState | None,
    keeper: StateKeeper | None,
    access: dict[str, Any],
) -> None:
    from ..clock import VirtualClock, iso
    from ..connections import raise_open_file_limit
    from ..engine.targets import TargetError
    from ..server import Emulator
    from ..serving import StopSignals, serve_until_stopped
    from .webhook import serve_webhook

    if saved is not None:
        # The flags' keys first (the ready line prints the first), then the file's others.
        keys = [*(keys or []), *(key for key in saved.keys if key not in (keys or []))]
    clock = VirtualClock(args.virtual_clock) if args.virtual_clock is not None else None
    emulator = Emulator(
        host=args.host,
        port=args.port,
        api_keys=keys,
        settings=settings_from_args(args),
        clock=clock,
        seed=args.seed,
        control_plane=args.control_plane,
        **access,
    )
    if saved is not None:
        from ..store.persistence import restore_into

        # Into the state only: the retries it waits for are scheduled once the platform has started.
        restore_into(saved, emulator.state)
    if args.webhook is not None:
        _check_webhook_url(args.webhook)
    if args.llm_url is not None:
        emulator.configure_hosted(llm_url=args.llm_url, llm_model=args.llm_model)
    raise_open_file_limit()  # its descriptors are its connections (connections.py)
    try:
        await emulator.start()
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    # Listening, so the URL an app is given is known; nothing is announced before the app imports.
    agent = contextlib.ExitStack()
    try:
        hook = agent.enter_context(serve_webhook(emulator, args.webhook, args.webhook_secret))
        if keeper is not None:
            keeper.first_save(emulator)
    except BaseException as exc:
        agent.close()
        await emulator.stop()
        if isinstance(exc, TargetError):  # the app does not import, or is not an app
            raise UsageError(f"--webhook {args.webhook}: {one_line(str(exc))}") from None
        raise
    if saved is not None:
        emulator.platform.dispatcher.reschedule()
    # This process exists to serve: move everything alive at start-up (modules, pydantic
    # schemas) out of the collector's sight so full collections only scan the emulator's state.
    gc.collect()
    gc.freeze()
    signals = StopSignals()
    # The ready line stays first and unchanged: scripts wait for it, then read on if they care.
    print(f"AgentPhone emulator ready at {emulator.base_url}  api key: {emulator.api_key}", flush=True)
    if clock is not None:
        print(
            f"clock: virtual, at {iso(clock.now())}; it moves only when told "
            "(agentphone-emulator trigger advance SECONDS)",
            flush=True,
        )
    if hook is not None:
        print(f"webhook: {hook.url}  secret: {hook.secret}", flush=True)
    if args.llm_url is not None:
        hosted = emulator.platform.voice.hosted
        key = "set" if os.environ.get(LLM_KEY_ENV) else "not set"
        print(
            f"hosted voice: {args.llm_url}  model: {hosted.llm_model}  key: ${LLM_KEY_ENV} ({key})",
            flush=True,
        )
    if keeper is not None:
        what = f"loaded {len(saved.accounts)} account(s) from" if saved is not None else "saving to"
        print(f"state: {what} {args.state}", flush=True)
    if (admin := admin_line(emulator, args.control_plane)) is not None:
        print(admin, flush=True)
    if args.control_plane:  # last, so the lines scripts read keep their places: the page, the key in its fragment (docs/console.md)
        print(f"console: {emulator.console_url}", flush=True)
    interval = DEFAULT_STATE_INTERVAL if args.state_interval is None else args.state_interval
    try:
        await serve_until_stopped(emulator, keeper, interval, signals)
    finally:
        agent.close()
