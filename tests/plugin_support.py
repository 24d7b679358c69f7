"""What the plugin's pytester tests share: reading pytest's own report."""

from __future__ import annotations

import re

import pytest


def section(result: pytest.RunResult, title: str) -> list[str]:
    """The lines of the report section headed ``____ title ____``, up to the next header."""
    lines = result.stdout.lines
    header = re.compile(rf"^_+ {re.escape(title)} _+$")
    start = next(i for i, line in enumerate(lines) if header.match(line)) + 1
    end = next((i for i in range(start, len(lines)) if re.match(r"^(_{3,}|={3,}) ", lines[i])), len(lines))
    return lines[start:end]
