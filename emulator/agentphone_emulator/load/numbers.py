"""Caller numbers: each simulated caller its own, so the agent sees distinct callers and no two
conversations (a call's history, texts back to a number) meet. A worker's numbers come from its
index, which Locust's master hands out (``runner.worker_index``), so workers never share one."""

from __future__ import annotations

AREA_CODES = 800  # area codes 200-999: a worker index picks one, with room for 100,000 callers
PER_AREA = 100_000


class NumberPool:
    """The numbers of one worker: +1 AAA 9BS SSSS (A: the area code, B: a block, S: the slot), handed out lowest free first and given back
    when a caller stops (numbers are reused, never shared by two callers at once)."""

    def __init__(self, worker_index: int = 0) -> None:
        if worker_index < 0:
            raise ValueError("worker_index must be 0 or more")
        self.worker_index = worker_index
        self._free: list[int] = []
        self._next = 0
        self.taken: set[str] = set()

    def number(self, slot: int) -> str:
        # Beyond 800 workers the area code wraps and the exchange's second digit moves on, so
        # numbers stay distinct for 8,000 workers of 100,000 callers each.
        area = 200 + self.worker_index % AREA_CODES
        block = self.worker_index // AREA_CODES  # 0-9
        return f"+1{area:03d}9{block}{slot:05d}"

    def take(self) -> str:
        if self._free:
            slot = self._free.pop()
        else:
            slot = self._next
            if slot >= PER_AREA:
                raise RuntimeError(f"more than {PER_AREA} callers at once in one worker")
            self._next += 1
        number = self.number(slot)
        self.taken.add(number)
        return number

    def give_back(self, number: str) -> None:
        if number in self.taken:
            self.taken.discard(number)
            self._free.append(int(number[-5:]))
