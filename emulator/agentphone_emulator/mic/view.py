"""What the terminal shows during a mic call, and the summary after it.

One line per thing that happened, stamped with seconds since the call connected:

     0.0  agent  Hi, this is Acme support. How can I help?
     3.9  you    where is my order a one zero four two                      (talked over the agent)
     4.3  agent  Let me check on that.                                                  interim 212 ms
     5.0  agent  Order A-1042 shipped this morning.                                             650 ms
          turn 1: 1.02 s from the end of your speech to the agent's first word (end of speech and
          recognition 0.74, sending 0.01, agent's first chunk 0.21, speech synthesis 0.06)
          ! error voice_no_final_chunk turn 2: ...

On a terminal the recogniser's partial guesses show on a line that is rewritten as they change;
piped to a file only the final lines appear.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import Counter

from rich.console import Console
from rich.markup import escape

from ..models.control import CallSimOut, ReplyOut
from ..speech.call_record import MicResult, TurnTiming, Utterance


class TerminalView:
    def __init__(self, console: Console, *, stt_name: str) -> None:
        self.console = console
        self.stt_name = stt_name
        self._t0 = time.perf_counter()
        self._partial_shown = False

    def _stamp(self) -> str:
        return f"{time.perf_counter() - self._t0:6.1f}"

    def _line(self, who: str, text: str, note: str = "", style: str = "") -> None:
        self._clear_partial()
        who_styled = f"[{style}]{who:<5}[/]" if style else f"{who:<5}"
        suffix = f"  [dim]{escape(note)}[/]" if note else ""
        self.console.print(f"{self._stamp()}  {who_styled}  {escape(text)}{suffix}", highlight=False)

    def _clear_partial(self) -> None:
        if self._partial_shown:
            self.console.file.write("\r\x1b[2K")
            self._partial_shown = False

    # -- CallView ----------------------------------------------------------------------------------

    def connected(self, view: CallSimOut) -> None:
        self._t0 = time.perf_counter()
        keys = " · type keys and Enter to press them" if sys.stdin.isatty() else ""
        self.console.print(
            f"[bold]Call {view.call_id} connected[/] · speak after the greeting; talking over the agent "
            f"interrupts it{keys} · Ctrl-C hangs up",
            highlight=False,
        )

    def caller_started(self, barged_in: bool) -> None:
        if barged_in:
            self._line("you", "…", "talking over the agent: it stops", style="cyan")

    def partial(self, text: str) -> None:
        if not self.console.is_terminal:
            return
        self._clear_partial()
        room = max(10, self.console.width - 18)  # one line: a wrapped one could not be rewritten
        shown = text if len(text) <= room else "…" + text[-(room - 1) :]
        self.console.file.write(f"{self._stamp()}  you    {shown} …")
        self.console.file.flush()
        self._partial_shown = True

    def caller_said(self, utterance: Utterance) -> None:
        note = "talked over the agent" if utterance.barged_in else ("keys pressed" if utterance.keys else "")
        self._line("you", utterance.text, note, style="cyan")

    def not_understood(self) -> None:
        self._line("you", f"(speech the {self.stt_name} recogniser found no words in: not sent)", style="dim")

    def ignored(self, text: str) -> None:
        heard = f"{text!r}: " if text else ""
        self._line("you", f"({heard}heard while the agent spoke, ignored: --no-barge-in)", style="dim")

    def agent_chunk(self, turn: int, text: str, interim: bool, latency_ms: float) -> None:
        if not text.strip():
            return
        note = f"{'interim ' if interim else ''}{latency_ms:.0f} ms" if turn > 0 else "greeting"
        self._line("agent", text, note, style="green")

    def reply_finished(self, reply: ReplyOut, timing: TurnTiming | None) -> None:
        self._clear_partial()
        notes = []
        if reply.state == "interrupted":
            notes.append(f"cut off after: {reply.text!r}" if reply.text else "cut off before a word")
        elif reply.state == "silent" and reply.turn > 0:
            notes.append("the agent said nothing")
        if reply.hangup:
            notes.append("the agent hung up")
        if reply.transfer:
            notes.append("the agent transferred the call")
        if timing is not None and timing.to_first_word is not None:
            parts = ", ".join(
                f"{name} {seconds:.2f}" for name, seconds in timing.breakdown(reply.first_chunk_ms).items()
            )
            notes.append(
                f"{timing.to_first_word:.2f} s from the end of your speech to the agent's first word ({parts})"
            )
        for note in notes:
            self.console.print(f"        [dim]turn {reply.turn}: {escape(note)}[/]", highlight=False)

    def finding(self, finding: dict[str, object]) -> None:
        self._clear_partial()
        severity = str(finding.get("severity", "error"))
        style = "red" if severity == "error" else "yellow"
        self.console.print(
            f"        [{style}]! {severity} {finding.get('code')}[/] {escape(str(finding.get('message', '')))}",
            highlight=False,
        )

    def problem(self, message: str) -> None:
        self._clear_partial()
        self.console.print(f"[red]{escape(message)}[/]", highlight=False)

    # -- the end -------------------------------------------------------------------------------------

    def summary(self, result: MicResult) -> None:
        self._clear_partial()
        for line in summary_lines(result):
            self.console.print(escape(line), highlight=False)


ENDED_BY = {"agent": "the call ended", "input": "the input ran out: hung up", "caller": "you hung up"}


def summary_lines(result: MicResult) -> list[str]:
    """The call summary, as plain lines (the terminal prints them; tests read them)."""
    call = result.call
    lines = [
        "",
        f"Call {call.call_id}: {call.status} ({call.disconnection_reason or 'no reason'}), "
        f"{ENDED_BY[result.ended_by]} after {result.seconds:.1f} s; "
        f"{len(result.utterances)} caller turns, {sum(1 for turn in result.replies if turn > 0)} replies",
    ]
    lines.append(
        f"speaker: {result.played_seconds:.1f} s of the agent's speech played, "
        f"{result.cut_seconds:.1f} s cut by barge-in"
    )
    latencies = result.latencies()
    if latencies:
        lines.append(
            f"end of your speech to the agent's first word: median {statistics.median(latencies):.2f} s, "
            f"worst {max(latencies):.2f} s over {len(latencies)} turns"
        )
    if call.findings:
        counts = Counter(f.severity for f in call.findings)
        lines.append("findings: " + ", ".join(f"{n} {severity}" for severity, n in sorted(counts.items())))
        for finding in call.findings:
            lines.append(f"  {finding.severity} {finding.code}: {finding.message}")
    else:
        lines.append("findings: none")
    if call.transcript:
        lines.append("transcript:")
        lines.extend(f"  {line.role}: {line.content}" for line in call.transcript)
    if result.problem:
        lines.append(f"stopped early: {result.problem}")
    return lines
