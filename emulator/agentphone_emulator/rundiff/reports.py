"""Reading a ``run --json`` report back: only what the diff needs, checked, every problem one line.

The file is the user's (or CI's) and may be anything: another JSON file, a truncated one, a report of
a newer version. What is read is validated with lenient pydantic models (unknown keys are ignored, so
a newer report still reads); what is not a report is a :class:`ReportError` naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_REPORT_BYTES = 256 * 2**20  # a report of thousands of scenarios is tens of MB; this is a guard


class ReportError(Exception):
    """A file that is not a readable run report: the message is one line naming it."""


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ReportLine(_Lenient):
    speaker: str
    text: str = ""
    at_s: float = Field(0.0, alias="atSeconds")
    label: str = ""
    first_chunk_ms: float | None = Field(None, alias="firstChunkMs")
    state: str | None = None


class ReportFinding(_Lenient):
    code: str
    severity: str = "error"
    message: str = ""


class ReportScenario(_Lenient):
    id: str
    name: str = ""
    file: str = ""
    outcome: str
    error: str | None = None
    transcript: list[ReportLine] = Field(default_factory=list)
    findings: list[ReportFinding] = Field(default_factory=list)


class Report(_Lenient):
    target: str = ""
    scenarios: list[ReportScenario]


def read_report(path: str | Path) -> Report:
    """The report at ``path``, or :class:`ReportError`."""
    shown = str(path)
    try:
        file = Path(path)
        if file.is_dir():
            raise ReportError(f"{shown}: is a directory, not a JSON report")
        if file.stat().st_size > MAX_REPORT_BYTES:
            raise ReportError(f"{shown}: too large for a run report ({file.stat().st_size:,} bytes)")
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ReportError(f"{shown}: no such file") from None
    except OSError as exc:
        raise ReportError(f"{shown}: cannot read: {(exc.strerror or str(exc)).lower()}") from None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReportError(f"{shown}: not JSON ({exc}); write a report with `run ... --json FILE`") from None
    if not isinstance(data, dict) or "scenarios" not in data:
        raise ReportError(f"{shown}: not a run report (no 'scenarios'); write one with `run ... --json FILE`")
    try:
        return Report.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ReportError(f"{shown}: not a run report: {where}: {error['msg']}") from None
