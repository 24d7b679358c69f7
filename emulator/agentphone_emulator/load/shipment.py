"""The scenarios a master sends its workers: each file's text under the path the master read it
from (so a worker's findings and setup errors still name the master's ``file:line``), over
Locust's own channel, so a worker needs no copy of the files (as Locust's ``-f -`` does for a
locustfile).

The master sends them to each worker as it connects (Locust's ``worker_connect``, fired before
the master dispatches any user to it; the worker handles messages in order, so the scenarios are
in place before its first user starts). A worker plays what the master sent; its own paths only
if the master sent nothing (a master that does not send them). What comes over the wire is
hostile input: bounded, checked field by field, every mistake one line, never a traceback.

No Locust import here (the wiring takes the environment as it comes), so the checks are tested
in a plain process.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..scenario.loader import LoadedScenario, ScenarioFileError, discover, load_text

if TYPE_CHECKING:
    from locust.env import Environment

MESSAGE = "agentphone_scenarios"
VERSION = 1
MAX_SHIPMENT_BYTES = 8 * 2**20  # a scenario is a few KB; a run's worth is far below this
MAX_FILES = 1000
MAX_PATH_CHARS = 4096


class ShipmentError(Exception):
    """The scenarios cannot be sent, or what a worker received is not a shipment: one line."""


@dataclass(frozen=True)
class Received:
    """What a worker got from its master: the scenarios, or the one line saying why not."""

    files: tuple[str, ...]
    loaded: list[LoadedScenario]
    problem: str | None = None


_received: dict[int, Received] = {}  # id(environment) -> what its master sent


def pack(paths: Sequence[str]) -> dict[str, Any]:
    """The files under ``paths`` as the master sends them: every file's text, under its path."""
    files, problems = discover(paths)
    if problems:
        raise ShipmentError(str(problems[0]))
    limit = MAX_SHIPMENT_BYTES // 2**20
    if len(files) > MAX_FILES:
        raise ShipmentError(f"{len(files)} scenario files: at most {MAX_FILES} go to the workers")
    shipped: list[dict[str, str]] = []
    try:
        total = sum(os.path.getsize(file) for file in files)
        if total > MAX_SHIPMENT_BYTES:
            raise ShipmentError(
                f"the scenario files are {total:,} bytes: at most {limit} MiB go to the workers"
            )
        for file in files:
            text = file.read_bytes().decode("utf-8-sig")
            shipped.append({"path": str(file), "text": text})
    except OSError as exc:
        raise ShipmentError(
            f"{exc.filename}:1:1: cannot read: {(exc.strerror or str(exc)).lower()}"
        ) from None
    except UnicodeDecodeError:
        raise ShipmentError(f"{file}:1:1: not UTF-8 text") from None
    return {"version": VERSION, "files": shipped}


def unpack(data: object) -> Received:
    """A shipment's scenarios, loaded; :class:`ShipmentError` (one line) for anything else."""
    where = "the master's scenarios"
    if not isinstance(data, dict):
        raise ShipmentError(f"{where}: not a mapping ({type(data).__name__})")
    if data.get("version") != VERSION:
        raise ShipmentError(f"{where}: version {str(data.get('version'))[:20]!r} is not {VERSION}")
    items = data.get("files")
    if not isinstance(items, list) or not items:
        raise ShipmentError(f"{where}: 'files' is not a non-empty list")
    if len(items) > MAX_FILES:
        raise ShipmentError(f"{where}: {len(items)} files, more than {MAX_FILES}")
    total = 0
    texts: dict[str, str] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ShipmentError(f"{where}: files[{index}] is not a mapping")
        path, text = item.get("path"), item.get("text")
        if not isinstance(path, str) or not 0 < len(path) <= MAX_PATH_CHARS or not path.isprintable():
            raise ShipmentError(f"{where}: files[{index}].path is not a printable path")
        if not isinstance(text, str):
            raise ShipmentError(f"{where}: files[{index}].text is not text")
        total += len(text.encode("utf-8", "surrogatepass"))
        if total > MAX_SHIPMENT_BYTES:
            raise ShipmentError(f"{where}: over {MAX_SHIPMENT_BYTES // 2**20} MiB (at files[{index}])")
        if path in texts:
            raise ShipmentError(f"{where}: files[{index}].path is sent twice")
        texts[path] = text
    loaded: list[LoadedScenario] = []
    for path, text in texts.items():
        try:
            loaded.extend(load_text(text, path))
        except ScenarioFileError as exc:
            raise ShipmentError(str(exc.problems[0])) from None
        except (ValueError, RecursionError) as exc:  # a lone surrogate, a nesting the loader refuses
            raise ShipmentError(f"{where}: {path[:200]!r} cannot be read: {type(exc).__name__}") from None
    return Received(tuple(texts), loaded)


def send_to_workers(env: Environment, shipment: dict[str, Any]) -> None:
    """On the master: each worker gets the scenarios as it connects (again if it reconnects)."""

    def joined(client_id: str, **_: object) -> None:
        env.runner.send_message(MESSAGE, shipment, client_id=client_id)  # type: ignore[union-attr]

    env.events.worker_connect.add_listener(joined)


def receiver(env: Environment, own_paths: Sequence[str]) -> Callable[..., None]:
    """On a worker: the handler of the master's message, which keeps what the master sent (the
    first time, it says so in one line). Registered before the worker connects (locust_run.py):
    the master sends right after its ``ack``, maybe before the runner's constructor returns."""

    def received(msg: Any, **_: object) -> None:
        first = id(env) not in _received
        try:
            got = unpack(getattr(msg, "data", None))
        except ShipmentError as exc:
            got = Received((), [], str(exc))
            print(f"agentphone-emulator: error: {exc}", file=sys.stderr, flush=True)
        else:
            if first:
                instead = f", not its own {', '.join(own_paths)}" if own_paths else ""
                print(
                    f"worker: playing the master's {len(got.files)} scenario file"
                    f"{'s' if len(got.files) != 1 else ''}{instead}",
                    file=sys.stderr,
                    flush=True,
                )
        _received[id(env)] = got

    return received


def received_for(env: Environment) -> Received | None:
    """What ``env``'s master sent, if it sent anything."""
    return _received.get(id(env))


def forget(env: Environment) -> None:
    _received.pop(id(env), None)
