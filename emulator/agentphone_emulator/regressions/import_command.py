"""``agentphone-emulator import-call SOURCE``: a real call as a scenario that replays it.

SOURCE is a call id (read from the platform, or any AgentPhone-compatible service, through the
official SDK with ``--api-key`` and ``--base-url``), a saved ``agent.call_ended`` payload (a
``.json`` file), or a recorded session (a ``.yaml`` / ``.yml`` file that ``mic --record`` wrote or
the console exported). The scenario is written to ``-o FILE`` (default: standard output).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from ..command_line import RefusedError, UsageError, is_http_url

DEFAULT_BASE_URL = "https://api.agentphone.ai"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "import-call",
        help="write a real call as a scenario that replays it (personal data scrubbed)",
        description="Write a call as a scenario YAML: the caller's words in order, with the silences "
        "and interruptions the data shows; the agent's replies as key words to tighten. SOURCE is a "
        "call id (read through the official SDK), a saved agent.call_ended payload (.json) or a "
        "recorded mic or console session (.yaml). Phone numbers, emails, card-like and order-like "
        "numbers are replaced with consistent fakes unless --keep.",
    )
    parser.add_argument("source", metavar="SOURCE", help="a call id, a payload .json or a recorded .yaml")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the scenario here (default: stdout)")
    parser.add_argument(
        "--api-key", metavar="KEY", help="for a call id: the service's API key (default $AGENTPHONE_API_KEY)"
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help=f"for a call id: the service (default $AGENTPHONE_BASE_URL, else {DEFAULT_BASE_URL})",
    )
    parser.add_argument("--keep", action="store_true", help="keep personal data as it is (no scrubbing)")


def run(args: argparse.Namespace) -> int:
    from ..scenario.loader import ScenarioFileError, load_text
    from .call_sources import MissingSdk, SourceError, from_payload_file, from_platform
    from .recorded import from_recording
    from .scenario_yaml import imported_file
    from .timeline import build

    source = Path(args.source)
    try:
        if source.suffix.lower() in (".yaml", ".yml") or (
            source.is_file() and source.suffix.lower() != ".json"
        ):
            if not source.is_file():
                raise UsageError(f"{args.source}: no such file")
            scenarios = from_recording(source)
            origin = f"recorded session {source.name}"
        elif source.suffix.lower() == ".json":
            if not source.is_file():
                raise UsageError(f"{args.source}: no such file")
            call = from_payload_file(source)
            scenarios, origin = [build(call)], call.source
        else:
            call = from_platform(args.source, **_service(args))
            scenarios, origin = [build(call)], call.source
    except MissingSdk as exc:
        raise UsageError(str(exc)) from None
    except SourceError as exc:
        raise RefusedError(str(exc)) from None
    moment = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = imported_file(scenarios, origin, moment, scrub=not args.keep)
    try:
        load_text(text, args.output or "<import-call>")
    except ScenarioFileError as exc:  # our bug, not the user's: say so rather than write a broken file
        raise RefusedError(
            f"the imported scenario does not load (please report it): {exc.problems[0]}"
        ) from None
    _write(text, args.output)
    return 0


def _service(args: argparse.Namespace) -> dict[str, str]:
    api_key = args.api_key or os.environ.get("AGENTPHONE_API_KEY")
    if not api_key:
        raise UsageError(f"{args.source} is a call id: give --api-key (or set $AGENTPHONE_API_KEY)")
    base_url = (args.base_url or os.environ.get("AGENTPHONE_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    if not is_http_url(base_url):
        raise UsageError(f"--base-url {base_url!r}: expected an http(s) URL")
    return {"api_key": api_key, "base_url": base_url}


def _write(text: str, output: str | None) -> None:
    if output is None or output == "-":
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    print(f"wrote {output}", file=sys.stderr)
