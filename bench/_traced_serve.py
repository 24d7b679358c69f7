"""Bench only: ``python bench/_traced_serve.py serve ARGS...`` is ``agentphone-emulator serve ARGS``
with tracemalloc on, so a soak can ask what the server holds (``bench/soak.py --traced DIR``).

Each SIGUSR1 (the soak sends one after every reset, once the accounts are set up again) collects
garbage, then appends a line to ``DIR/series.tsv``: the dump's number, tracemalloc's traced total,
its peak since the last dump, the gc-tracked objects (those made since ``serve`` froze its start-up
objects), the entries of the process-wide caches, where the memory is (pymalloc's arenas and the
bytes in their used and free blocks; glibc malloc's bytes in use, free in its heaps, and mapped by
itself), and the RSS before and after ``malloc_trim(0)`` (which returns glibc's free pages: what
it gives back was free, not held). The first dump keeps a snapshot;
the second and the one at exit (after SIGTERM's stop) write ``DIR/diff-N.txt``: the allocation
sites (by traceback, ``SOAK_TRACE_FRAMES`` frames, 6 by default; 0: no tracemalloc, and the
allocators' figures without its overhead) that grew most since the first
dump, and the object types whose counts grew most: what a reset leaves behind (every dump from the
second writes those types to ``DIR/types-N.txt``, tracemalloc or not). Those two take
seconds to tens of seconds on a loaded box (the loop stands still meanwhile); the others are cheap.

Nothing here is in the product: the emulator runs as ``serve`` runs it, in this process.
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import gc
import linecache
import os
import signal
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from types import CoroutineType, FrameType

OUT = Path(os.environ.get("SOAK_TRACE_DIR", "."))
FRAMES = int(os.environ.get("SOAK_TRACE_FRAMES", "6"))
IGNORED = [
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
    tracemalloc.Filter(False, "<unknown>"),
    tracemalloc.Filter(False, linecache.__file__),  # the diff's own source lines
]

first: tracemalloc.Snapshot | None = None
first_types: Counter[str] = Counter()
dumps = 0


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def object_types() -> Counter[str]:
    return Counter(type(o).__qualname__ for o in gc.get_objects())


def pymalloc() -> dict[str, int]:
    """``sys._debugmallocstats()``'s totals (it prints them on stderr, so through a file)."""
    saved = os.dup(2)
    with tempfile.TemporaryFile() as out:
        os.dup2(out.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read().decode()
    return {
        name.strip(): int(value.replace(",", ""))
        for line in text.splitlines()
        if line.startswith("# ") and "=" in line
        for name, value in [line[2:].split("=", 1)]
    }


class MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


LIBC = ctypes.CDLL(None)
LIBC.mallinfo2.restype = MallInfo2


def memory_columns() -> str:
    arenas = pymalloc()  # empty while tracemalloc runs: pymalloc then says nothing
    nan = float("nan")
    info = LIBC.mallinfo2()
    before = rss_mb()
    LIBC.malloc_trim(0)
    return "\t".join(
        f"{value:.1f}"
        for value in (
            arenas.get("arenas allocated current", nan) * 1.048576,
            arenas.get("bytes in allocated blocks", nan) / 1e6,
            arenas.get("bytes in available blocks", nan) / 1e6,
            info.uordblks / 1e6,
            info.fordblks / 1e6,
            info.hblkhd / 1e6,
            before,
            rss_mb(),
        )
    )


def cache_entries() -> str:
    """The process-wide caches that outlive a reset, by their entries (all bounded)."""
    from agentphone_emulator.clock import iso
    from agentphone_emulator.engine.recording import speech_cache

    return f"iso {iso.cache_info().currsize}, speech {len(speech_cache)}"


def holders(limit: int = 3, depth: int = 10) -> str:
    """What holds calls of a state a reset has let go of: the first referrers, up to ``depth``
    steps from each of ``limit`` such call records (the emulator's state is found through gc)."""
    from agentphone_emulator.store.account import EmulatorState
    from agentphone_emulator.store.records import CallRecord

    objects = gc.get_objects()
    states = [o for o in objects if isinstance(o, EmulatorState)]
    current = {id(c) for st in states for a in st.accounts.values() for c in a.calls.values()}
    orphans = [o for o in objects if isinstance(o, CallRecord) and id(o) not in current]
    # Not the oldest (the first state's, made before serve froze its start-up objects, whose
    # cycles the collector never looks at) nor the newest (a call in flight at the reset).
    orphans = sorted(orphans, key=lambda call: call.started_at)
    middle = len(orphans) // 2
    orphans = orphans[max(0, middle - limit // 2) : middle - limit // 2 + limit]
    del objects
    ignore = {id(orphans), id(states)}
    out = []
    for orphan in orphans:
        out.append(f"call {orphan.id} ({orphan.status}, {orphan.disconnection_reason})")
        node: object = orphan
        for _ in range(depth):
            here = sys._getframe()
            refs = [r for r in gc.get_referrers(node) if id(r) not in ignore and r is not here]
            ignore.add(id(refs))  # this list refers to the next node too
            if not refs:
                break
            node = refs[0]
            ignore.add(id(node))
            what = type(node).__qualname__
            if isinstance(node, dict):
                what += f" keys {list(node)[:6]}"
            elif isinstance(node, FrameType):
                what += f" {node.f_code.co_filename}:{node.f_lineno} {node.f_code.co_name}"
            elif isinstance(node, CoroutineType):
                frame = node.cr_frame
                where = f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame else "finished"
                what += f" {node.cr_code.co_qualname} at {where}"
            out.append(f"  <- {what}  (of {len(refs)}: {sorted({type(r).__qualname__ for r in refs})})")
    return "\n".join(out) + "\n"


def tasks() -> str:
    """The event loop's tasks, grouped by where each is suspended (its innermost frames)."""
    where: Counter[str] = Counter()
    for task in asyncio.all_tasks(asyncio.get_running_loop()):
        chain: list[str] = []
        coro: object = task.get_coro()
        while isinstance(coro, CoroutineType) and coro.cr_frame is not None:
            chain.append(f"{coro.cr_code.co_qualname}:{coro.cr_frame.f_lineno}")
            coro = coro.cr_await
        where[" -> ".join(chain[-5:])] += 1
    return "\n".join(f"{n:5d}  {stack}" for stack, n in where.most_common()) + "\n"


def dump(signum: int = 0, frame: FrameType | None = None, *, diff: bool = False) -> None:
    global first, first_types, dumps
    dumps += 1
    began = time.monotonic()
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()  # 0, 0 with SOAK_TRACE_FRAMES=0
    tracemalloc.reset_peak()
    types = object_types()
    with (OUT / "series.tsv").open("a") as series:
        if dumps == 1:
            series.write(
                "dump\ttraced_mb\tpeak_mb\tgc_objects\tcaches\tpymalloc_arenas_mb\tpymalloc_used_mb"
                "\tpymalloc_free_mb\tmalloc_used_mb\tmalloc_free_mb\tmalloc_mmapped_mb\trss_mb\trss_trimmed_mb\tdump_s\n"
            )
        series.write(
            f"{dumps}\t{current / 1e6:.2f}\t{peak / 1e6:.2f}\t{sum(types.values())}\t{cache_entries()}\t{memory_columns()}\t{time.monotonic() - began:.1f}\n"
        )
    if first_types:
        grown = sorted(((types[t] - first_types[t], t) for t in types), reverse=True)[:30]
        lines = [f"{d:+8d}  {t} (now {types[t]})" for d, t in grown if d > 0]
        (OUT / f"types-{dumps}.txt").write_text("\n".join(lines) + "\n")
        (OUT / f"holders-{dumps}.txt").write_text(holders())
        (OUT / f"tasks-{dumps}.txt").write_text(tasks())
    else:
        first_types = types
    if not tracemalloc.is_tracing() or (first is not None and not (diff or dumps == 2)):
        return
    snapshot = tracemalloc.take_snapshot().filter_traces(IGNORED)
    if first is None:
        first = snapshot
        return
    lines = [f"dump {dumps} against dump 1: traced {current / 1e6:.2f} MB", "", "-- grown most, by traceback"]
    for stat in snapshot.compare_to(first, "traceback")[:25]:
        lines.append(
            f"{stat.size_diff / 1e3:+10.1f} KB {stat.count_diff:+8d} blocks (now {stat.size / 1e3:.1f} KB)"
        )
        lines.extend(f"      {line}" for line in stat.traceback.format(most_recent_first=True)[: 2 * FRAMES])
    lines += ["", "-- gc-tracked objects grown most, by type"]
    grown = sorted(((types[t] - first_types[t], t) for t in types), reverse=True)[:30]
    lines.extend(f"{d:+8d}  {t} (now {types[t]})" for d, t in grown if d > 0)
    (OUT / f"diff-{dumps}.txt").write_text("\n".join(lines) + "\n")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    if FRAMES > 0:  # 0: no tracemalloc, so pymalloc's own figures can be read (and no overhead)
        tracemalloc.start(FRAMES)
    signal.signal(signal.SIGUSR1, dump)
    atexit.register(lambda: dump(diff=True) if first is not None else None)
    from agentphone_emulator.cli import main as cli_main

    sys.exit(cli_main(sys.argv[1:]))


if __name__ == "__main__":
    main()
