"""Scenario paths that are not plain files: ``run`` refuses them in one line (exit 2) instead of
blocking on a FIFO with no writer (it once hung for ever) or reading a device without end."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from agentphone_emulator.scenario.loader import MAX_FILE_BYTES, ScenarioFileError, load_file
from tests.test_scenario_cli import APP, agentphone

HANG_GUARD_S = 60
"""Not a timing check: only how long to wait before calling a blocked ``run`` a hang."""


def test_a_fifo_is_refused_in_one_line_and_run_exits_2(tmp_path: Path) -> None:
    fifo = tmp_path / "calls.yaml"
    os.mkfifo(fifo)
    try:
        done = agentphone("run", str(fifo), *APP, timeout=HANG_GUARD_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"run blocked on a FIFO with no writer for {HANG_GUARD_S} s")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[0] == (
        f"{fifo}:1:1: not a regular file (a FIFO): scenarios are read from files"
    )


def test_a_fifo_inside_a_scenario_folder_is_passed_over_like_any_non_file(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text("name: fine\nsteps: [{wait: 1}]\n")
    os.mkfifo(tmp_path / "pipe.yaml")
    try:
        done = agentphone("run", str(tmp_path), *APP, timeout=HANG_GUARD_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"run blocked on a FIFO in a folder for {HANG_GUARD_S} s")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_a_device_is_refused() -> None:
    with pytest.raises(ScenarioFileError) as refused:
        load_file("/dev/zero")
    [problem] = refused.value.problems
    assert problem.message == "not a regular file (a device or a socket): scenarios are read from files"


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as file:
        file.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk, no memory
    with pytest.raises(ScenarioFileError) as refused:
        load_file(huge)
    [problem] = refused.value.problems
    assert problem.message.startswith(f"too large ({MAX_FILE_BYTES + 1:,} bytes")
