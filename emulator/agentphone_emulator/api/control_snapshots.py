"""Snapshots over the control plane (``/__emulator/snapshots``...): keep the whole state, bring
it back later by id, list what is kept, and free it. How they are kept (compact, at most 20,
the oldest evicted) is store/snapshots.py's. The control plane (api/control.py) registers these.
"""

from __future__ import annotations

from ..errors import ApiError, not_found
from ..models.control import SnapshotInfo, SnapshotList, SnapshotOut, SnapshotTakenOut
from ..store.snapshots import KeptSnapshot
from .framework import Ctx, Router

PREFIX = "/__emulator"
router = Router("emulator snapshots")


def _kept(ctx: Ctx, snapshot_id: str) -> KeptSnapshot:
    snapshot = ctx.platform.snapshots.get(snapshot_id)
    if snapshot is not None:
        return snapshot
    if ctx.platform.snapshots.was_evicted(snapshot_id):
        limit = ctx.platform.snapshots.limit
        raise ApiError(
            404,
            f"Snapshot {snapshot_id} was evicted: the emulator keeps the {limit} newest snapshots "
            "(DELETE /__emulator/snapshots/{id} frees one you no longer need)",
            code="SNAPSHOT_EVICTED",
        )
    raise not_found("Snapshot")


SNAPSHOTS = "saves or puts back every account's state"
"""Why the snapshot routes take the admin key: a snapshot holds every account (api/access.py)."""


@router.post(f"{PREFIX}/snapshots", response=SnapshotTakenOut, status=201, admin=SNAPSHOTS)
async def take_snapshot(ctx: Ctx) -> SnapshotTakenOut:
    """Save the whole state; restore it later by id (the 20 newest are kept)"""
    snapshot, evicted = ctx.platform.snapshots.take(ctx.state)
    return SnapshotTakenOut(id=snapshot.id, evicted=evicted)


@router.get(f"{PREFIX}/snapshots", response=SnapshotList, admin=SNAPSHOTS)
async def list_snapshots(ctx: Ctx) -> SnapshotList:
    """The snapshots kept, oldest first, with the memory each holds"""
    return SnapshotList(
        data=[
            SnapshotInfo(id=s.id, created_at=s.created_at, size_bytes=s.size)
            for s in ctx.platform.snapshots.all()
        ],
        limit=ctx.platform.snapshots.limit,
    )


@router.post(f"{PREFIX}/snapshots/{{snapshot_id}}/restore", response=SnapshotOut, admin=SNAPSHOTS)
async def restore_snapshot(ctx: Ctx, *, snapshot_id: str) -> SnapshotOut:
    """Put the state back as it was when the snapshot was taken"""
    ctx.runtime.restore(_kept(ctx, snapshot_id).expand(), owned=True)
    return SnapshotOut(id=snapshot_id)


@router.delete(f"{PREFIX}/snapshots/{{snapshot_id}}", response=None, status=204, admin=SNAPSHOTS)
async def delete_snapshot(ctx: Ctx, *, snapshot_id: str) -> None:
    """Free a snapshot's memory; it cannot be restored any more"""
    _kept(ctx, snapshot_id)
    ctx.platform.snapshots.delete(snapshot_id)
