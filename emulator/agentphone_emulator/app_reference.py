"""``module:attr`` (optionally ``module:attr/path``): an app run in this process, named the way
uvicorn names one. Kept apart from engine/targets.py, which loads apps, so that telling a reference
from a URL imports nothing (the pytest plugin checks its options before anything starts)."""

from __future__ import annotations

import re
import sys

APP_REFERENCE = re.compile(r"^(?P<module>[A-Za-z_][\w.]*):(?P<attr>[A-Za-z_][\w.]*)(?P<path>/.*)?$")


def is_app_reference(text: str) -> bool:
    """``module:attr`` or ``module:attr/path`` (an in-process app), as opposed to a URL."""
    return APP_REFERENCE.match(text) is not None


def importable_from(folder: str) -> None:
    """Let ``module:attr`` be imported from ``folder`` (the current one for the CLI, the rootdir
    for pytest), as uvicorn does: through the console script, sys.path starts at its own bin
    directory, and pytest adds the rootdir only when a conftest.py sits there."""
    if folder not in sys.path:
        sys.path.insert(0, folder)
