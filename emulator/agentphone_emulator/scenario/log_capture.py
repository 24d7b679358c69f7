"""What gets logged while a scenario runs (the user's in-process agent, the emulator's warnings) is
kept with that scenario's result, as pytest captures logs per test: a failing scenario shows what
the agent logged meanwhile, and passing ones do not flood the terminal."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

MAX_LINES = 200  # a chatty agent must not turn a report into its log file


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.lines: list[str] = []
        self.dropped = 0
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.lines) >= MAX_LINES:
            self.dropped += 1
            return
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record whose message cannot be formatted must not end the run
            self.lines.append(f"{record.levelname} {record.name}: {record.msg!r}")


@contextmanager
def captured_log() -> Iterator[list[str]]:
    """Collect log lines (INFO and up) from every logger until the block ends; yields the list,
    complete once the block has ended."""
    root = logging.getLogger()
    collector = _Collector()
    lines: list[str] = []
    previous_level = root.level
    root.addHandler(collector)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        root.removeHandler(collector)
        root.setLevel(previous_level)
        lines.extend(collector.lines)
        if collector.dropped:
            lines.append(f"... and {collector.dropped} more lines")
