"""docs/pytest.md is run, not just read: each howto is a pytest project of its own.

- The files before "## Howtos" (blocks whose first line is ``# <file name>``: the example agent and
  its ``pytest.ini``) are every howto's project; a howto's own named blocks are added (a
  ``pytest.ini`` of its own replaces the shared one).
- ``<!-- expect: 2 passed -->`` after a howto's blocks is the outcome pytest must report, run with
  pytester in this process as a user would run it, through the installed plugin.
- A ```text block after ``<!-- output -->`` is output that run prints: its lines must appear in
  order (``*`` stands for ids, numbers and times that differ run to run).
- The other ```text blocks are the page's error messages; each is produced by the run that makes it
  and must match likewise. Unnamed ```ini blocks must be accepted by pytest as they are.
- Every option of the plugin's ``agentphone`` group and every ini key appears on the page.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC_PATH = ROOT / "docs" / "pytest.md"
DOC = DOC_PATH.read_text(encoding="utf-8")

pytestmark = pytest.mark.usefixtures("quiet_pytester")
# pytest-asyncio warns in every run whose ini leaves this unset (the page's ini files need not set it);
# pytest-benchmark, where installed, warns in every run inside an xdist worker.
QUIET = ("-o", "asyncio_default_fixture_loop_scope=function", "-p", "no:benchmark")


@dataclass
class Block:
    language: str
    text: str
    line: int

    @property
    def file_name(self) -> str | None:
        first = self.text.split("\n", 1)[0]
        named = re.fullmatch(r"#\s*([\w./-]+\.(?:py|ini|yaml|yml|cfg|toml))", first.strip())
        return named.group(1) if named else None


@dataclass
class Howto:
    title: str
    line: int
    files: dict[str, str] = field(default_factory=dict)
    expect: dict[str, int] | None = None
    output: Block | None = None


def _parse() -> tuple[dict[str, str], list[Howto], list[Block]]:
    """The shared files, the howtos, and every block (for the page-wide checks)."""
    lines = DOC.splitlines()
    shared: dict[str, str] = {}
    howtos: list[Howto] = []
    blocks: list[Block] = []
    in_howtos = False
    current: Howto | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("## "):
            in_howtos = line.strip() == "## Howtos"
            current = None
        elif line.startswith("### ") and in_howtos:
            current = Howto(line[4:].strip(), index + 1)
            howtos.append(current)
        elif expect := re.fullmatch(r"<!--\s*expect:\s*(.*?)\s*-->", line.strip()):
            assert current is not None, f"docs/pytest.md:{index + 1}: expect outside a howto"
            current.expect = {
                outcome: int(count)
                for count, outcome in re.findall(r"(\d+)\s+(passed|failed|errors?|skipped)", expect.group(1))
            }
        elif fence := re.match(r"^```(\w*)\s*$", line):
            end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
            block = Block(fence.group(1), "\n".join(lines[index + 1 : end]) + "\n", index + 1)
            blocks.append(block)
            if block.file_name:
                # The whole block, its "# name" line too: line numbers in outputs are the page's.
                (current.files if current is not None else shared)[block.file_name] = block.text
            elif block.language == "text" and current is not None and _after_comment(lines, index, "output"):
                current.output = block
            index = end
        index += 1
    return shared, howtos, blocks


def _after_comment(lines: list[str], index: int, comment: str) -> bool:
    before = next((lines[i].strip() for i in range(index - 1, -1, -1) if lines[i].strip()), "")
    return re.fullmatch(rf"<!--\s*{comment}\s*-->", before) is not None


SHARED, HOWTOS, BLOCKS = _parse()


def pattern_lines(block: Block) -> list[str]:
    """The block's lines as fnmatch patterns: ``[`` is literal, ``*`` the only wildcard; a line
    that is only ``*`` stands for any lines (pytester's fnmatch_lines skips between matches anyway)."""
    return [line.replace("[", "[[]") for line in block.text.rstrip("\n").split("\n") if line.strip() != "*"]


def _project(pytester: pytest.Pytester, howto_files: dict[str, str]) -> None:
    files = {**SHARED, **howto_files}
    for name, text in files.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.fixture
def quiet_pytester(monkeypatch: pytest.MonkeyPatch) -> None:
    # The outer session's own AGENTPHONE_* settings must not leak into the projects run here.
    for name in ("AGENTPHONE_WEBHOOK_SECRET", "AGENTPHONE_BASE_URL", "AGENTPHONE_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_the_page_has_howtos_with_expectations() -> None:
    assert {"myagent.py", "pytest.ini"} <= set(SHARED)
    assert len(HOWTOS) >= 9
    runnable = [h for h in HOWTOS if h.files]
    assert all(h.expect for h in runnable), [h.title for h in runnable if not h.expect]


@pytest.mark.parametrize("howto", [h for h in HOWTOS if h.expect], ids=lambda h: h.title)
def test_howto(pytester: pytest.Pytester, howto: Howto) -> None:
    _project(pytester, howto.files)
    result = pytester.runpytest("-p", "no:cacheprovider", *QUIET)
    expected = {("errors" if k == "error" else k): v for k, v in (howto.expect or {}).items()}
    reported = result.parseoutcomes()
    got = {outcome: reported.get(outcome, 0) for outcome in expected}
    assert got == expected, f"docs/pytest.md:{howto.line}: {howto.title}\n" + result.stdout.str()
    if howto.output is not None:
        result.stdout.fnmatch_lines(pattern_lines(howto.output))


def _text_block(containing: str) -> Block:
    found = [b for b in BLOCKS if b.language == "text" and containing in b.text]
    assert len(found) == 1, f"one ```text block on the page holds {containing!r}"
    return found[0]


def _matches(block: Block, output: str) -> None:
    lines = output.splitlines()
    for pattern in pattern_lines(block):
        assert any(fnmatch.fnmatch(line, pattern) for line in lines), (
            f"docs/pytest.md:{block.line}: {pattern!r} is not in the output:\n{output}"
        )


def test_the_unknown_field_message(pytester: pytest.Pytester) -> None:
    _project(pytester, {"test_x.py": "def test_x(make_agent):\n    make_agent(begin_mesage='Hi')\n"})
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(failed=1)
    _matches(_text_block("unknown agent field"), result.stdout.str())


def test_the_insufficient_balance_message(pytester: pytest.Pytester) -> None:
    _project(pytester, {"test_x.py": "def test_x(make_agent):\n    make_agent()\n    make_agent()\n"})
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(failed=1)
    _matches(_text_block("Insufficient balance"), result.stdout.str())


def test_the_unexpected_finding_message(pytester: pytest.Pytester) -> None:
    findings = next(h for h in HOWTOS if "test_findings.py" in h.files).files["test_findings.py"]
    ignoring = findings.split("def test_typo_is_silence")[0] + (
        "def test_ignores_it(make_agent):\n    make_agent(typo).ring().say('Hi')\n"
    )
    _project(pytester, {"test_x.py": ignoring})
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(passed=1, errors=1)
    _matches(_text_block("did not expect"), result.stdout.str())


def test_the_scenario_file_problem(pytester: pytest.Pytester) -> None:
    hours = next(h for h in HOWTOS if "hours.scenario.yaml" in h.files).files["hours.scenario.yaml"]
    broken = hours.split("---")[0].replace("expect: {text:", "expect: {txt:")
    _project(pytester, {"hours.scenario.yaml": broken})
    result = pytester.runpytest(*QUIET)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    _matches(_text_block("did you mean 'text'?"), result.stdout.str())
    assert "Traceback" not in result.stdout.str()


def test_the_ini_mistake(pytester: pytest.Pytester) -> None:
    _project(pytester, {"pytest.ini": "[pytest]\nagentphone_account =\n    credits=100\n"})
    result = pytester.runpytest(*QUIET)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    _matches(_text_block("unknown account setting"), result.stderr.str())


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if b.language == "ini" and not b.file_name], ids=lambda b: f"line {b.line}"
)
def test_ini_examples_are_accepted(pytester: pytest.Pytester, block: Block) -> None:
    _project(pytester, {"pytest.ini": block.text, "scenarios/.keep": "", "tests/.keep": ""})
    result = pytester.runpytest("--collect-only", "-q", *QUIET)
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED), result.stderr.str()


def test_every_option_and_ini_key_is_on_the_page(pytester: pytest.Pytester) -> None:
    help_text = pytester.runpytest("--help", *QUIET).stdout.str()
    options = set(re.findall(r"--agentphone-[a-z-]+", help_text))
    keys = set(re.findall(r"^\s+(agentphone_[a-z_]+)", help_text, flags=re.MULTILINE))
    assert options and keys
    missing = sorted(name for name in options | keys if name not in DOC)
    assert not missing, f"not documented in docs/pytest.md: {missing}"
