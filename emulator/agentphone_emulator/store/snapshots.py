"""The snapshots the control plane keeps (``POST /__emulator/snapshots``), by id, for a restore later.

A snapshot is kept in the state file's form (:mod:`.persistence`'s codec, as JSON) compressed
with zlib, not as a deep copy of the records: encoding is ~2.5x quicker than ``copy.deepcopy``
(the event loop waits for it), decoding ~1.5x quicker than the deep copy a restore made, and the
bytes are several times smaller than the copied objects.

At most :data:`MAX_KEPT` are kept: taking one more evicts the oldest (the answer names it), and a
restore of an evicted one is a 404 saying so. ``DELETE /__emulator/snapshots/{id}`` frees one at
once. A reset keeps them (restoring a snapshot after a reset is the point of taking one).

Snapshots taken with the Python API (``Emulator.snapshot()``) are objects the caller holds; they
are not kept here and go when the caller drops them.
"""

from __future__ import annotations

import json
import zlib
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime

from .account import EmulatorState, StateSnapshot
from .persistence import SavedState, decode, encode

MAX_KEPT = 20
_EVICTED_REMEMBERED = 1000  # ids only, to say "evicted" rather than just "not found"


@dataclass(frozen=True, slots=True)
class KeptSnapshot:
    id: str
    created_at: datetime
    data: bytes  # zlib(JSON of the accounts, the number index and the keys, as the state file has them)

    @property
    def size(self) -> int:
        return len(self.data)

    def expand(self) -> StateSnapshot:
        """The state as it was, as new records nobody else holds (a restore need not copy them)."""
        saved: SavedState = decode(json.loads(zlib.decompress(self.data)), SavedState)
        return saved.snapshot()


def compact(state: EmulatorState) -> bytes:
    """The state as it stands, encoded and compressed. Synchronous on the loop: one moment."""
    saved = SavedState(
        accounts=state.accounts,
        number_owner=state.number_owner,
        keys={key: account.id for key, account in state.account_by_key.items()},
    )
    text = json.dumps(encode(saved, SavedState), separators=(",", ":"), ensure_ascii=False)
    return zlib.compress(text.encode(), 1)  # level 1: most of the saving at a fraction of the time


class Snapshots:
    """The kept snapshots, oldest first."""

    def __init__(self, limit: int = MAX_KEPT) -> None:
        self.limit = limit
        self._kept: OrderedDict[str, KeptSnapshot] = OrderedDict()
        self._evicted: deque[str] = deque(maxlen=_EVICTED_REMEMBERED)

    def take(self, state: EmulatorState) -> tuple[KeptSnapshot, str | None]:
        """Keep the state as it stands; returns the snapshot and the id of the one it evicted."""
        snapshot = KeptSnapshot(id=state.ids.new("snap"), created_at=state.now(), data=compact(state))
        self._kept[snapshot.id] = snapshot
        evicted = None
        if len(self._kept) > self.limit:
            evicted, _ = self._kept.popitem(last=False)
            self._evicted.append(evicted)
        return snapshot, evicted

    def get(self, snapshot_id: str) -> KeptSnapshot | None:
        return self._kept.get(snapshot_id)

    def delete(self, snapshot_id: str) -> bool:
        return self._kept.pop(snapshot_id, None) is not None

    def was_evicted(self, snapshot_id: str) -> bool:
        return snapshot_id in self._evicted

    def all(self) -> list[KeptSnapshot]:
        return list(self._kept.values())
