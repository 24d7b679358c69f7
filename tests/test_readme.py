"""The README's quick start is the contract with a new user: keep it and CI in step."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the quick start has a bash block"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_is_two_commands() -> None:
    assert len(quick_start_commands()) == 2


def test_ci_runs_the_readme_commands_verbatim() -> None:
    """CI installs and tests exactly as the README tells a new user to, in a venv of its own."""
    install, test_command = (part.strip() for part in quick_start_commands()[1].split("&&"))
    ci_script = (ROOT / ".ci" / "run").read_text()
    lines = ci_script.splitlines()
    assert test_command in lines
    assert any(line.startswith(install + " ") or line == install for line in lines)
    assert "python3 -m venv" in ci_script  # never the machine's own Python
    assert lines.index(next(line for line in lines if line.startswith(install))) < lines.index(test_command)


def test_the_main_job_passes() -> None:
    """The first quick-start command: the scenario library against the example agent, exit 0."""

    main_job = quick_start_commands()[0].split("&&")[-1].strip()
    argv = shlex.split(main_job)
    assert argv[:2] == ["agentphone-emulator", "run"]
    env = {**os.environ, "COLUMNS": "160"}
    result = subprocess.run(
        [sys.executable, "-m", "agentphone_emulator", *argv[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"\d+ passed in [\d.]+ s", result.stdout)


def test_the_readme_scenario_passes(tmp_path: Path) -> None:
    """The scenario the README shows is a real one: it loads and passes against the example agent."""

    section = (ROOT / "README.md").read_text().split("## Scenarios", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block, "the Scenarios section shows a scenario"
    scenario = tmp_path / "orders.yaml"
    scenario.write_text(block.group(1))
    result = run_cli("run", str(scenario), "--app", "examples.support_agent:app")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 passed" in result.stdout


def test_the_readme_pytest_example_passes(pytester: pytest.Pytester) -> None:
    """The README's pytest test passes as shown, against docs/pytest.md's example agent, with the
    README's one line of pytest.ini."""
    from tests.test_docs_pytest import SHARED

    section = (ROOT / "README.md").read_text().split("## With pytest", 1)[1].split("\n## ", 1)[0]
    ini = re.search(r"`(agentphone_app = [^`]+)`", section)
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert ini and block, "the pytest section shows its ini line and a test"
    pytester.makefile(".py", myagent=SHARED["myagent.py"])
    pytester.makeini(f"[pytest]\n{ini.group(1)}\n")
    pytester.makepyfile(test_agent=block.group(1))
    result = pytester.runpytest("-o", "asyncio_default_fixture_loop_scope=function", "-p", "no:benchmark")
    result.assert_outcomes(passed=1)
