"""Mutation testing of the modules that decide a verdict or keep state, with mutmut 3.

    python bench/mutation.py MODULE [MODULE...]   # e.g. engine.replies scenario.checker
    python bench/mutation.py --changed            # the modules changed since the merge base with main
    python bench/mutation.py --all                # every module below (the nightly-size run)
    python bench/mutation.py --list               # the modules and the tests each runs

A MODULE is a key of ``TARGETS`` (``engine.replies``), its dotted name
(``agentphone_emulator.engine.replies``) or its file (``emulator/agentphone_emulator/engine/replies.py``).
Each runs on its own: a fresh copy, ONLY its mapped test modules (no xdist), then one table row:
mutants, killed, survived, timeout, score. ``--survivors`` prints each survivor's diff.

Why a staging directory (``.mutation/<module>/``, git-ignored): mutmut names a mutant after its file's
path (``emulator/agentphone_emulator/x.py`` -> ``emulator.agentphone_emulator.x``) and matches that
name against the module the tests imported (``agentphone_emulator.x``); only ``./`` and ``src/``
layouts line up. The staging directory holds the two packages (and the tests, docs, examples and
scenarios the tests read) at its top through symlinks, so the names agree. mutmut copies it into
``.mutation/<module>/mutants/``, runs the tests there and keeps its results there
(``cd .mutation/<module> && mutmut show NAME`` / ``mutmut browse`` afterwards).

Score = killed (timeouts included: a mutant that hangs the tests is caught) / non-equivalent
mutants. A mutant that no mapped test reaches ("no tests") is not killed: it counts against the
score like a survivor. A mutant judged equivalent (it changes nothing observable) is listed in
``EQUIVALENT`` with its reason (and in docs/mutation.md); it counts in no column but
"equivalent". Each mark names the change it judged: if mutmut's numbering moves (the function
was edited) and that id now names another change, the mark no longer applies, the mutant counts
as a survivor and the run says the mark is stale.
``--equivalents`` prints the marks as docs/mutation.md lists them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"
PACKAGES = {"agentphone_emulator": ROOT / "emulator", "pytest_agentphone": ROOT / "pytest_plugin"}
# What the mapped tests read besides the packages and tests/ (docs and examples by path from the root).
ALSO_COPY = ("examples", "scenarios", "docs", "README.md", "mkdocs.yml")
# The per-mutant pytest arguments: no xdist, no cache, quiet, and the plugin below. Hypothesis runs
# its normal profile.
PLUGIN = "mutation_fresh_caches"
PYTEST_ARGS = ("-p", "no:xdist", "-p", "no:cacheprovider", "-p", "no:randomly", "-p", PLUGIN, "-q")
# mutmut runs each mutant's tests in a fork of the process that first ran them all (to see which
# test calls what): a functools cache filled then (store/persistence.py's codec, built from the
# original code) would hand every mutant of the functions behind it the original's results, and
# those mutants would all "survive". This plugin, staged beside the mutants, empties the packages'
# caches as each pytest run starts.
PLUGIN_SOURCE = '''"""Written by bench/mutation.py: empties our packages' functools caches as pytest starts."""
import sys


def pytest_sessionstart(session):
    for name, module in list(sys.modules.items()):
        if name.partition(".")[0] in ("agentphone_emulator", "pytest_agentphone") and module is not None:
            for value in list(vars(module).values()):
                if callable(getattr(value, "cache_clear", None)) and hasattr(value, "cache_info"):
                    value.cache_clear()
'''


@dataclass(frozen=True)
class Target:
    """A module to mutate and the smallest set of test modules that covers it."""

    path: str  # relative to the repository root
    tests: tuple[str, ...]  # test files, or pytest node ids (``tests/test_x.py::test_y``)
    # Only these functions (mutmut's names: ``x_func`` for a function, ``xǁClassǁmethod`` for a
    # method, ``*`` allowed); empty: the whole module.
    functions: tuple[str, ...] = ()

    @property
    def module(self) -> str:
        relative = Path(self.path).relative_to(Path(self.path).parts[0])
        return ".".join(relative.with_suffix("").parts)

    @property
    def staged(self) -> str:
        """The file's path inside the staging directory."""
        return str(Path(self.path).relative_to(Path(self.path).parts[0]))


TARGETS: dict[str, Target] = {
    # The scenario runner's own tests (tests/test_scenario_runner.py) are left out: they run their
    # scenarios in one module-scoped batch, which mutmut credits to the first test alone (so they
    # kill little per mutant) and which made a module's run ~4x longer.
    "scenario.checker": Target(
        "emulator/agentphone_emulator/scenario/checker.py",
        ("tests/test_scenario_texts.py", "tests/test_verdict_guards.py", "tests/test_mutation_survivors.py"),
    ),
    "scenario.matching": Target(
        "emulator/agentphone_emulator/scenario/matching.py",
        # test_verdict_guards: a pattern that cannot be decided in time (PatternTimeout).
        ("tests/test_scenario_texts.py", "tests/test_verdict_guards.py", "tests/test_mutation_survivors.py"),
    ),
    "scenario.results": Target(
        "emulator/agentphone_emulator/scenario/results.py",
        ("tests/test_scenario_report.py", "tests/test_verdict_guards.py", "tests/test_mutation_survivors.py"),
    ),
    "engine.replies": Target(
        "emulator/agentphone_emulator/engine/replies.py",
        ("tests/test_replies.py", "tests/test_mutation_survivors.py"),
    ),
    "engine.reply_fields": Target(
        "emulator/agentphone_emulator/engine/reply_fields.py",
        ("tests/test_replies.py", "tests/test_mutation_survivors.py"),
    ),
    "engine.signing": Target(
        "emulator/agentphone_emulator/engine/signing.py",
        ("tests/test_signing.py", "tests/test_mutation_survivors.py"),
    ),
    "engine.delivery": Target(
        "emulator/agentphone_emulator/engine/delivery.py",
        ("tests/test_delivery.py", "tests/test_signing.py", "tests/test_mutation_delivery.py"),
    ),
    "plugin.findings": Target(
        "pytest_plugin/pytest_agentphone/findings.py",
        (
            "tests/test_plugin_fixtures.py",
            "tests/test_mutation_survivors.py",
            # Its xdist workers import the mutated package outside mutmut's directory, where the
            # mutants cannot find mutmut's settings: the stats run fails. It tests fixtures, not
            # the findings policy.
            "--deselect=tests/test_plugin_fixtures.py::test_each_xdist_worker_has_an_emulator_of_its_own",
        ),
    ),
    # A scenario's verdict over its runs (runs:, min_pass_rate:, flaky).
    "scenario.repeats": Target(
        "emulator/agentphone_emulator/scenario/repeats.py",
        ("tests/test_scenario_repeats.py", "tests/test_mutation_repeats.py"),
    ),
    # A golden's changes and the timing tolerance decide pass or fail.
    "scenario.golden_compare": Target(
        "emulator/agentphone_emulator/scenario/golden_compare.py",
        ("tests/test_goldens.py", "tests/test_mutation_goldens.py"),
    ),
    # An invariant broken or not. Not all of tests/test_explore.py: its searches (an explore of up
    # to 100 calls, then shrinking) reach every invariant on every call and take 1-4 s a test, which
    # made a run of this module far longer than its single-call tests, which pin each invariant.
    "explore.invariants": Target(
        "emulator/agentphone_emulator/explore/invariants.py",
        (
            "tests/test_explore.py::test_each_invariant_breaks_and_its_scenario_fails_where_it_broke",
            "tests/test_explore.py::test_a_python_predicate_is_an_invariant_and_its_scenario_says_run_cannot_check_it",
            "tests/test_explore.py::test_each_broken_agent_is_found_and_shrunk_to_a_scenario_that_fails_under_run",
            "tests/test_mutation_invariants.py",
        ),
    ),
    # The save path, since state-server split it: the file's format (persistence), the file on
    # disk (state_file: atomic writes, stale temporaries, the one-owner lock) and the Saver.
    # persistence: the save path only (the payload, its header, encoding). The codec builders,
    # shared with the load path, are left out: their round-trip tests (hypothesis) made a run of
    # them alone take over half an hour here. The load path's messages are tests/test_persistence.py's,
    # whose serve-in-a-subprocess tests mutmut cannot credit (it sees its own process's calls only).
    "store.persistence": Target(
        "emulator/agentphone_emulator/store/persistence.py",
        (
            "tests/test_persistence.py::test_every_type_the_state_holds_round_trips",
            "tests/test_persistence.py::test_a_whole_saved_state_round_trips",
            "tests/test_persistence.py::test_a_value_that_does_not_fit_says_where",
            "tests/test_persistence_atomic.py",
            "tests/test_mutation_store.py",
        ),
        functions=("x_dump_payload", "x_frame", "x_encode", "x__encode_*", "x__identity", "x__id_random"),
    ),
    "store.state_file": Target(
        "emulator/agentphone_emulator/store/state_file.py",
        ("tests/test_persistence_atomic.py", "tests/test_mutation_store.py"),
    ),
    "store.saver": Target(
        "emulator/agentphone_emulator/store/saver.py",
        ("tests/test_persistence_atomic.py", "tests/test_saver.py", "tests/test_mutation_store.py"),
        # All of the Saver but _child_save, which runs in a forked child only: mutmut credits a
        # test with the calls made in its own process, so none would be run against its mutants.
        functions=tuple(
            f"xǁSaverǁ{method}"
            for method in (
                "__init__",
                "_mark",
                "_unchanged",
                "save_blocking",
                "save",
                "before_final_save",
                "abandon",
                "_encode",
                "_wrote",
                "_save_in_child",
            )
        ),
    ),
}


@dataclass(frozen=True)
class Equivalent:
    """A mutant judged equivalent: ``change`` is a piece of its diff's changed lines (as ``mutmut
    show`` prints them, from the ``+`` or ``-``), so the mark applies to that change only."""

    change: str
    reason: str


def _eq(change: str, reason: str) -> Equivalent:
    return Equivalent(change, reason)


# Keys are mutmut's names (``mutmut show NAME``). Judged by reading the code: what the mutant
# changes is unobservable to any caller (not merely untested). docs/mutation.md lists them.
_D = "agentphone_emulator.engine.delivery.xǁDispatcherǁ"
_FALLBACK = (
    "the 'an exception' fallback is unreachable: an app-exception failure always carries a formatted "
    "traceback (AppFailure's, or the app_error the status branch requires to be truthy)"
)
_GENERATION = "the generation is only compared for equality with its value when a retry was scheduled: any change will do"
_DRESS = (
    "also dresses a signed delivery with no headers of the person's: dress() then keeps the "
    "signature and sets nothing, so the same headers are sent"
)
_S = "agentphone_emulator.store.state_file."
_L = _S + "xǁStateLockǁacquire__mutmut_"
_FIRST = "the text before the first dash is the same whatever the split's limit or direction past it"
_V = "agentphone_emulator.store.saver.xǁSaverǁ"
_UNREAD = "the start value is never read as such"
_SAME = 'save() compares the outcome with "abandoned", "no child" and "wrote" only: any other word is "same"'
_DIGEST = "frame() computes the same sha256 of the payload when it is not given one: the same bytes"
_WARNING = (
    "the filter is scoped to the os.fork() call alone, whose one warning is 3.12's DeprecationWarning "
    "about forking a threaded process: ignoring every category there ignores the same"
)
_P = "agentphone_emulator.store.persistence.x_"
_CAST = "typing.cast() returns its value whatever the type it names (the type is for mypy only)"
_C = "agentphone_emulator.scenario.checker.xǁCheckerǁfail__mutmut_"
_DEFAULTS = "every caller of Checker.fail passes both expected and got: the defaults are never used"
_RANK = (
    "an unknown severity ranks as an error: 2 or 3 are both at or above every floor (error, the "
    "highest, is 2), so the same findings count"
)
_G = "agentphone_emulator.scenario.golden_compare.x_"
_FALSY = "only its truth is read, and None is false like False"
_I = "agentphone_emulator.explore.invariants.x_"
_KNOWN = (
    "the engine writes a finding's severity as error, warning or info only, SEVERITY_RANK's keys: "
    "the default is never used"
)
_WINDOW = (
    "the window starts at the exchange that matched, which has a reply (conversation.replies): the "
    "joined replies are never empty, so the 'no reply' fallback is unreachable"
)
_R = "agentphone_emulator.engine.replies.x"
_RR = "agentphone_emulator.engine.replies.xǁReplyReaderǁ"
_CODEC = "codec names are case-insensitive"
_UNREADABLE = (
    "unreachable: each ValueError json.loads raises here has a one-line message (ours names the "
    "constant; Python's integer-digits limit says how many digits), so splitlines() is never empty"
)
_CR = (
    "\\r is JSON whitespace, which json.loads skips at either end: with it kept or removed, a line "
    "parses to the same value or fails either way"
)
_SEMICOLON = "the text before the first ';' is the same whatever the split's limit"
_NO_ROOM = (
    "differs only with no room left (4096 bytes kept; it is called with non-empty bytes only): "
    "data[:0] adds nothing and the problem is rewritten with the same bytes"
)
_TOTAL = "once the reply is too large feed returns before reading _total, and nothing else reads it"
_EDGE = (
    "markup at the very start of the text is cut to '' or to a leading space, which the final "
    "whitespace collapse strips; no pattern starts with whitespace, so no later pass reads it"
)
_RF = "agentphone_emulator.engine.reply_fields.x_"
_NULL = "unreachable: every caller returns or skips first when the field is null (absent)"
_TOO_LONG = (
    "unreachable: a number json.loads parsed is within Python's integer-digits limit, the one "
    "json.dumps would hit, and a float too large parses as inf, which dumps as Infinity"
)
_SIXTY = "60 is quote()'s default limit"
_BEST = "only close[0], the best match, is used: it is the same whatever n"
_HANGUP_FLAG = '_flag reads its ndjson argument for "interim" only'


EQUIVALENT: dict[str, Equivalent] = {
    "pytest_agentphone.findings.x_assert_no_findings__mutmut_17": _eq(
        "SEVERITY_RANK.get(f.severity, 3)", _RANK
    ),
    "pytest_agentphone.findings.x_unexpected__mutmut_9": _eq("SEVERITY_RANK.get(f.severity, 3)", _RANK),
    f"{_C}1": _eq('expected: str = "XXXX"', _DEFAULTS),
    f"{_C}2": _eq('got: str = "XXXX"', _DEFAULTS),
    "agentphone_emulator.scenario.checker.xǁCheckerǁrecord__mutmut_1": _eq(
        'passed: bool, expected: str = "XXXX"', "every caller of Checker.record passes expected and got"
    ),
    "agentphone_emulator.scenario.checker.xǁCheckerǁrecord__mutmut_2": _eq(
        'expected: str = "", got: str = "XXXX"', "every caller of Checker.record passes expected and got"
    ),
    "agentphone_emulator.scenario.matching.x_text_matches__mutmut_34": _eq(
        "else 1",
        "flag 1 is regex.TEMPLATE, which the regex module accepts for compatibility with re and which changes no match",
    ),
    f"{_P}_encode_bytes__mutmut_4": _eq('decode("ASCII")', "codec names are case-insensitive"),
    f"{_P}dump_payload__mutmut_18": _eq("typing.cast(None, rng.getstate())", _CAST),
    f"{_P}dump_payload__mutmut_32": _eq(
        "ensure_ascii=None", "json only reads ensure_ascii's truth, and None is false like False"
    ),
    f"{_P}dump_payload__mutmut_22": _eq('"XXtuple[int, tuple[int, ...], float | None]XX"', _CAST),
    f"{_P}dump_payload__mutmut_23": _eq('"tuple[int, tuple[int, ...], float | none]"', _CAST),
    f"{_P}dump_payload__mutmut_24": _eq('"TUPLE[INT, TUPLE[INT, ...], FLOAT | NONE]"', _CAST),
    f"{_V}__init____mutmut_5": _eq("lambda: None", "only its truth is read, and None is false like False"),
    f"{_V}__init____mutmut_21": _eq(
        'self._saved_mark: int | None = ""', _UNREAD + ' (a change count, an int, never equals "")'
    ),
    f"{_V}__init____mutmut_22": _eq(
        'self._last_digest: str | None = ""', _UNREAD + ' (a sha256 hex digest is never "")'
    ),
    f"{_V}__init____mutmut_25": _eq(
        'self._child_mark: int | None = ""', _UNREAD + " (save() sets it before any child exists)"
    ),
    f"{_V}__init____mutmut_26": _eq(
        "self._abandoned = None", _UNREAD + " (set to False as each child is forked)"
    ),
    f"{_V}__init____mutmut_27": _eq(
        "self._abandoned = True", _UNREAD + " (set to False as each child is forked)"
    ),
    f"{_V}_save_in_child__mutmut_71": _eq('return "XXsameXX"', _SAME),
    f"{_V}_save_in_child__mutmut_72": _eq('return "SAME"', _SAME),
    f"{_V}save__mutmut_37": _eq('else "XXsameXX"', _SAME),
    f"{_V}save__mutmut_38": _eq('else "SAME"', _SAME),
    f"{_V}_encode__mutmut_15": _eq("frame(payload, None)", _DIGEST),
    f"{_V}_encode__mutmut_17": _eq("frame(payload, )", _DIGEST),
    f"{_V}_save_in_child__mutmut_9": _eq('warnings.simplefilter("ignore", )', _WARNING),
    f"{_S}x_remove_stale_temps__mutmut_12": _eq('split("-", )[0]', _FIRST),
    f"{_S}x_remove_stale_temps__mutmut_15": _eq('split("-", 2)[0]', _FIRST),
    f"{_L}31": _eq(
        "os.pread(fd, 33, 0)",
        "the owner truncates the lock file and writes its pid and a newline (8 bytes at most): 32 or 33 bytes read the same",
    ),
    f"{_L}34": _eq('decode("ASCII", "replace")', "codec names are case-insensitive"),
    f"{_L}53": _eq("same = None", "only its truth is read, and None is false like False"),
    f"{_L}61": _eq(
        "os.ftruncate(fd, 1)",
        "the pid and newline written at offset 0 next are at least 2 bytes: the file ends the same",
    ),
    f"{_D}__init____mutmut_8": _eq(
        "self._generation = 1", _GENERATION + " (the start value is never read otherwise)"
    ),
    f"{_D}reset__mutmut_2": _eq("self._generation -= 1", _GENERATION),
    f"{_D}reset__mutmut_3": _eq("self._generation += 2", _GENERATION),
    f"{_D}_record_failure__mutmut_11": _eq('(outcome.app_error or "XXXX")', _FALLBACK),
    f"{_D}_record_failure__mutmut_14": _eq('["XXan exceptionXX"]', _FALLBACK),
    f"{_D}_record_failure__mutmut_15": _eq('["AN EXCEPTION"]', _FALLBACK),
    f"{_D}_schedule_at__mutmut_3": _eq(
        "self._retries.pop(None, None)",
        "leaves the fired timer in _retries; its only readers (retry_now, reset) cancel it, a no-op on a "
        "fired timer, and the next retry of that delivery replaces it",
    ),
    f"{_D}_schedule_at__mutmut_5": _eq(
        "self._retries.pop(delivery_id, )",
        "the entry is always there when the timer fires: whoever removes it (retry_now, reset) cancels "
        "the timer first, and both clocks skip a cancelled timer",
    ),
    f"{_D}_schedule_at__mutmut_13": _eq(
        'current is None and current.status != "pending"',
        "a retry's timer only fires for a pending delivery: a delivery leaves pending only in an "
        "attempt or an abandon, both reached through retry_now, which cancels the timer first",
    ),
    f"{_D}_schedule_at__mutmut_14": _eq(
        "owner is None and current is None or",
        "differs only when the account exists and the delivery does not; deliveries are never removed "
        "from an account (a restore or reset replaces them, and bumps the generation first)",
    ),
    f"{_D}_attempt_once__mutmut_21": _eq('!= "XXsignedXX"', _DRESS),
    f"{_D}_attempt_once__mutmut_22": _eq('!= "SIGNED"', _DRESS),
    f"{_D}_attempt_once__mutmut_41": _eq(
        "self._attempting.pop(record.id, )",
        "the entry was set just before the send, and no other attempt of that delivery can remove it "
        "meanwhile: retry_now waits for an attempt in flight and starts its own only once none is",
    ),
    f"{_G}_compare_entries__mutmut_4": _eq("autojunk=None", _FALSY),
    f"{_G}_compare_entries__mutmut_16": _eq("strict=None", _FALSY),
    f"{_G}_compare_entries__mutmut_19": _eq("after[j1:j2], ))", "strict=False is zip's default"),
    f"{_G}apply_goldens__mutmut_102": _eq(
        "record_golden(result, loaded, None, updated=written)",
        "record_golden reads updated first: with it given, the changes passed are never read",
    ),
    f"{_G}record_golden__mutmut_1": _eq(
        'why_none: str = "XXXX"',
        "every caller that passes no changes passes why_none: the default is never used",
    ),
    f"{_G}_compare_entries__mutmut_50": _eq(
        "visible(old.text), ))",
        'a GoldenChange\'s got is "" by default: a removed line\'s got is "" either way',
    ),
    f"{_G}record_golden__mutmut_7": _eq(
        "(parts) or True",
        "both callers (apply_goldens, the pytest plugin's goldens) return before it when the scenario "
        "asks for no golden: parts is never empty here",
    ),
    f"{_G}_stale__mutmut_2": _eq(
        "return False",
        "reached with a golden read only: apply_goldens asks 'changes is None or ...' first, and "
        "changes is None exactly when there is no golden",
    ),
    f"{_I}_after_hangup__mutmut_39": _eq(
        "return",
        "a chunk that hangs up or transfers ends the call: no exchange after that one has a reply "
        "to look at, so stopping at the reply or at the call is the same",
    ),
    f"{_I}_error_findings__mutmut_2": _eq("get(finding.severity, None)", _KNOWN),
    f"{_I}_error_findings__mutmut_4": _eq("get(finding.severity, )", _KNOWN),
    f"{_I}_error_findings__mutmut_5": _eq("get(finding.severity, 3)", _KNOWN),
    f"{_I}_rule__mutmut_67": _eq('or "XXno replyXX"', _WINDOW),
    f"{_I}_rule__mutmut_68": _eq('or "NO REPLY"', _WINDOW),
    "agentphone_emulator.explore.invariants.x__slow__mutmut_3": _eq(
        "(exchange.reply) or True", "conversation.replies lists only the exchanges the agent replied to"
    ),
    f"{_D}_send__mutmut_36": _eq(
        "* 1001",
        "scales a real-time measure by 0.1%, inside its own noise; only an upper-bound wall-clock "
        "assertion could tell, and the house rules forbid those",
    ),
    f"{_R}__loads__mutmut_4": _eq('raw.decode("UTF-8")', _CODEC),
    f"{_R}__loads__mutmut_18": _eq('["XXunreadableXX"]', _UNREADABLE),
    f"{_R}__loads__mutmut_19": _eq('["UNREADABLE"]', _UNREADABLE),
    f"{_R}__loads__mutmut_21": _eq(
        "[0][:201]",
        "the messages clipped are at most 145 characters (the integer-digits limit's, for a 1 MiB "
        "body; ours are shorter): a clip at 200 or 201 cuts nothing",
    ),
    f"{_R}__ndjson_objects__mutmut_11": _eq('line.removeprefix(b"\\r")', _CR),
    f"{_R}__ndjson_objects__mutmut_12": _eq('removesuffix(b"XX\\rXX")', _CR),
    f"{_R}_parse_content_type__mutmut_7": _eq('split(";", )[0]', _SEMICOLON),
    f"{_R}_parse_content_type__mutmut_10": _eq('split(";", 2)[0]', _SEMICOLON),
    f"{_R}_read_object__mutmut_4": _eq(
        'ReplyReader("APPLICATION/JSON")', "parse_content_type lowercases the media type"
    ),
    f"{_RR}__init____mutmut_28": _eq("self._finished = None", _FALSY),
    f"{_RR}__init____mutmut_34": _eq("self._saw_content = None", _FALSY),
    f"{_RR}__init____mutmut_38": _eq(
        "if (is_ndjson) or True else None",
        "_whole is read in NDJSON mode only (_feed_ndjson, _finish_ndjson): a JSON reader's is never read",
    ),
    f"{_RR}__init____mutmut_40": _eq(
        'self._after_problem: int | None = ""',
        _UNREAD + " (_after_final sets it with _after, and reads it only once _after is set)",
    ),
    f"{_RR}_after_final__mutmut_11": _eq(
        'data.count(b"\\n", None, skipped)', "a start of None counts from 0"
    ),
    f"{_RR}_after_final__mutmut_50": _eq("room > 0 and data or self._after_problem", _NO_ROOM),
    f"{_RR}_after_final__mutmut_51": _eq("room > 0 or data and self._after_problem", _NO_ROOM),
    f"{_RR}_after_final__mutmut_52": _eq("room >= 0 and data", _NO_ROOM),
    f"{_RR}_feed_ndjson__mutmut_7": _eq(
        "while pos <= len(data)",
        "the extra pass at the end reads an empty slice: it buffers, counts and reports nothing (an "
        "empty rest after the final chunk returns at once)",
    ),
    f"{_RR}_finish_ndjson__mutmut_2": _eq(
        "self._final_line is None or self._buffer",
        "the buffer is empty once the reply is too large (_overflow clears it) or a final chunk came "
        "(later bytes go to _after_final): the last line is read in the same cases",
    ),
    f"{_RR}_finish_ndjson__mutmut_3": _eq(
        "not self._too_large or self._final_line is None and self._buffer",
        "the extra cases read an empty buffer (empty once a final chunk came): a blank line, no chunk "
        "or problem, and the line count it bumps is not read after finish",
    ),
    f"{_RR}_finish_ndjson__mutmut_44": _eq(
        "self._whole is not None or not self._too_large",
        "with no chunk, _whole is None exactly when the reply is too large (_overflow drops it; "
        "otherwise only a chunk does): the two tests agree",
    ),
    f"{_RR}_finish_ndjson__mutmut_67": _eq(
        'self._whole = ""', "nothing reads _whole after finish (later feeds are ignored)"
    ),
    f"{_RR}_overflow__mutmut_13": _eq(
        'self._whole = ""',
        "after an overflow _whole is read only behind a too-large check (feed returns first; "
        "_finish_ndjson asks not too_large)",
    ),
    f"{_RR}feed__mutmut_4": _eq("self._total = len(data)", _TOTAL),
    f"{_RR}feed__mutmut_5": _eq("self._total -= len(data)", _TOTAL),
    f"{_RR}feed__mutmut_11": _eq(
        "(len(data) <= room) and False",
        "data[:room] is data when it fits (room is never negative: the feed that passes the limit "
        "sets too_large, and later feeds return first)",
    ),
    f"{_RR}feed__mutmut_13": _eq("len(data) < room", "at len(data) == room, data[:room] is data"),
    f"{_RF}_describe__mutmut_2": _eq('return "XXnullXX"', _NULL),
    f"{_RF}_describe__mutmut_3": _eq('return "NULL"', _NULL),
    f"{_RF}_describe__mutmut_12": _eq("shown = None", _TOO_LONG),
    f"{_RF}_describe__mutmut_13": _eq('"XX(too long to show)XX"', _TOO_LONG),
    f"{_RF}_describe__mutmut_14": _eq('"(TOO LONG TO SHOW)"', _TOO_LONG),
    f"{_RF}_describe__mutmut_19": _eq("quote(value, )", _SIXTY),
    f"{_RF}non_object__mutmut_26": _eq("quote(value, )", _SIXTY),
    f"{_RF}_did_you_mean__mutmut_33": _eq("sorted(KNOWN_FIELDS), )", _BEST),
    f"{_RF}_did_you_mean__mutmut_37": _eq("n=2)", _BEST),
    f"{_RF}_did_you_mean__mutmut_35": _eq(
        "key.lower()[:101]",
        "a key of 26 characters or more never reaches difflib's 0.6 cutoff against fields of at most "
        "11, so a cut at 100 or 101 finds nothing either way",
    ),
    f"{_RF}clean_spoken_text__mutmut_6": _eq("if (start) or True else", _EDGE),
    f"{_RF}clean_spoken_text__mutmut_9": _eq('if start else "XX XX"', _EDGE),
    f"{_RF}clean_spoken_text__mutmut_22": _eq(
        "seen = None",
        "only drops the early stop: a pass that finds nothing leaves the text clean, so the passes "
        "after it and the leftover check find nothing either",
    ),
    f"{_RF}quote__mutmut_10": _eq("ensure_ascii=None", _FALSY),
    f"{_RF}quote__mutmut_39": _eq('encode("UTF-8", "backslashreplace")', _CODEC),
    f"{_RF}quote__mutmut_43": _eq('decode("UTF-8")', _CODEC),
    f"{_RF}read_chunk__mutmut_79": _eq('_flag(obj, "hangup", None)', _HANGUP_FLAG),
    f"{_RF}read_chunk__mutmut_85": _eq('_flag(obj, "hangup", line is None)', _HANGUP_FLAG),
}

# mutmut's exit codes, as its ``stats.status_by_exit_code`` reads them.
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 37: "killed"}
STATUS.update(dict.fromkeys((36, 24, -24, 152, 255), "timeout"))
STATUS.update(dict.fromkeys((-11, -9), "segfault"))


def test_file(test: str) -> str:
    """The file of a mapped test: a file, a pytest node id (``tests/test_x.py::test_y``) or a
    ``--deselect=NODE``."""
    return test.removeprefix("--deselect=").partition("::")[0]


def resolve(name: str) -> str:
    """The ``TARGETS`` key for a key, a dotted module name or a file path; SystemExit(2) if none."""
    for key, target in TARGETS.items():
        if name in (key, target.module, target.path, target.staged):
            return key
    raise SystemExit(f"mutation.py: no such module {name!r}; the modules are: {', '.join(TARGETS)}")


def changed_targets() -> list[str]:
    """The targets whose file (or mapped tests) changed since the merge base with main."""

    def git(*args: str) -> str | None:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else None

    base = git("merge-base", "HEAD", "origin/main") or git("merge-base", "HEAD", "main")
    if base is None:
        raise SystemExit("mutation.py: --changed needs a main or origin/main branch to compare with")
    changed = set((git("diff", "--name-only", base) or "").splitlines())
    changed |= set((git("diff", "--name-only", "HEAD") or "").splitlines())  # uncommitted too
    return [key for key, target in TARGETS.items() if target.path in changed]


def stage(key: str, target: Target, *, keep: bool, debug: bool = False) -> Path:
    """The staging directory for one target (see the module docstring), fresh unless ``keep``."""
    where = WORK / key
    if where.exists() and not keep:
        shutil.rmtree(where)
    where.mkdir(parents=True, exist_ok=True)
    for name, parent in PACKAGES.items():
        _link(where / name, parent / name)
    for name in ("tests", *ALSO_COPY):
        _link(where / name, ROOT / name)
    (where / f"{PLUGIN}.py").write_text(PLUGIN_SOURCE)
    tests = [test for test in target.tests if test.startswith("-") or (ROOT / test_file(test)).exists()]
    config = {
        "source_paths": list(PACKAGES),
        "only_mutate": [target.staged],
        "also_copy": [*ALSO_COPY, f"{PLUGIN}.py"],
        "pytest_add_cli_args_test_selection": tests,
        "pytest_add_cli_args": list(PYTEST_ARGS),
        # The box is shared and loaded: a mutant is a timeout only well past its tests' own time.
        "timeout_multiplier": 20.0,
        "timeout_constant": 5.0,
        "use_git_change_detection": False,
        "debug": debug,
    }
    # pytest's own settings (asyncio mode, warnings) as the repository has them, then mutmut's.
    pyproject = (ROOT / "pyproject.toml").read_text()
    lines = [f"{name} = {json.dumps(value, ensure_ascii=False)}" for name, value in config.items()]
    (where / "pyproject.toml").write_text(pyproject + "\n[tool.mutmut]\n" + "\n".join(lines) + "\n")
    return where


def _link(link: Path, to: Path) -> None:
    if not link.is_symlink():
        link.symlink_to(to)


def run(
    key: str, target: Target, *, jobs: int, keep: bool, debug: bool = False
) -> tuple[Counter[str], list[str], float]:
    where = stage(key, target, keep=keep, debug=debug)
    # Before the interpreter starts: a sys.path entry that does not exist yet is cached as "nothing
    # to import here", and the tests package under mutants/ would then never be found.
    (where / "mutants").mkdir(exist_ok=True)
    env = dict(os.environ)
    # A test that starts a Python subprocess gets the mutated packages too, not the editable install.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(where / "mutants"), env.get("PYTHONPATH")]))
    names = [f"{target.module}.{function}__mutmut_*" for function in target.functions]
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs), *names]
    print(f"== {key}: mutmut on {target.path} with {' '.join(target.tests)}", flush=True)
    start = time.monotonic()
    log = where / "mutmut.log"  # mutmut's own progress: a spinner per mutant, unreadable in a table
    with log.open("w") as out:
        done = subprocess.run(command, cwd=where, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    elapsed = time.monotonic() - start
    if done.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-25:]
        print("\n".join(tail), file=sys.stderr)
        print(f"mutation.py: mutmut exited {done.returncode} for {key} (all of it: {log})", file=sys.stderr)
    meta = where / "mutants" / (target.staged + ".meta")
    codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
    wanted = [name for name in codes if _selected(name, target)]
    statuses = {name: STATUS.get(codes[name], "not checked") for name in wanted}  # type: ignore[arg-type]
    for name, status in statuses.items():
        mark = EQUIVALENT.get(name)
        if mark is None or status not in ("survived", "no tests"):
            continue
        if mark.change in changed_lines(key, name):
            statuses[name] = "equivalent"
        else:
            print(
                f"mutation.py: stale equivalence mark: {name} no longer changes {mark.change!r}",
                file=sys.stderr,
            )
    counts = Counter(statuses.values())
    counts["mutants"] = len(wanted)
    survivors = sorted((name for name, status in statuses.items() if status == "survived"), key=_natural)
    return counts, survivors, elapsed


def changed_lines(key: str, name: str) -> str:
    """The ``+`` and ``-`` lines of the mutant's diff (headers left out), one per line."""
    diff = subprocess.run(
        [sys.executable, "-m", "mutmut", "show", name],
        cwd=WORK / key,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    lines = diff.splitlines()
    return "\n".join(
        line[1:] for line in lines if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    )


def _selected(name: str, target: Target) -> bool:
    if not target.functions:
        return True
    from fnmatch import fnmatch

    return any(fnmatch(name, f"{target.module}.{function}__mutmut_*") for function in target.functions)


def _natural(name: str) -> tuple[str, int]:
    stem, _, number = name.rpartition("_")
    return stem, int(number) if number.isdigit() else 0


def score(counts: Counter[str]) -> float | None:
    """Killed (timeouts included) / non-equivalent mutants; None if there are none."""
    judged = counts["mutants"] - counts["equivalent"] - counts["skipped"]
    return None if judged <= 0 else (counts["killed"] + counts["timeout"]) / judged


def show(key: str, names: list[str]) -> None:
    for name in names:
        diff = subprocess.run(
            [sys.executable, "-m", "mutmut", "show", name],
            cwd=WORK / key,
            capture_output=True,
            text=True,
            check=False,
        )
        print(diff.stdout.rstrip() or diff.stderr.rstrip())
        print()


def table(rows: list[tuple[str, Counter[str], float]]) -> str:
    head = ("module", "mutants", "killed", "survived", "no tests", "equivalent", "timeout", "score", "time")
    lines = [head]
    for key, counts, elapsed in rows:
        value = score(counts)
        judged = counts["mutants"] - counts["equivalent"] - counts["skipped"]
        killed = counts["killed"] + counts["timeout"]
        lines.append(
            (
                key,
                str(counts["mutants"]),
                str(counts["killed"]),
                str(counts["survived"]),
                str(counts["no tests"]),
                str(counts["equivalent"]),
                str(counts["timeout"]),
                "-" if value is None else f"{value:.1%} ({killed}/{judged})",
                f"{elapsed:.0f} s",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in lines]
    out.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(out)


def equivalents_table() -> str:
    """The marks as docs/mutation.md lists them: module, mutant, change, reason."""
    lines = ["| module | mutant | change | why it is equivalent |", "| --- | --- | --- | --- |"]
    for name, mark in EQUIVALENT.items():
        module, _, mutant = name.rpartition(".")
        key = next((k for k, t in TARGETS.items() if t.module == module), module)
        change = mark.change.replace("|", "\\|")
        lines.append(f"| {key} | `{mutant}` | `{change}` | {mark.reason} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="modules to mutate (see --list)")
    parser.add_argument("--changed", action="store_true", help="the modules changed since the merge base")
    parser.add_argument("--all", action="store_true", help="every module (the nightly-size run)")
    parser.add_argument("--list", action="store_true", help="print the modules and their tests")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    parser.add_argument("--keep", action="store_true", help="reuse the last run's mutants and results")
    parser.add_argument(
        "--tests", nargs="+", metavar="FILE", help="run these test files instead of the mapped ones"
    )
    parser.add_argument("--debug", action="store_true", help="mutmut's debug output (each pytest run)")
    parser.add_argument("--survivors", action="store_true", help="print each surviving mutant's diff")
    parser.add_argument("--equivalents", action="store_true", help="print the equivalence marks (markdown)")
    args = parser.parse_args(argv)
    if args.equivalents:
        print(equivalents_table())
        return 0
    if args.list:
        for key, target in TARGETS.items():
            only = f" (only {', '.join(target.functions)})" if target.functions else ""
            print(f"{key}: {target.path}{only}\n    {' '.join(target.tests)}")
        return 0
    keys = [resolve(name) for name in args.modules]
    if args.all:
        keys = list(TARGETS)
    elif args.changed:
        keys += changed_targets()
        if not keys:
            print("mutation.py: no mutated module changed since the merge base")
            return 0
    if not keys:
        parser.error("name a module, or give --changed or --all")
    rows = []
    for key in dict.fromkeys(keys):
        target = TARGETS[key]
        if args.tests:
            target = replace(target, tests=tuple(args.tests))
        counts, survivors, elapsed = run(key, target, jobs=args.jobs, keep=args.keep, debug=args.debug)
        rows.append((key, counts, elapsed))
        if survivors:
            print(f"survivors in {key}: {', '.join(name.rpartition('.')[2] for name in survivors)}")
            if args.survivors:
                show(key, survivors)
    print()
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
