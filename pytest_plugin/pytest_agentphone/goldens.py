"""Golden conversations of collected scenarios, through syrupy's snapshot machinery.

A scenario item with ``expect: golden`` asserts its conversation with a syrupy ``SnapshotAssertion``
whose extension is :class:`GoldenExtension`: the file is the one ``agentphone-emulator run`` reads
and writes (``__goldens__/<file>.<scenario>.golden.yaml`` beside the scenario file), so the CLI and
pytest share goldens; ``pytest --snapshot-update`` writes it, and syrupy's summary counts it. The
comparison is the emulator's own (timing drift within the tolerance matches), and a failure reads as
the CLI's report: a word diff per changed turn.

syrupy is imported only here, and this module only when a scenario with ``expect: golden`` runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.data import SnapshotCollections
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode
from syrupy.location import PyTestLocation

from agentphone_emulator.scenario.golden_compare import compare_golden, record_golden
from agentphone_emulator.scenario.golden_models import GOLDEN_DIR, GoldenFile
from agentphone_emulator.scenario.golden_report import golden_text
from agentphone_emulator.scenario.goldens import (
    GoldenFileError,
    build_golden,
    golden_parts,
    golden_path,
    golden_yaml,
    parse_golden,
    shared_normalisers,
)

if TYPE_CHECKING:
    from agentphone_emulator.scenario.loader import LoadedScenario
    from agentphone_emulator.scenario.results import ScenarioResult

SUFFIX = "golden.yaml"


class ScenarioLocation(PyTestLocation):
    """A scenario item as syrupy's test location: its file is the scenario file, its name the
    golden's (``orders.order-status``), so the snapshot lands where the CLI keeps it."""

    def __attrs_post_init_def__(self) -> None:
        item: Any = self.item
        stem = golden_path(item.path, item.loaded.scenario.name).name.removesuffix("." + SUFFIX)
        object.__setattr__(self, "filepath", str(Path(item.path).absolute()))
        object.__setattr__(self, "modulename", Path(item.path).name)
        object.__setattr__(self, "methodname", stem)
        object.__setattr__(self, "nodename", stem)
        object.__setattr__(self, "testname", stem)


class GoldenExtension(SingleFileSnapshotExtension):
    """One golden file per scenario, readable YAML, compared with the timing tolerance."""

    file_extension = SUFFIX
    _write_mode = WriteMode.TEXT

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        return str(Path(test_location.filepath).parent / GOLDEN_DIR)

    @classmethod
    def discovery_dirname(cls, *, test_location: PyTestLocation) -> str:
        return cls.dirname(test_location=test_location)

    @classmethod
    def get_snapshot_name(cls, *, test_location: PyTestLocation, index: Any = 0) -> str:
        return test_location.testname

    @classmethod
    def matches_test_location(cls, *, test_location: PyTestLocation, snapshot_location: str) -> bool:
        return True  # the location is ours by construction (no "cannot relate" warning)

    def discover_snapshots(self, *, test_location: PyTestLocation, ignore_extensions: Any = None) -> Any:
        # Nothing is discovered, so nothing is ever "unused": under -k or a file's other scenarios
        # not selected, --snapshot-update must not delete the goldens of scenarios it did not run.
        return SnapshotCollections()

    def serialize(self, data: Any, **_: Any) -> str:
        golden, scenario_id = data
        return golden_yaml(golden, scenario_id)

    def matches(self, *, serialized_data: Any, snapshot_data: Any) -> bool:
        try:
            expected = parse_golden(str(snapshot_data), "golden")
            actual = parse_golden(str(serialized_data), "run")
        except GoldenFileError:
            return False
        return not compare_golden(expected, actual)


class GoldenUnavailable(Exception):
    """syrupy is not there (or switched off): one line saying what to do."""


def check_golden(item: pytest.Item, loaded: LoadedScenario, result: ScenarioResult) -> None:
    """Assert ``result``'s conversation against its golden through syrupy; record one check (with
    the changes) on ``result``, as ``run`` does."""
    parts = golden_parts(loaded.scenario)
    if not parts or result.outcome in ("error", "skipped"):
        return
    session = getattr(item.config, "_syrupy", None)
    if session is None:
        raise GoldenUnavailable(
            "agentphone: expect: golden needs syrupy's pytest plugin, which this run switched off "
            "(-p no:syrupy)"
        )
    location = ScenarioLocation(item)
    assertion = SnapshotAssertion(
        session=session,
        extension_class=GoldenExtension,
        test_location=location,
        update_snapshots=bool(item.config.option.update_snapshots),
    )
    path = Path(assertion.extension.get_location(test_location=location, index=0))
    result.golden_file = _shown(path, item.config)
    try:
        actual = build_golden(result, parts, shared_normalisers(path.parent))
    except GoldenFileError as exc:
        record_golden(result, loaded, None, str(exc))
        return
    matched = assertion == (actual, result.id)
    execution = assertion.executions[assertion.num_executions - 1]
    if execution.updated or execution.created:
        record_golden(result, loaded, [], updated=True)
    elif matched:
        record_golden(result, loaded, [], updated=None)
    elif execution.recalled_data is None:
        record_golden(result, loaded, None, "none yet: run pytest with --snapshot-update to write it")
    else:
        try:
            expected: GoldenFile = parse_golden(str(execution.recalled_data), str(path))
        except GoldenFileError as exc:
            record_golden(result, loaded, None, str(exc))
            return
        record_golden(result, loaded, compare_golden(expected, actual))


def _shown(path: Path, config: pytest.Config) -> str:
    try:
        return str(path.relative_to(config.invocation_params.dir))
    except ValueError:
        return str(path)


__all__ = ["GoldenExtension", "GoldenUnavailable", "ScenarioLocation", "check_golden", "golden_text"]
