"""The state file of ``serve --state FILE``: the emulator's accounts on disk, to survive a restart.

What is saved is what :meth:`EmulatorState.snapshot` holds (every account with its agents,
numbers, calls, messages, webhooks, deliveries, findings ..., the API keys and the number index),
plus where a virtual clock stood and a seeded id generator's position, so a restarted emulator
neither shows time going backwards nor hands out ids it already gave.

The format is JSON, so a person can read it and loading it runs no code (unlike pickle):

    {"format": "agentphone-emulator-state", "version": 1, ..., "payload_bytes": N, "payload_sha256": H}
    <N bytes: the payload, one JSON object>

The header line says what the file is before anything is parsed, so someone else's file, a
newer version's file, a truncated file and a corrupt one each get their own one-line error. The
payload is produced by a generic codec driven by the records' type hints (dataclasses, datetimes,
bytes, enums, sets, tuples, pydantic settings), so a field added to a record is saved without
touching this module; a field with ``compare=False`` is a cache (``AgentRecord.view_cache``), not
state, and is left out. A field missing from a file takes its default (files from before the
field existed still load); an unknown field is an error.

The file itself (one owner, atomic writes, leftovers of a killed writer) is
:mod:`.state_file`'s; saving only when something changed is :mod:`.saver`'s.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import hashlib
import json
import random
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any

from pydantic import BaseModel, ValidationError

from ..clock import EARLIEST, LATEST, VirtualClock, iso
from ..version import __version__
from .account import Account, EmulatorState, StateSnapshot

FORMAT = "agentphone-emulator-state"
VERSION = 1
# The header is one short line; a first line longer than this is not ours.
_HEADER_LIMIT = 4096


class StateFileError(Exception):
    """A state file that cannot be loaded or written: one line naming the file and what is wrong."""


class _Bad(Exception):
    """A value that does not fit its type hint; ``where`` is filled in on the way out."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what
        self.where: list[str] = []


Encoder = Callable[[Any], Any]
Decoder = Callable[[Any], Any]


# -- the codec -----------------------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _identity(value: Any) -> Any:
    return value


def _scalar(kind: type) -> Decoder:
    def decode(value: Any) -> Any:
        # bool is an int to Python, never to a record.
        if type(value) is not kind and not (kind is float and type(value) is int):
            raise _Bad(f"expected {kind.__name__}, got {_type_name(value)}")
        return value

    return decode


def _encode_datetime(value: datetime) -> str:
    return value.isoformat()


def _decode_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise _Bad(f"expected an ISO-8601 time, got {_type_name(value)}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _Bad(f"expected an ISO-8601 time, got {value!r}") from None
    if moment.tzinfo is None:
        raise _Bad(f"expected a time with its UTC offset, got {value!r}")
    return moment


def _encode_bytes(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _decode_bytes(value: Any) -> bytes:
    if not isinstance(value, str):
        raise _Bad(f"expected base64 text, got {_type_name(value)}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _Bad("expected base64 text") from None


def _at(where: str, decode: Decoder, value: Any) -> Any:
    try:
        return decode(value)
    except _Bad as bad:
        bad.where.append(where)
        raise


@cache
def codec(hint: Any) -> tuple[Encoder, Decoder]:
    """The JSON encoder and decoder of values of type ``hint``; a type it cannot save is a
    TypeError when the codec is built, not a surprise at the first save."""
    if hint is Any:
        return _identity, _identity  # free-form JSON from the API (metadata, forms, tool schemas)
    if hint is type(None):
        return _identity, _scalar(type(None))
    if hint in (str, int, float, bool):
        return _identity, _scalar(hint)
    if hint is datetime:
        return _encode_datetime, _decode_datetime
    if hint is bytes:
        return _encode_bytes, _decode_bytes
    if isinstance(hint, type) and issubclass(hint, Enum):
        return _enum_codec(hint)
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        return _model_codec(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _dataclass_codec(hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        others = [a for a in args if a is not type(None)]
        if len(others) != 1 or len(args) != 2:
            raise TypeError(f"cannot save a {hint}: only X | None unions")
        return _optional_codec(others[0])
    if origin in (list, set, frozenset) or (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
        return _sequence_codec(origin, args[0])
    if origin is tuple:
        return _tuple_codec(args)
    if origin is dict:
        if args[0] is not str:
            raise TypeError(f"cannot save a {hint}: JSON object keys are strings")
        return _dict_codec(args[1])
    raise TypeError(f"cannot save a {hint}")


def _enum_codec(kind: type[Enum]) -> tuple[Encoder, Decoder]:
    def decode(value: Any) -> Any:
        try:
            return kind(value)
        except ValueError:
            raise _Bad(f"{value!r} is not a {kind.__name__}") from None

    return (lambda value: value.value), decode


def _model_codec(kind: type[BaseModel]) -> tuple[Encoder, Decoder]:
    def decode(value: Any) -> Any:
        try:
            return kind.model_validate(value)
        except ValidationError as exc:
            raise _Bad(f"not valid {kind.__name__}: {exc.errors()[0]['msg']}") from None

    return (lambda value: value.model_dump(mode="json")), decode


def _optional_codec(hint: Any) -> tuple[Encoder, Decoder]:
    encode_inner, decode_inner = codec(hint)
    return (
        (lambda value: None if value is None else encode_inner(value)),
        (lambda value: None if value is None else decode_inner(value)),
    )


def _sequence_codec(origin: Any, item: Any) -> tuple[Encoder, Decoder]:
    encode_item, decode_item = codec(item)
    sort = origin in (set, frozenset)  # the same set gives the same bytes: no save when nothing changed

    def encode(value: Any) -> list[Any]:
        items = [encode_item(v) for v in value]
        if sort:
            with contextlib.suppress(TypeError):  # unorderable items keep the set's order
                items.sort()
        return items

    def decode(value: Any) -> Any:
        if not isinstance(value, list):
            raise _Bad(f"expected a list, got {_type_name(value)}")
        items = [_at(f"[{i}]", decode_item, v) for i, v in enumerate(value)]
        return items if origin is list else origin(items)

    return encode, decode


def _tuple_codec(args: tuple[Any, ...]) -> tuple[Encoder, Decoder]:
    parts = [codec(a) for a in args]

    def encode(value: Any) -> list[Any]:
        return [enc(v) for (enc, _), v in zip(parts, value, strict=True)]

    def decode(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list) or len(value) != len(parts):
            raise _Bad(f"expected a list of {len(parts)}, got {_type_name(value)}")
        return tuple(_at(f"[{i}]", dec, v) for i, ((_, dec), v) in enumerate(zip(parts, value, strict=True)))

    return encode, decode


def _dict_codec(item: Any) -> tuple[Encoder, Decoder]:
    encode_item, decode_item = codec(item)

    def decode(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _Bad(f"expected an object, got {_type_name(value)}")
        return {k: _at(k, decode_item, v) for k, v in value.items()}

    return (lambda value: {k: encode_item(v) for k, v in value.items()}), decode


def _dataclass_codec(kind: type) -> tuple[Encoder, Decoder]:
    hints = typing.get_type_hints(kind)
    saved = [f for f in dataclasses.fields(kind) if f.compare]  # compare=False: a cache, not state
    fields = [(f.name, *codec(hints[f.name])) for f in saved]
    required = {
        f.name for f in saved if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    known = {f.name for f in saved}

    def encode(value: Any) -> dict[str, Any]:
        return {name: enc(getattr(value, name)) for name, enc, _ in fields}

    def decode(value: Any) -> Any:
        if not isinstance(value, dict):
            raise _Bad(f"expected an object ({kind.__name__}), got {_type_name(value)}")
        missing = required - value.keys()
        if missing:
            raise _Bad(f"{kind.__name__} without {', '.join(sorted(missing))}")
        unknown = value.keys() - known
        if unknown:
            raise _Bad(f"{kind.__name__} has no field {', '.join(sorted(unknown))}")
        return kind(**{name: _at(name, dec, value[name]) for name, _, dec in fields if name in value})

    return encode, decode


def encode(value: Any, hint: Any) -> Any:
    """``value`` as JSON-ready data (dicts, lists, strings, numbers), by its type ``hint``."""
    return codec(hint)[0](value)


def decode(data: Any, hint: Any) -> Any:
    """The inverse of :func:`encode`; a mismatch is a ValueError saying where (``a.b[2].c: ...``)."""
    try:
        return codec(hint)[1](data)
    except _Bad as bad:
        raise ValueError(f"{'.'.join(reversed(bad.where)) or 'the state'}: {bad.what}") from None


# -- the payload ---------------------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class SavedState:
    """Everything a state file holds."""

    accounts: dict[str, Account]
    number_owner: dict[str, tuple[str, str]]
    keys: dict[str, str]  # API key -> account id, in the order the keys were given
    virtual_clock_now: datetime | None = None  # where a virtual clock stood; None on a real clock
    # A seeded id generator's position (random.Random.getstate()); None when ids are random.
    ids: tuple[int, tuple[int, ...], float | None] | None = None

    def snapshot(self) -> StateSnapshot:
        return StateSnapshot(accounts=self.accounts, number_owner=self.number_owner, keys=self.keys)


def _id_random(state: EmulatorState) -> random.Random | None:
    # IdFactory keeps its generator private; persistence is the one reader from outside.
    return state.ids._random


def dump_payload(state: EmulatorState) -> bytes:
    """The payload of ``state`` as it stands. Synchronous on the emulator's loop, with no await,
    so no request changes the state half way through: the file is one consistent moment."""
    rng = _id_random(state)
    saved = SavedState(
        accounts=state.accounts,
        number_owner=state.number_owner,
        keys={key: account.id for key, account in state.account_by_key.items()},
        virtual_clock_now=state.clock.now() if isinstance(state.clock, VirtualClock) else None,
        ids=typing.cast("tuple[int, tuple[int, ...], float | None]", rng.getstate()) if rng else None,
    )
    data = encode(saved, SavedState)
    # NaN and infinity are written as Python's json reads them back, rather than failing a save.
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def frame(payload: bytes, digest: str | None = None) -> bytes:
    """Header line + payload: what is written to the file (``digest``: the payload's sha256, if
    the caller has it already)."""
    header = {
        "format": FORMAT,
        "version": VERSION,
        "writer": f"agentphone-emulator {__version__}",
        "payload_bytes": len(payload),
        "payload_sha256": digest or hashlib.sha256(payload).hexdigest(),
    }
    return json.dumps(header).encode() + b"\n" + payload + b"\n"


def parse(data: bytes, name: str) -> SavedState:
    """A state file's bytes back to its state; every problem a :class:`StateFileError` saying
    what is wrong with ``name`` (the file, as the user named it)."""
    if not data:
        raise StateFileError(f"{name} is empty (a state file cut short, or not one)")
    line_end = data.find(b"\n", 0, _HEADER_LIMIT)
    if line_end < 0:
        if FORMAT.encode() in data[:_HEADER_LIMIT] and len(data) < _HEADER_LIMIT:
            raise StateFileError(f"{name} is truncated (it ends inside its header)")
        raise StateFileError(f"{name} is not an agentphone-emulator state file")
    try:
        header = json.loads(data[:line_end])
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than Python's stack
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise StateFileError(f"{name} is not an agentphone-emulator state file")
    version = header.get("version")
    if type(version) is not int or version < 1:
        raise StateFileError(f"{name} is corrupt (its header has no valid format version)")
    if version > VERSION:
        writer = header.get("writer") or "a newer agentphone-emulator"
        raise StateFileError(
            f"{name} is state format version {version}, written by {writer}; this agentphone-emulator "
            f"{__version__} reads up to version {VERSION}: upgrade it, or start with another file"
        )
    size, digest = header.get("payload_bytes"), header.get("payload_sha256")
    if type(size) is not int or not isinstance(digest, str):
        raise StateFileError(f"{name} is corrupt (its header lacks the payload's size or checksum)")
    payload = data[line_end + 1 :]
    if len(payload) < size + 1:
        raise StateFileError(f"{name} is truncated ({len(payload):,} of its {size + 1:,} bytes of state)")
    if len(payload) > size + 1 or payload[-1:] != b"\n":
        raise StateFileError(f"{name} is corrupt (bytes after the end of its state)")
    payload = payload[:-1]
    if hashlib.sha256(payload).hexdigest() != digest:
        raise StateFileError(f"{name} is corrupt (its checksum does not match its contents)")
    try:
        saved: SavedState = decode(json.loads(payload), SavedState)
    except ValueError as exc:  # a JSON syntax error, or a value that does not fit its record
        raise StateFileError(f"{name} is corrupt ({exc})") from None
    except RecursionError:  # a hand-made file nested deeper than Python's stack (no state is)
        raise StateFileError(f"{name} is corrupt (its JSON is nested deeper than any state)") from None
    moment = saved.virtual_clock_now
    if moment is not None and not EARLIEST <= moment <= LATEST:
        raise StateFileError(f"{name} is corrupt (its virtual clock stands at {iso(moment)})")
    for key, account_id in saved.keys.items():
        if account_id not in saved.accounts:
            raise StateFileError(f"{name} is corrupt (API key {key[:12]}... has no account {account_id})")
    return saved


# -- bringing a saved state into a new emulator -----------------------------------------------------------


def restore_into(saved: SavedState, state: EmulatorState) -> None:
    """Make ``state`` the saved one. A virtual clock resumes no earlier than where it stood and a
    seeded id generator where it was (restarting its sequence would hand out the ids of existing
    records again). A key of ``state`` the file does not know (``serve --state f --api-key NEW``)
    gets a new account; the file's keys keep theirs. Scheduling the retries the state waits for
    is the caller's (``Dispatcher.reschedule``), once the platform runs."""
    if saved.virtual_clock_now is not None and isinstance(state.clock, VirtualClock):
        state.clock.catch_up(saved.virtual_clock_now)
    rng = _id_random(state)
    if rng is not None and saved.ids is not None:
        # A state this Python cannot read leaves ids seeded from the flag.
        with contextlib.suppress(TypeError, ValueError):
            rng.setstate(saved.ids)
    accounts = dict(saved.accounts)
    keys = dict(saved.keys)
    for key in state.api_keys:
        if key in keys:
            continue
        # Made after the generator resumed; a seeded run over a file saved without a seed could
        # still repeat an id, so draw again until it is new.
        account = state.new_account(name="Emulator account")
        while account.id in accounts:
            account = state.new_account(name="Emulator account")
        account.api_key = key
        accounts[account.id] = account
        keys[key] = account.id
    state.restore(StateSnapshot(accounts=accounts, number_owner=dict(saved.number_owner), keys=keys))
