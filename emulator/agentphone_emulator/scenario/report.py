"""The terminal report of a scenario run: pytest's summary meets a call log.

One header line per scenario; for the ones that failed or errored (every one with ``verbose``) the
transcript with simulated timestamps and reply latencies, the failed checks as aligned
``expected:``/``got:`` pairs, the findings with their offending bytes, and the error; then a summary
table and a totals line.

Everything the agent under test said is untrusted text: it is put on screen as :class:`rich.text.Text`
(never parsed as rich markup, so ``[bold]`` shows literally) and through :func:`visible`, so control
characters cannot drive the terminal and invalid bytes show as escapes. The plain-text builders here
(:func:`check_text`, :func:`finding_text`, :func:`transcript_text`) are shared with the JUnit file.
"""

from __future__ import annotations

import io
import math
import unicodedata
from collections.abc import Iterable
from typing import IO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from .golden_report import golden_renderables
from .results import Check, FindingLine, Outcome, RunResult, ScenarioResult, TranscriptLine, format_path

MARKS: dict[Outcome, tuple[str, str]] = {
    "passed": ("✓", "green"),
    "failed": ("✗", "red"),
    "error": ("!", "magenta"),
    "skipped": ("-", "yellow"),
}
SPEAKER_STYLES = {"caller": "cyan", "texter": "cyan", "agent": "green", "platform": "dim"}
SEVERITY_STYLES = {"error": "red", "warning": "yellow"}
OFFENDING_LIMIT = 200
INDENT = 2  # each level of the report's nesting
LOG_WIDTH = 100_000  # the width of a report off a terminal: wider than any line it has, so none wraps
MIN_WORDS = 40  # columns the transcript's words get before latency and codes move under them
LABEL_WIDTH = len("expected:")  # the column the ``expected:``, ``got:`` and ``bytes:`` labels share
INTERRUPTED = " …✂"
SILENCE = "(silence)"
# Categories escaped even in prose: controls, format characters (bidi overrides can reorder what the
# terminal shows, zero-width ones hide), lone surrogates (unencodable) and line/paragraph separators.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


# -- text helpers -------------------------------------------------------------------------------


def visible(text: str | None, *, keep_newlines: bool = False, limit: int | None = None) -> str:
    """``text`` with everything a terminal would hide or act on written as a Python-style escape.

    Control characters become ``\\n``, ``\\t``, ``\\x1b`` ...; U+FFFD (what invalid UTF-8 decodes to
    with ``errors="replace"``) becomes ``\\ufffd``; a surrogate from ``errors="surrogateescape"``
    becomes the ``\\xNN`` of the byte it stands for. Backslashes are not doubled: offending bytes
    are mostly JSON, whose own escapes would become unreadable. ``keep_newlines`` keeps ``\\n`` and
    ``\\t`` as they are (prose). ``limit`` clips the result to about that many characters. ``None``
    is the empty string: the report must not fail on a field the runner left unset.
    """
    if not text:
        return ""
    out: list[str] = []
    size = 0
    for index, char in enumerate(text):
        piece = _escape_char(char, keep_newlines)
        if limit is not None and size + len(piece) > limit:
            out.append(f"… (+{len(text) - index} chars)")
            break
        out.append(piece)
        size += len(piece)
    return "".join(out)


def _escape_char(char: str, keep_newlines: bool) -> str:
    if keep_newlines and char in "\n\t":
        return char
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the raw byte it replaced
        return f"\\x{code - 0xDC00:02x}"
    if code in (0xFFFD, 0xFFFE, 0xFFFF) or unicodedata.category(char) in _ESCAPED_CATEGORIES:
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    return char


def sim_clock(seconds: float | None) -> str:
    """A moment on the simulated timeline: ``0:05.6``, ``2:05.3``, from an hour ``1:00:09.6``.

    The one formatter of transcript times: the run's report, its JUnit file and the pytest plugin's
    sections all show an utterance's time with it."""
    if seconds is None or not math.isfinite(seconds):
        return "?:??.?"
    tenths = round(max(0.0, seconds) * 10)  # round first, so 59.96 s is 1:00.0 and not 0:60.0
    minutes, rest = divmod(tenths, 600)
    hours, minutes = divmod(minutes, 60)
    second = f"{rest // 10:02d}.{rest % 10}"
    return f"{hours}:{minutes:02d}:{second}" if hours else f"{minutes}:{second}"


def sim_duration(seconds: float | None) -> str:
    """A simulated span: ``12.5s`` under a minute, else ``2m05s`` / ``1h02m05s``."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = max(0.0, seconds)
    if round(seconds * 10) < 600:  # rounded as shown: 59.96 s is a minute, not "60.0s"
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def wall_duration(seconds: float | None) -> str:
    """Real time: ``0.41 s`` under a second, ``3.2 s`` above."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    return f"{seconds:.2f} s" if seconds < 1 else f"{seconds:.1f} s"


def ms(value: float | None) -> str:
    """Milliseconds without unit: ``12``, ``0.8`` (a decimal only where it matters), ``-`` for none."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def reply_timing(line: TranscriptLine) -> str:
    """``first 12 ms · last 310 ms`` for an agent reply; empty when nothing was timed."""
    parts = []
    if line.first_chunk_ms is not None:
        parts.append(f"first {ms(line.first_chunk_ms)} ms")
    if line.last_chunk_ms is not None:
        parts.append(f"last {ms(line.last_chunk_ms)} ms")
    return " · ".join(parts)


def said(line: TranscriptLine) -> str:
    """What the transcript shows as the line's words: escaped, silence and interruptions marked."""
    if line.state == "silent" and not line.text:
        return SILENCE
    text = visible(line.text, keep_newlines=True) + spoken_note(line)
    return text + INTERRUPTED if line.state == "interrupted" else text


def spoken_note(line: TranscriptLine) -> str:
    """A synthesised caller turn (the text is what the recogniser heard): what was said, over which
    line, and the word error rate; empty for any other line."""
    if line.said is None:
        return ""
    voice = f" in {line.voice}" if line.voice else ""
    return f'  ← said "{visible(line.said)}"{voice} over {line.line}, WER {line.word_error_rate or 0:.2f}'


def check_location(result: ScenarioResult, check: Check) -> str:
    """``file:line``, or ``file (steps[1].expect.text)`` when the check has no line."""
    if check.line is not None:
        return f"{visible(result.file)}:{check.line}"
    path = format_path(check.path) if check.path else ""
    return f"{visible(result.file)} ({visible(path)})" if path else visible(result.file)


def replies(result: ScenarioResult) -> int:
    return sum(1 for line in result.transcript if line.speaker == "agent")


# -- blocks shared with the JUnit file -------------------------------------------------------------


def check_pairs(check: Check) -> list[tuple[str, str]]:
    """The ``expected``/``got`` lines of a check, escaped; a plain yes/no check states neither."""
    pairs = [("expected", check.expected), ("got", check.got)]
    return [(label, visible(value, keep_newlines=True)) for label, value in pairs if value]


def check_title(result: ScenarioResult, check: Check) -> str:
    return f"{check_location(result, check)}  {visible(check.what, keep_newlines=True)}"


def check_text(result: ScenarioResult, check: Check) -> str:
    """A failed check as plain text: ``file:line  what`` then ``expected:``/``got:`` aligned."""
    lines = [check_title(result, check)]
    lines += [_aligned(label, value) for label, value in check_pairs(check)]
    return "\n".join(lines)


def _aligned(label: str, value: str) -> str:
    # Right-aligned labels put both colons in one column; continuation lines hang under the value.
    prefix = f"  {label:>{LABEL_WIDTH - 1}}: "
    return prefix + value.replace("\n", "\n" + " " * len(prefix))


def finding_title(finding: FindingLine) -> str:
    """``CODE  severity (allowed)  call ca_1 turn 2  message``."""
    title = f"{visible(finding.code or '?')}  {visible(finding.severity or '?')}"
    title += " (allowed)" if finding.allowed else ""
    where = _finding_where(finding)
    title += f"  {where}" if where else ""
    return f"{title}  {visible(finding.message, keep_newlines=True)}"


def offending(finding: FindingLine) -> str | None:
    """The offending bytes, every control character and invalid byte escaped, clipped."""
    return visible(finding.offending, limit=OFFENDING_LIMIT) if finding.offending else None


def _finding_where(finding: FindingLine) -> str:
    parts = []
    if finding.call_id:
        parts.append(f"call {visible(finding.call_id)}")
    if finding.turn is not None:
        parts.append(f"turn {finding.turn}")
    if finding.delivery_id:
        parts.append(f"delivery {visible(finding.delivery_id)}")
    return " ".join(parts)


def finding_text(finding: FindingLine) -> str:
    """A finding as plain text, its offending bytes on a ``bytes:`` line below."""
    bytes_ = offending(finding)
    return finding_title(finding) + ("\n" + _aligned("bytes", bytes_) if bytes_ is not None else "")


def transcript_text(result: ScenarioResult) -> str:
    """The transcript as plain lines (for files): ``0:01.2  agent     greeting  Hi.  (first 12 ms)``."""
    width = max((len(visible(line.label)) for line in result.transcript), default=0)
    lines = []
    for line in result.transcript:
        row = f"{sim_clock(line.at_s)}  {line.speaker:<8}  "
        row += f"{visible(line.label):<{width}}  " if width else ""
        row += said(line)
        timing = reply_timing(line)
        row += f"  ({timing})" if timing else ""
        row += f"  [{', '.join(visible(code) for code in line.findings)}]" if line.findings else ""
        lines.append(row)
    return "\n".join(lines)


# -- the report ------------------------------------------------------------------------------------


def report_console(file: IO[str] | None = None, *, kind: type[Console] = Console) -> Console:
    """The console the report prints on (default: stdout), a ``kind`` of rich Console. On a
    terminal, its width. On a pipe or a file (a CI log, where COLUMNS is rarely set and rich would
    assume 80 columns), no width at all: nothing wraps, a reply stays on its line and a number is
    never cut."""
    console = kind(file=file)
    return console if console.is_terminal else kind(file=file, width=LOG_WIDTH)


def print_report(run: RunResult, console: Console, *, verbose: bool = False) -> None:
    """Print the run: a line per scenario, details of the ones that did not pass, a summary."""
    if console.is_terminal:
        _print_report(run, console, verbose=verbose)
        return
    # Off a terminal no line ends in blanks: rich pads every table cell to its column's width.
    with console.capture() as captured:
        _print_report(run, console, verbose=verbose)
    console.out("\n".join(line.rstrip() for line in captured.get().splitlines()), highlight=False)


def _print_report(run: RunResult, console: Console, *, verbose: bool) -> None:
    for result in run.results:
        console.print(header(result))
        if verbose or result.outcome in ("failed", "error"):
            # Part by part, not as one Group: a group pads every line to its widest one.
            for part in details(result, verbose=verbose, width=console.width):
                console.print(_indent(part))
    if run.results:
        console.print()
        console.print(summary_table(run, console.width))
    console.print(totals(run))


def header(result: ScenarioResult) -> Text:
    """``✗ scenarios/orders.yaml::order status  0.41 s, 2m05s simulated``."""
    mark, style = MARKS.get(result.outcome, ("?", ""))
    text = Text()
    text.append(f"{mark} ", style=f"bold {style}")
    text.append(visible(result.id), style=style)
    text.append(
        f"  {wall_duration(result.wall_s)}, {sim_duration(result.simulated_s)} simulated", style="dim"
    )
    if result.outcome == "skipped" and result.skip_reason:
        text.append(f"  skipped: {visible(result.skip_reason)}", style="yellow")
    if result.repeats is not None:
        text.append(f"  {runs_text(result)}", style="yellow" if result.flaky else "dim")
    return text


def runs_text(result: ScenarioResult) -> str:
    """``3/5 runs passed (60%, at least 80% wanted), flaky`` for a scenario played several times."""
    repeats = result.repeats
    if repeats is None:
        return ""
    text = f"{repeats.passed}/{repeats.count} runs passed ({repeats.pass_rate:.0%}"
    text += f", at least {repeats.min_pass_rate:.0%} wanted)" if repeats.min_pass_rate < 1 else ")"
    return text + (", flaky" if repeats.flaky else "")


def runs_lines(result: ScenarioResult) -> list[str]:
    """One line per run that did not pass: ``run 2 ✗ turn 1 text: expected ..., got ...``."""
    if result.repeats is None:
        return []
    return [
        f"run {run.number} {MARKS.get(run.outcome, ('?', ''))[0]} {visible(run.reason or run.outcome)}"
        for run in result.repeats.runs
        if run.outcome != "passed"
    ]


def details(
    result: ScenarioResult, *, verbose: bool = False, width: int | None = None
) -> list[RenderableType]:
    """The transcript, the failed (with ``verbose`` also passed) checks, findings and error."""
    parts: list[RenderableType] = []
    if result.repeats is not None and (lines := runs_lines(result)):
        shown = "one of them below" if result.outcome != "passed" else "the last run that passed below"
        parts += [_section(f"runs ({runs_text(result)}; {shown})"), _indent(Text("\n".join(lines)))]
    if result.transcript:
        inner = None if width is None else width - 2 * INDENT  # the transcript sits two levels in
        parts += [_section("transcript"), _indent(transcript_table(result, inner))]
    if result.failures:
        parts.append(_section("failed checks"))
        parts += [_indent(_check_renderable(result, check)) for check in result.failures]
    parts += golden_renderables(result)
    passed = [check for check in result.checks if check.passed]
    if verbose and passed:
        parts += [_section("passed checks"), _indent(_passed_checks(result, passed))]
    if result.findings:
        parts.append(_section("findings"))
        parts += [_indent(_finding_renderable(finding)) for finding in result.findings]
    if result.error:
        parts += [_section("error"), _indent(Text(visible(result.error, keep_newlines=True), "magenta"))]
    if result.log:
        parts += [
            _section("captured log"),
            _indent(Text(visible("\n".join(result.log), keep_newlines=True), "dim")),
        ]
    return parts


def details_text(result: ScenarioResult, *, width: int = 100, color: bool = False) -> str:
    """:func:`details` as text, indented as in the report (the pytest plugin's failure text)."""
    out = io.StringIO()
    console = Console(
        file=out, width=width, force_terminal=color, no_color=not color, highlight=False, emoji=False
    )
    for part in details(result, width=width):
        console.print(part)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


def _section(title: str) -> Text:
    return Text(title, style="bold dim")


def _indent(renderable: RenderableType, by: int = INDENT) -> Padding:
    # expand=False: a padded block takes its content's width, no trailing blanks to the edge.
    return Padding(renderable, (0, 0, 0, by), expand=False)


def _check_renderable(result: ScenarioResult, check: Check) -> RenderableType:
    title = Text.assemble(
        (check_location(result, check), "bold"), f"  {visible(check.what, keep_newlines=True)}"
    )
    styles = {"expected": "green", "got": "red"}
    pairs = [(label, Text(value, style=styles[label])) for label, value in check_pairs(check)]
    return Group(title, _labelled(pairs)) if pairs else title


def _finding_renderable(finding: FindingLine) -> RenderableType:
    # Allowed findings are noise the scenario accepted: dim. Others by severity.
    style = "dim" if finding.allowed else SEVERITY_STYLES.get(finding.severity, "")
    title = Text(finding_title(finding), style=style)
    if not finding.allowed:
        title.stylize("bold", 0, len(visible(finding.code or "?")))
    bytes_ = offending(finding)
    return Group(title, _labelled([("bytes", Text(bytes_, style=style))])) if bytes_ is not None else title


def _labelled(pairs: list[tuple[str, Text]]) -> Padding:
    """``label: value`` rows, labels right-aligned on the colon, long values wrapping under the value."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(justify="right", no_wrap=True, min_width=LABEL_WIDTH, style="dim")
    grid.add_column(overflow="fold")
    for label, value in pairs:
        grid.add_row(f"{label}:", value)
    return _indent(grid)


def _passed_checks(result: ScenarioResult, checks: Iterable[Check]) -> Text:
    text = Text()
    for index, check in enumerate(checks):
        text.append("\n" if index else "")
        text.append("✓ ", style="green")
        text.append(f"{check_location(result, check)}  {visible(check.what)}")
    return text


def transcript_table(result: ScenarioResult, width: int | None = None) -> Table:
    """One row per line: time, speaker, label, words (finding codes under them), reply latency.

    When beside the other columns the words would get fewer than :data:`MIN_WORDS` of ``width``'s
    columns, the latency goes under the words too: rich would otherwise squeeze the words, the one
    column the reader came for, to a sliver.
    """
    if width is not None:
        others = natural_width(_transcript_table(result, wide=True, words=False))
        if others + MIN_WORDS > width:
            # Narrower still, even the latency under the words leaves them a sliver that rich
            # crops ("Hi, this i"): the words then go on a line of their own, under who said them.
            narrow = natural_width(_transcript_table(result, wide=False, words=False))
            if narrow + MIN_WORDS // 2 > width:
                return _stacked_transcript(result)
            return _transcript_table(result, wide=False)
    return _transcript_table(result, wide=True)


def _stacked_transcript(result: ScenarioResult) -> Table:
    """The transcript for a very narrow terminal: each line's time, speaker and label, then its
    words, finding codes and latency below, in one column that folds and never crops."""
    allowed = _allowed_codes(result.findings)
    table = Table(box=None, show_header=False, padding=(0, 0), pad_edge=False)
    table.add_column("line", overflow="fold")
    for line in result.transcript:
        who = [sim_clock(line.at_s), *([visible(line.call_id)] if line.call_id else []), line.speaker]
        head = Text(" ".join(who), style="dim")
        head.append(f"  {visible(line.label)}", style="dim")
        under = [_codes_text(line.findings, allowed), Text(reply_timing(line), style="dim")]
        table.add_row(Text("\n").join([head, _with_under(Text("  ") + _said_text(line), under)]))
    return table


def _transcript_table(result: ScenarioResult, *, wide: bool, words: bool = True) -> Table:
    """The transcript table; ``words=False`` leaves the words out, to measure the other columns.

    Finding codes always go under the words (they are rare, and long); the latency is a column of
    its own when ``wide``, so the eye can run down it, else it joins the codes.
    """
    several_calls = len({line.call_id for line in result.transcript if line.call_id}) > 1
    allowed = _allowed_codes(result.findings)
    table = Table(box=None, show_header=False, padding=(0, 1), pad_edge=False)
    table.add_column("at", style="dim", no_wrap=True, justify="right")
    if several_calls:  # only then does the reader need to tell the calls apart
        table.add_column("call", style="dim", no_wrap=True, max_width=16 if wide else 10)
    table.add_column("speaker", no_wrap=True)
    # Labels fold at spaces rather than lose their end: 'text from +…' hid whose text it was; 16
    # columns hold any E.164 number.
    table.add_column("label", style="dim", overflow="fold", max_width=24 if wide else 16)
    table.add_column("text", overflow="fold", min_width=20 if words else None)
    if wide:
        table.add_column("timing", style="dim", no_wrap=True)
    for line in result.transcript:
        row = [Text(sim_clock(line.at_s))]
        if several_calls:
            row.append(Text(visible(line.call_id)))
        row += [Text(line.speaker, style=SPEAKER_STYLES.get(line.speaker, "")), Text(visible(line.label))]
        timing = Text(reply_timing(line), style="dim")
        under = [_codes_text(line.findings, allowed)] + ([] if wide else [timing])
        row.append(_with_under(_said_text(line), under) if words else Text())
        if wide:
            row.append(timing)
        table.add_row(*row)
    return table


def _with_under(main: Text, under: list[Text]) -> Text:
    """``main``, then on a line below the non-empty ``under`` parts two spaces apart."""
    below = Text("  ").join(part for part in under if part)
    return Text("\n").join([main, below]) if below else main


def natural_width(renderable: RenderableType) -> int:
    """How wide ``renderable`` is when nothing constrains it."""
    console = Console(width=10_000, file=io.StringIO())  # only measures; never prints
    return console.measure(renderable).maximum


def _said_text(line: TranscriptLine) -> Text:
    if line.state == "silent" and not line.text:
        return Text(SILENCE, style="dim italic")
    words = Text.assemble(visible(line.text, keep_newlines=True), (spoken_note(line), "dim"))
    return Text.assemble(words, (INTERRUPTED, "yellow")) if line.state == "interrupted" else words


def _allowed_codes(findings: list[FindingLine]) -> set[str]:
    """Codes only ever found allowed; a code found once not allowed is shown as a problem."""
    return {f.code for f in findings if f.allowed} - {f.code for f in findings if not f.allowed}


def _codes_text(codes: list[str], allowed: set[str]) -> Text:
    text = Text()
    for index, code in enumerate(codes):
        text.append(" " if index else "")
        text.append(visible(code), style="dim" if code in allowed else "red")
    return text


def summary_table(run: RunResult, width: int | None = None) -> Table:
    """One row per scenario under a row naming its file: outcome, name, checks, replies, latency
    (time to first chunk, p50 and p95), simulated and wall time.

    When that is wider than ``width``, the replies and simulated-time columns go, so the names
    stay readable in an 80-column CI log.
    """
    table = _summary_table(run, wide=True)
    return table if width is None or natural_width(table) <= width else _summary_table(run, wide=False)


def _summary_table(run: RunResult, *, wide: bool) -> Table:
    table = Table(
        box=box.SIMPLE_HEAD, show_edge=False, header_style="bold", pad_edge=False, collapse_padding=True
    )
    table.add_column("", no_wrap=True)
    table.add_column("scenario", overflow="fold", min_width=12)
    titles = (
        ("checks", "replies", "p50 ms", "p95 ms", "simulated", "wall")
        if wide
        else (
            "checks",
            "p50 ms",
            "p95 ms",
            "wall",
        )
    )
    if any(result.repeats is not None for result in run.results):
        titles = ("runs", *titles)
    for title in titles:
        table.add_column(title, justify="right", no_wrap=True)
    current_file: str | None = None
    for result in run.results:
        if result.file != current_file:
            current_file = result.file
            table.add_row("", Text(visible(result.file), style="bold"), *([""] * len(titles)))
        mark, style = MARKS.get(result.outcome, ("?", ""))
        passed = sum(1 for check in result.checks if check.passed)
        repeats = result.repeats
        cells = {
            "runs": "1"
            if repeats is None
            else f"{repeats.passed}/{repeats.count}" + (" flaky" if repeats.flaky else ""),
            "checks": f"{passed}/{len(result.checks)}" if result.checks else "-",
            "replies": str(replies(result)),
            "p50 ms": ms(result.latency_percentile(50)),
            "p95 ms": ms(result.latency_percentile(95)),
            "simulated": sim_duration(result.simulated_s),
            "wall": wall_duration(result.wall_s),
        }
        table.add_row(
            Text(mark, style=style),
            Text(visible(result.name), style=style if result.outcome != "passed" else ""),
            *(cells[title] for title in titles),
        )
    return table


def totals(run: RunResult) -> Text:
    """``12 passed, 1 failed in 3.2 s``: green when the run is ok, red otherwise."""
    if not run.results:
        return Text(f"no scenarios ran in {wall_duration(run.wall_s)}", style="yellow")
    parts = [
        f"{count} {'errors' if outcome == 'error' and count > 1 else outcome}"
        for outcome, count in run.counts.items()
        if count
    ]
    if run.flaky:
        parts.append(f"{run.flaky} flaky")
    # The runner sets the run's wall time; should it not, the scenarios' own times are the best guess.
    wall = run.wall_s or sum(result.wall_s for result in run.results)
    return Text(f"{', '.join(parts)} in {wall_duration(wall)}", style="bold green" if run.ok else "bold red")
