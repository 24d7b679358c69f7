"""docs/scenarios.md is the scenario language's reference, so it is held to the code:

- every ```yaml block parses; a block holding a complete scenario (a top-level ``name``) loads
  with the real loader without a problem;
- a block after ``<!-- runs against the example agent -->`` passes against
  ``examples.support_agent:app``, run as ``agentphone-emulator run --app`` runs it;
- the page's sample outputs are real: ``<!-- does not load -->`` is followed by the exact lines the
  loader prints, ``<!-- fails against the example agent -->`` and ``<!-- errors against the example
  agent -->`` by a report excerpt holding the failed checks, findings or error the run produces;
- every key a scenario may write (each field of each model reachable from ``Scenario``, by its
  alias), every fixed choice (``Literal`` values) and every ``run`` flag is named on the page, so
  the page cannot fall behind the language.
"""

from __future__ import annotations

import argparse
import json
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from agentphone_emulator import AccountSettings
from agentphone_emulator.scenario import models
from agentphone_emulator.scenario.arguments import add_run_arguments
from agentphone_emulator.scenario.command import run_loaded
from agentphone_emulator.scenario.loader import ScenarioFileError, load_text
from agentphone_emulator.scenario.models import Scenario
from agentphone_emulator.scenario.report import check_location, check_text, visible
from agentphone_emulator.scenario.results import ScenarioResult
from agentphone_emulator.scenario.strict import Strict, known_keys
from examples import support_agent

ROOT = Path(__file__).resolve().parents[1]
DOC_PATH = ROOT / "docs" / "scenarios.md"
DOC = DOC_PATH.read_text(encoding="utf-8")
APP = "examples.support_agent:app"
SECRET = "whsec_docs"

RUNS = "runs against the example agent"
FAILS = "fails against the example agent"
ERRORS = "errors against the example agent"
DOES_NOT_LOAD = "does not load"
MARKERS = {RUNS, FAILS, ERRORS, DOES_NOT_LOAD}


# -- the page's code blocks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    language: str
    text: str
    line: int  # the line of the opening fence, 1-based
    marker: str | None  # the HTML comment just before the fence (blank lines between allowed)
    output: str | None  # the next ```text block, for blocks whose marker promises an output

    def __str__(self) -> str:
        return f"docs/scenarios.md:{self.line}"


def _blocks() -> list[Block]:
    lines = DOC.splitlines()
    found: list[tuple[str, str, int, str | None]] = []
    index = 0
    while index < len(lines):
        opening = re.match(r"^```(\w*)\s*$", lines[index])
        if not opening:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        before = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        comment = re.fullmatch(r"\s*<!--\s*(.*?)\s*-->\s*", before)
        text = "\n".join(lines[index + 1 : end]) + "\n"
        found.append((opening.group(1), text, index + 1, comment.group(1) if comment else None))
        index = end + 1
    blocks = []
    for position, (language, text, line, marker) in enumerate(found):
        later_text = [b for b in found[position + 1 :] if b[0] == "text"]
        output = later_text[0][1] if marker in (FAILS, ERRORS, DOES_NOT_LOAD) and later_text else None
        blocks.append(Block(language, text, line, marker, output))
    return blocks


BLOCKS = _blocks()
YAML_BLOCKS = [block for block in BLOCKS if block.language == "yaml"]


def _marked(marker: str) -> list[Block]:
    return [block for block in YAML_BLOCKS if block.marker == marker]


class _StrictYaml(yaml.SafeLoader):
    """YAML as the scenario loader reads it: a duplicate key is an error, not a silent overwrite."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [key.value for key, _ in node.value if isinstance(key, yaml.ScalarNode)]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate keys {duplicates}", node.start_mark
            )
        return super().construct_mapping(node, deep)


def _documents(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=_StrictYaml))  # a SafeLoader


def _is_scenario(block: Block) -> bool:
    return any(isinstance(doc, dict) and "name" in doc for doc in _documents(block.text))


def _squash(text: str) -> str:
    return " ".join(text.split())


def test_the_page_has_its_examples() -> None:
    assert len(YAML_BLOCKS) >= 20
    assert len(_marked(RUNS)) >= 6
    assert len(_marked(FAILS)) == len(_marked(ERRORS)) == 1
    assert len(_marked(DOES_NOT_LOAD)) == 2  # "When something is wrong", and "Bounds"
    unknown = {block.marker for block in YAML_BLOCKS if block.marker} - MARKERS
    assert not unknown, f"unknown markers (a typo would silently skip a check): {unknown}"
    for block in _marked(FAILS) + _marked(ERRORS) + _marked(DOES_NOT_LOAD):
        assert block.output, f"{block}: a ```text block with the output must follow"


# -- every yaml block ---------------------------------------------------------------------------------


@pytest.mark.parametrize("block", YAML_BLOCKS, ids=str)
def test_yaml_block_parses_and_scenarios_load(block: Block) -> None:
    documents = _documents(block.text)  # a fragment must at least be YAML, without duplicate keys
    comments_only = all(line.lstrip().startswith("#") for line in block.text.splitlines() if line.strip())
    assert documents or comments_only, f"{block}: empty"
    if block.marker == DOES_NOT_LOAD or not _is_scenario(block):
        return
    try:
        loaded = load_text(block.text, str(block))
    except ScenarioFileError as exc:
        pytest.fail(f"{block} does not load:\n{exc}")
    assert loaded


def test_json_blocks_parse() -> None:
    blocks = [block for block in BLOCKS if block.language == "json"]
    assert blocks
    for block in blocks:
        json.loads(block.text)


# -- running against the example agent ------------------------------------------------------------------


@pytest.fixture
def agent_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment ``run --app`` gives the agent; set here first so monkeypatch restores it."""
    for name in ("AGENTPHONE_BASE_URL", "AGENTPHONE_API_KEY", "AGENTPHONE_WEBHOOK_SECRET"):
        monkeypatch.setenv(name, "set by run_loaded")
    monkeypatch.setenv("SUPPORT_AGENT_TOOL_SECONDS", "0.02")
    support_agent.reset_memory()


async def _run(text: str, file: str) -> ScenarioResult:
    run = await run_loaded(load_text(text, file), target=APP, secret=SECRET, app_env=True)
    assert len(run.results) == 1
    return run.results[0]


def _explain(result: ScenarioResult) -> str:
    parts = [f"{result.id}: {result.outcome}"]
    parts += [check_text(result, check) for check in result.failures]
    parts += [f"finding {f.code} ({f.severity}): {f.message}" for f in result.findings if not f.allowed]
    parts += [result.error or "", *result.log]
    return "\n".join(part for part in parts if part)


@pytest.mark.usefixtures("agent_env")
@pytest.mark.parametrize("block", _marked(RUNS), ids=str)
async def test_marked_scenario_passes_against_the_example_agent(block: Block) -> None:
    run = await run_loaded(load_text(block.text, str(block)), target=APP, secret=SECRET, app_env=True)
    assert run.results
    for result in run.results:
        assert result.outcome == "passed", _explain(result)


def _file_in(output: str, mark: str) -> str:
    """The scenario file a report excerpt is about, from its first header line."""
    header = re.search(rf"^{re.escape(mark)} (\S+?)::", output, re.M)
    assert header, f"no '{mark} FILE::name' header in:\n{output}"
    return header.group(1)


@pytest.mark.usefixtures("agent_env")
@pytest.mark.parametrize("block", _marked(FAILS), ids=str)
async def test_the_failed_report_shown_is_what_the_run_says(block: Block) -> None:
    assert block.output is not None
    result = await _run(block.text, _file_in(block.output, "✗"))
    assert result.outcome == "failed", _explain(result)
    shown = block.output.split("\n  failed checks\n", 1)[1].split("\n  findings\n", 1)[0]
    locations = re.findall(r"^    (\S+:\d+)  ", shown, re.M)
    assert locations == [check_location(result, check) for check in result.failures]
    for check in result.failures:
        assert _squash(visible(check.expected)) in _squash(shown), check_text(result, check)
    for finding in result.findings:
        assert f"{finding.code}  {finding.severity}" in block.output


@pytest.mark.usefixtures("agent_env")
@pytest.mark.parametrize("block", _marked(ERRORS), ids=str)
async def test_the_error_shown_is_what_the_run_says(block: Block) -> None:
    assert block.output is not None
    result = await _run(block.text, _file_in(block.output, "!"))
    assert result.outcome == "error", _explain(result)
    assert result.error is not None
    assert _squash(result.error) in _squash(block.output)


@pytest.mark.parametrize("block", _marked(DOES_NOT_LOAD), ids=str)
def test_the_loader_lines_shown_are_exact(block: Block) -> None:
    assert block.output is not None
    shown = block.output.splitlines()
    file = shown[0].split(":", 1)[0]
    with pytest.raises(ScenarioFileError) as caught:
        load_text(block.text, file)
    problems = [str(problem) for problem in caught.value.problems]
    summary = f"agentphone-emulator: {len(problems)} problems in scenario files; nothing was run"
    assert shown == [*problems, summary]


# -- the page names everything a scenario can say ---------------------------------------------------------


def _code_spans() -> set[str]:
    """Every `code span` of the page outside fenced blocks, and the keys written inside them."""
    prose = re.sub(r"^```.*?^```", "", DOC, flags=re.M | re.S)
    spans = set(re.findall(r"`([^`\n]+)`", prose))
    keys = {key for span in spans for key in re.findall(r"([A-Za-z_][\w-]*):", span)}
    return spans | keys


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]


def _literals_in(annotation: Any) -> list[str]:
    if typing.get_origin(annotation) is typing.Literal:
        return [value for value in typing.get_args(annotation) if isinstance(value, str)]
    return [value for arg in typing.get_args(annotation) for value in _literals_in(arg)]


def _reachable_models() -> list[type[BaseModel]]:
    """Scenario and every model a scenario can nest, through the strict ones (an agent's fields and
    the account settings are leaves: their own nested models are the API's, documented there)."""
    seen: list[type[BaseModel]] = []
    pending: list[type[BaseModel]] = [Scenario]
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.append(model)
        if issubclass(model, Strict):
            for info in model.model_fields.values():
                pending.extend(_models_in(info.annotation))
    return seen


def test_the_walk_reaches_the_whole_language() -> None:
    reached = set(_reachable_models())
    strict = {
        value
        for value in vars(models).values()
        if isinstance(value, type) and issubclass(value, Strict) and value is not Strict
    }
    # A base class (CallFlow) is reached through its subclasses.
    unreached = {model for model in strict - reached if not any(issubclass(r, model) for r in reached)}
    assert not unreached, f"models no scenario can reach: {unreached}"
    assert AccountSettings in reached and models.AgentSetup in reached


@pytest.mark.parametrize("model", _reachable_models(), ids=lambda model: model.__name__)
def test_every_key_is_documented(model: type[BaseModel]) -> None:
    documented = _code_spans()
    missing = [key for key in known_keys(model) if key not in documented]
    assert not missing, f"{model.__name__}: keys not named in docs/scenarios.md: {missing}"


def test_every_choice_is_documented() -> None:
    documented = _code_spans()
    choices = {
        value
        for model in _reachable_models()
        if issubclass(model, Strict)
        for info in model.model_fields.values()
        for value in _literals_in(info.annotation)
    }
    assert {"play_out", "ivr", "duplicate", "pending", "warning"} <= choices
    missing = sorted(choices - documented)
    assert not missing, f"choices not named in docs/scenarios.md: {missing}"


def test_every_run_flag_is_documented() -> None:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    firsts = {span.split()[0] for span in re.findall(r"`([^`\n]+)`", DOC) if span.split()}
    flags = [flag for action in parser._actions for flag in action.option_strings if flag != "-h"]
    flags = [flag for flag in flags if flag != "--help"]
    assert "--app" in flags and "--jobs" in flags
    missing = [flag for flag in flags if flag not in firsts]
    assert not missing, f"run flags not in docs/scenarios.md: {missing}"
