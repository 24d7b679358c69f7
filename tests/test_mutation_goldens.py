"""Tests written for mutants of scenario/golden_compare.py that survived ``python bench/mutation.py
scenario.golden_compare`` (docs/mutation.md): every change a comparison reports, field by field
(where, expected, got, detail), timing at the tolerance's edge and measured from the last line both
runs have. The goldens are real ``GoldenFile`` values, as read from disk; the runs that write and
check them through an agent are tests/test_goldens.py's. Each test's comment names what it guards.
"""

from __future__ import annotations

from pathlib import Path

from agentphone_emulator.scenario.golden_compare import apply_goldens, compare_golden
from agentphone_emulator.scenario.golden_models import GoldenChunk, GoldenEntry, GoldenFile
from agentphone_emulator.scenario.goldens import golden_path, read_golden, write_golden
from agentphone_emulator.scenario.loader import LoadedScenario, load_text
from agentphone_emulator.scenario.results import Check, GoldenChange, ScenarioResult
from tests.scenario_support import LINE


def golden(*entries: GoldenEntry, tolerance: float = 250, findings: list[str] | None = None) -> GoldenFile:
    return GoldenFile(
        scenario="s",
        tolerance_ms=tolerance,
        conversations={"call": list(entries)},
        findings={"call": findings} if findings is not None else {},
    )


def agent(at: float, text: str, label: str = "turn 1", **fields: object) -> GoldenEntry:
    return GoldenEntry(at=at, who="agent", label=label, text=text, **fields)  # type: ignore[arg-type]


WHERE = "call: 0:05.0 agent turn 1"


def test_each_kind_of_change_names_where_what_was_expected_and_what_was_got() -> None:
    # Guards _compare_entry (the words, chunks, actions and findings branches, their fields),
    # _where (the clock, who and label), _chunks (interim marks, the separator) and visible().
    cases = [
        (
            agent(5, "Order shipped."),
            agent(5, "Order \x1blost."),
            ("words", "Order shipped.", "Order \\x1blost."),
        ),
        (
            agent(
                5,
                "Let me check. Shipped.",
                chunks=[GoldenChunk(text="Let me check.", interim=True), "Shipped."],
            ),
            agent(5, "Let me check. Shipped.", chunks=["Let me check.", GoldenChunk(text="Shipped.")]),
            ("chunks", "(interim) Let me check. | Shipped.", "Let me check. | Shipped."),
        ),
        (
            agent(5, "Bye.", chunks=["Bye."]),
            agent(5, "Bye."),
            ("chunks", "Bye.", "Bye."),
        ),
        (
            agent(5, "Bye.", actions=["hangup"]),
            agent(5, "Bye.", state="interrupted"),
            ("actions", "hangup, done", "interrupted"),
        ),
        (
            agent(5, "Hi", findings=["voice_empty_text (error)"]),
            agent(5, "Hi"),
            ("findings", "voice_empty_text (error)", "none"),
        ),
        (
            agent(5, "Hi"),
            agent(5, "Hi", findings=["a (error)", "b (warning)"]),
            ("findings", "none", "a (error), b (warning)"),
        ),
    ]
    for old, new, (kind, expected, got) in cases:
        changes = compare_golden(golden(old), golden(new))
        if kind == "chunks" and expected == got:
            assert changes == [], (old, new)  # the same chunks written two ways are no change
            continue
        assert changes == [GoldenChange("call", kind, WHERE, expected, got)], (old, new)  # type: ignore[arg-type]


def test_a_line_added_or_removed_says_where_and_its_words_only() -> None:
    # Guards _compare_entries' added/removed changes (where, the empty side) and _where without a label.
    with_caller = golden(agent(1, "Hi"), GoldenEntry(at=3, who="caller", text="Um\tyes"))
    assert compare_golden(with_caller, golden(agent(1, "Hi"))) == [
        GoldenChange("call", "removed", "call: 0:03.0 caller", "Um\\tyes", "")
    ]
    with_turn_2 = golden(agent(1, "Hi"), agent(65.25, "Anything else?", label="turn 2"))
    assert compare_golden(golden(agent(1, "Hi")), with_turn_2) == [
        GoldenChange("call", "added", "call: 1:05.2 agent turn 2", "", "Anything else?")
    ]


def test_timing_drift_exactly_at_the_tolerance_is_no_change_and_just_past_it_is() -> None:
    # Guards _drifted (> not >=, None against a value, None against None) and _compare_entry's
    # timing detail: each moved measure, its unit, the tolerance.
    def timed(first: float | None, last: float | None, at: float = 5.0) -> GoldenFile:
        return golden(agent(at, "Hi", first_ms=first, last_ms=last), tolerance=250)

    assert compare_golden(timed(100, 900), timed(350, 650)) == []
    assert compare_golden(timed(None, None), timed(None, None)) == []
    assert compare_golden(timed(100, 900), timed(351, None)) == [
        GoldenChange(
            "call",
            "timing",
            WHERE,
            detail="first chunk 100 ms -> 351 ms; last chunk 900 ms -> none (tolerance 250 ms)",
        )
    ]
    assert compare_golden(timed(100, 900, at=5.0), timed(100, 900, at=5.25)) == []
    [moved] = compare_golden(timed(100, 900, at=5.0), timed(100, 900, at=5.3))
    assert moved.detail == "after the line before 5 s -> 5.3 s (tolerance 250 ms)"


def test_a_slow_line_is_the_only_timing_change_the_lines_after_it_moved_with_it() -> None:
    # Guards _compare_entries' "last" (the moments of the last line both runs have, both sides).
    before = golden(agent(1, "A", "turn 1"), agent(3, "B", "turn 2"), agent(5, "C", "turn 3"))
    after = golden(agent(1, "A", "turn 1"), agent(4, "B", "turn 2"), agent(6, "C", "turn 3"))
    [change] = compare_golden(before, after)
    assert (change.kind, change.where) == ("timing", "call: 0:04.0 agent turn 2")
    assert change.detail == "after the line before 2 s -> 3 s (tolerance 250 ms)"


def test_the_calls_findings_changed_say_which_are_new_and_which_fixed() -> None:
    # Guards compare_golden's conversation findings: "none" on an empty side, the joined lists.
    assert compare_golden(
        golden(agent(5, "Hi")), golden(agent(5, "Hi"), findings=["x (error)", "y (warning)"])
    ) == [
        GoldenChange(
            "call",
            "findings",
            "call findings",
            "none",
            "x (error), y (warning)",
            "new: x (error), y (warning)",
        )
    ]
    assert compare_golden(golden(agent(5, "Hi"), findings=["x (error)"]), golden(agent(5, "Hi"))) == [
        GoldenChange("call", "findings", "call findings", "x (error)", "none", "fixed: x (error)")
    ]
    assert (
        compare_golden(
            golden(agent(5, "Hi"), findings=["x (error)"]), golden(agent(5, "Hi"), findings=["x (error)"])
        )
        == []
    )


def test_conversations_are_each_compared_after_one_the_golden_lacks() -> None:
    # Guards compare_golden 13 (``break`` at a conversation with no golden yet) and 14 (each
    # conversation's changes replacing the ones before).
    before = GoldenFile(scenario="s", conversations={"call": [agent(5, "Hi")], "steps[2]": [agent(5, "A")]})
    after = GoldenFile(
        scenario="s",
        conversations={"call": [agent(5, "Hey")], "steps[1]": [agent(5, "New")], "steps[2]": [agent(5, "B")]},
    )
    assert [(c.conversation, c.kind) for c in compare_golden(before, after)] == [
        ("call", "words"),
        ("steps[1]", "missing"),
        ("steps[2]", "words"),
    ]
    assert compare_golden(before, after)[1] == GoldenChange("steps[1]", "missing", "steps[1]")


def test_a_moved_line_shows_its_gaps_to_the_millisecond() -> None:
    # Guards _compare_entry 98-108 (the gaps rounded to 3 places, each side its own).
    [moved] = compare_golden(golden(agent(4.5004, "Hi")), golden(agent(4.8006, "Hi")))
    assert moved.detail == "after the line before 4.5 s -> 4.801 s (tolerance 250 ms)"


# -- a run's golden: when it is checked, and when an update rewrites it -----------------------------


def loaded_with_golden(tmp_path: Path, golden_word: bool = True, extra: str = "") -> LoadedScenario:
    tmp_path.mkdir(exist_ok=True)
    file = tmp_path / "orders.yaml"
    expect = "expect: golden\n" if golden_word else ""
    file.write_text(
        f"name: order\n{LINE}call: {{to: main}}\n{expect}{extra}turns:\n  - say: Where is my order?\n"
    )
    [loaded] = load_text(file.read_text(), str(file))
    return loaded


def ran(loaded: LoadedScenario, outcome: str = "passed") -> ScenarioResult:
    return ScenarioResult(loaded.scenario.name, loaded.file, 1, outcome)  # type: ignore[arg-type]


def test_no_golden_is_checked_when_off_not_asked_for_or_the_run_errored_or_was_skipped(
    tmp_path: Path,
) -> None:
    # Guards apply_goldens 3/4/6/7/10-13 (which runs are compared with a golden).
    with_golden, without = loaded_with_golden(tmp_path), loaded_with_golden(tmp_path / "x", golden_word=False)
    for loaded, outcome, mode in (
        (with_golden, "error", "check"),
        (with_golden, "skipped", "check"),
        (with_golden, "passed", "off"),
        (without, "passed", "check"),
    ):
        result = ran(loaded, outcome)
        apply_goldens(result, loaded, mode)  # type: ignore[arg-type]
        assert (result.checks, result.golden_file, result.outcome) == ([], None, outcome), (outcome, mode)
    checked = ran(with_golden)
    apply_goldens(checked, with_golden, "check")  # none yet: that is a failed check
    assert (checked.outcome, [c.passed for c in checked.checks]) == ("failed", [False])


def test_an_update_rewrites_a_broken_golden_and_one_whose_tolerance_or_conversations_changed(
    tmp_path: Path,
) -> None:
    # Guards apply_goldens 40/41 (a broken golden refused under update) and _stale 3/4 (a golden
    # whose tolerance alone changed, or with a conversation the scenario no longer has, kept).
    loaded = loaded_with_golden(tmp_path)
    path = golden_path(loaded.file, loaded.scenario.name)
    path.parent.mkdir()

    def update() -> str:
        result = ran(loaded)
        apply_goldens(result, loaded, "update")
        [check] = result.checks
        assert check.passed and result.outcome == "passed"
        return check.what.rpartition(" ")[2]

    path.write_text("scenario: [broken")
    assert update() == "(updated)"
    assert update() == "(unchanged)"
    current = read_golden(path)
    assert current is not None
    for stale in (
        current.model_copy(update={"tolerance_ms": 100.0}),
        current.model_copy(update={"conversations": {**current.conversations, "steps[1]": []}}),
    ):
        write_golden(path, stale, "orders.yaml::order")
        assert update() == "(updated)"
        assert read_golden(path) == current


def checked(loaded: LoadedScenario, mode: str = "check") -> Check:
    result = ran(loaded)
    apply_goldens(result, loaded, mode)  # type: ignore[arg-type]
    [check] = result.checks
    assert result.outcome == ("passed" if check.passed else "failed")
    return check


def test_the_golden_check_names_its_place_its_file_and_how_many_changes_of_each_kind(tmp_path: Path) -> None:
    # Guards record_golden 1-86 (the check's path, line, what, expected and got: none yet, no
    # change, 1 change, n changes counted by kind), _check_path 2-7, apply_goldens 88 (the file
    # names its scenario) and 116 (how to write a golden).
    loaded = loaded_with_golden(tmp_path)
    path = golden_path(loaded.file, loaded.scenario.name)
    at, line, what = ("expect", "golden"), loaded.line_of(("expect", "golden")), f"golden conversation {path}"
    assert line is not None
    none_yet = "none yet: run with --update-goldens to write it"
    assert checked(loaded) == Check(at, line, what, False, "a golden file", none_yet)
    assert checked(loaded, "update") == Check(at, line, f"{what} (updated)", True)
    assert "orders.yaml::order" in path.read_text()
    assert checked(loaded) == Check(at, line, what, True, "no change", "no change")
    current = read_golden(path)
    assert current is not None
    key = next(iter(current.conversations))
    for entries, findings, got in (
        ([agent(1, "Hi")], [], "1 change: 1 removed"),
        (
            [agent(1, "Hi"), agent(2, "Bye", label="turn 2")],
            ["x (error)"],
            "3 changes: 2 removed, 1 findings",
        ),
    ):
        changed = current.model_copy(update={"conversations": {key: entries}, "findings": {key: findings}})
        write_golden(path, changed, "orders.yaml::order")
        assert checked(loaded) == Check(at, line, what, False, "no change", got)

    call_level = loaded_with_golden(tmp_path / "call", golden_word=False, extra="call_expect: golden\n")
    check = checked(call_level, "update")
    assert (check.path, check.line) == (("call_expect",), call_level.line_of(("call_expect",)))


def test_an_update_takes_over_a_golden_another_scenario_wrote_and_says_when_it_cannot_write(
    tmp_path: Path,
) -> None:
    # Guards apply_goldens 56/57 (update refused for another scenario's golden) and 92-99 (the
    # check when the golden cannot be written).
    loaded = loaded_with_golden(tmp_path)
    path = golden_path(loaded.file, loaded.scenario.name)
    write_golden(path, GoldenFile(scenario="another", conversations={}), "orders.yaml::another")
    assert checked(loaded, "update").passed
    current = read_golden(path)
    assert current is not None and current.scenario == "order"
    blocked = loaded_with_golden(tmp_path / "blocked")
    golden_path(blocked.file, blocked.scenario.name).mkdir(parents=True)  # a folder where the file goes
    check = checked(blocked, "update")
    assert (check.passed, check.expected) == (False, "a golden file")
    assert check.got.startswith(f"cannot write {golden_path(blocked.file, blocked.scenario.name)}: ")
