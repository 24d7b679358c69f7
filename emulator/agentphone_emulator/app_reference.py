"""``module:attr`` (optionally ``module:attr/path``): an app run in this process, named the way
uvicorn names one. Kept apart from engine/targets.py, which loads apps, so that telling a reference
from a URL imports nothing (the pytest plugin checks its options before anything starts)."""

from __future__ import annotations

import re

APP_REFERENCE = re.compile(r"^(?P<module>[A-Za-z_][\w.]*):(?P<attr>[A-Za-z_][\w.]*)(?P<path>/.*)?$")


def is_app_reference(text: str) -> bool:
    """``module:attr`` or ``module:attr/path`` (an in-process app), as opposed to a URL."""
    return APP_REFERENCE.match(text) is not None
