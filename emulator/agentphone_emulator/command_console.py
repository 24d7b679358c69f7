"""The rich console the commands print with (``run``'s report, ``mic``, ``demo``), apart from
command_line.py: rich takes a while to import, and ``serve`` and ``--version`` never print with it."""

from __future__ import annotations

import errno
import os

from rich.console import Console


class CliConsole(Console):
    """A rich Console for a command's stdout. Rich ends the program itself on a closed pipe, with
    SystemExit(1), which ``run`` would seem to report as failed scenarios: here the write fails
    like any other (BrokenPipeError), and ``cli.main`` ends with ``command_line.CLOSED_PIPE_STATUS``."""

    def on_broken_pipe(self) -> None:
        self.quiet = True  # nothing more to write: rich drops what it would have
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))
