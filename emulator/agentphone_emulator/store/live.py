"""Live changes, for whoever watches them as they happen (the control plane's event stream,
``GET /__emulator/events``, which the console page reads).

The writers of calls, turns, replies, keys, texts, deliveries and findings call :func:`publish`
with the record that changed; a watcher (:func:`watch`) turns it into what it sends. With nobody
watching, a publish costs one lookup in an empty dictionary, so the engine pays nothing for a
feature it is not using.

A watcher runs synchronously inside the writer (on the emulator's loop, between two awaits), so
it must be quick and must not raise: an exception is logged and the writer carries on.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from .account import Account, EmulatorState

log = logging.getLogger("agentphone_emulator.live")

LiveKind = Literal[
    "call", "turn", "reply", "chunk", "keys", "finding", "text", "delivery", "reset", "closing"
]
"""What changed. ``subject`` per kind: ``call`` a CallRecord; ``turn`` (CallRecord, CallTurn);
``reply`` (CallRecord, AgentReply); ``chunk`` (CallRecord, AgentReply, HeardChunk); ``keys``
(CallRecord, KeyPress); ``finding`` a Finding; ``text`` a MessageRecord; ``delivery`` a
DeliveryRecord; ``reset`` None (every account's state was forgotten or restored); ``closing``
None (the emulator is stopping: streams end)."""

Watcher = Callable[[LiveKind, Account | None, Any], None]

_watchers: weakref.WeakKeyDictionary[EmulatorState, list[Watcher]] = weakref.WeakKeyDictionary()


@contextmanager
def watch(state: EmulatorState, watcher: Watcher) -> Iterator[None]:
    """Call ``watcher(kind, account, subject)`` for each change of ``state`` while inside."""
    watchers = _watchers.setdefault(state, [])
    watchers.append(watcher)
    try:
        yield
    finally:
        if watcher in watchers:
            watchers.remove(watcher)
        if not watchers:
            _watchers.pop(state, None)


def watched(state: EmulatorState) -> bool:
    """Whether anyone watches ``state`` (a writer may skip building a subject nobody reads)."""
    return state in _watchers


def publish(state: EmulatorState, account: Account | None, kind: LiveKind, subject: Any = None) -> None:
    """Tell ``state``'s watchers that ``subject`` (of ``account``) changed."""
    watchers = _watchers.get(state)
    if not watchers:
        return
    for watcher in list(watchers):
        try:
            watcher(kind, account, subject)
        except Exception:
            log.exception("live watcher %r failed on %s", watcher, kind)
