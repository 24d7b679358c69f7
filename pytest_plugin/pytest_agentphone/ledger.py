"""Which finding codes the running test has named (asserted, allowed, marked), so the teardown rule
skips them. Kept apart from findings.py so the plugin loads it without importing the emulator."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(slots=True)
class Ledger:
    """The finding codes the running test has named; the teardown check skips those."""

    named: set[str] = field(default_factory=set)


_active: list[Ledger] = []  # the running test's ledger (pytest runs one test at a time per process)


def activate(ledger: Ledger) -> None:
    _active.append(ledger)


def deactivate(ledger: Ledger) -> None:
    if ledger in _active:
        _active.remove(ledger)


def name_codes(codes: Iterable[str]) -> None:
    if _active:
        _active[-1].named.update(codes)
