"""The diff as one self-contained HTML page: inline CSS, no script, no font or stylesheet from a CDN,
so it opens from a CI artefact offline. Every text from a report is escaped (agent replies are
untrusted)."""

from __future__ import annotations

import html

from ..scenario.report import ms
from ..scenario.word_diff import word_diff
from .compare import RunDiff, ScenarioDiff, latency_change

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.3em}h2{font-size:1.05em;margin-top:1.6em}
table{border-collapse:collapse}th,td{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}th{white-space:nowrap}
.passed{color:#18794e}.failed{color:#c62828}.error{color:#8e24aa}.skipped{color:#a66f00}.absent{color:#999}
.slower{color:#c62828}.faster{color:#18794e}.changed{background:#fff8e1}
del{background:#ffebee;color:#c62828}ins{background:#e8f5e9;color:#18794e;text-decoration:none}
.reply{margin:.3em 0 .3em 1.5em}.where{color:#777;margin-right:.6em}
"""


def _e(text: str | None) -> str:
    return html.escape(text or "", quote=True)


def _outcome(outcome: str | None) -> str:
    return (
        '<span class="absent">—</span>'
        if outcome is None
        else f'<span class="{_e(outcome)}">{_e(outcome)}</span>'
    )


def _latency(a: float | None, b: float | None) -> str:
    cls = latency_change(a, b)
    return f'{_e(ms(a))} → <span class="{cls}">{_e(ms(b))}</span>'


def word_diff_html(before: str, after: str) -> str:
    tags = {"same": ("", ""), "removed": ("<del>", "</del>"), "added": ("<ins>", "</ins>")}
    return " ".join(f"{tags[op][0]}{_e(words)}{tags[op][1]}" for op, words in word_diff(before, after))


def _row(s: ScenarioDiff) -> str:
    findings = " ".join(
        part
        for part in (
            f'<span class="failed">+{len(s.new_findings)} new</span>' if s.new_findings else "",
            f'<span class="passed">-{len(s.fixed_findings)} fixed</span>' if s.fixed_findings else "",
        )
        if part
    )
    cells = [
        f'<a href="#{_e(_anchor(s))}">{_e(s.id)}</a>' if s.changed else _e(s.id),
        _outcome(s.outcome_a),
        _outcome(s.outcome_b),
        *(f'<td class="n">{_latency(s.latency_a[q], s.latency_b[q])}</td>' for q in (50, 95, 100)),
        f"{len(s.replies)} changed" if s.replies else "-",
        findings or "-",
    ]
    tds = "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in cells)
    return f'<tr class="{"changed" if s.changed else ""}">{tds}</tr>'


def _anchor(s: ScenarioDiff) -> str:
    return "s-" + "".join(c if c.isalnum() else "-" for c in s.id)


def _details(s: ScenarioDiff) -> str:
    out = [f'<h2 id="{_e(_anchor(s))}">{_e(s.id)}</h2>']
    if s.outcome_changed:
        out.append(f"<p>outcome {_outcome(s.outcome_a)} → {_outcome(s.outcome_b)}</p>")
    for reply in s.replies:
        out.append(
            f'<div class="reply"><span class="where">{_e(reply.where)}</span>'
            f"{word_diff_html(reply.before, reply.after)}</div>"
        )
    if s.new_findings:
        out.append(f'<p class="failed">new findings: {_e(", ".join(s.new_findings))}</p>')
    if s.fixed_findings:
        out.append(f'<p class="passed">fixed findings: {_e(", ".join(s.fixed_findings))}</p>')
    return "\n".join(out)


def diff_html(diff: RunDiff) -> str:
    head = (
        "<th>scenario</th>"
        f"<th>{_e(diff.a)}</th><th>{_e(diff.b)}</th>"
        "<th>p50 ms</th><th>p95 ms</th><th>max ms</th><th>replies</th><th>findings</th>"
    )
    rows = "\n".join(_row(s) for s in diff.scenarios)
    changed = diff.changed
    summary = (
        f"{len(changed)} of {len(diff.scenarios)} scenarios changed"
        if changed
        else f"no differences in {len(diff.scenarios)} scenarios"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>agentphone-emulator diff: {_e(diff.a)} → {_e(diff.b)}</title>"
        f"<style>{CSS}</style></head><body>\n"
        f"<h1>{_e(diff.a)} → {_e(diff.b)}</h1>\n<p>{_e(summary)}</p>\n"
        f"<table><thead><tr>{head}</tr></thead><tbody>\n{rows}\n</tbody></table>\n"
        + "\n".join(_details(s) for s in changed)
        + "\n</body></html>\n"
    )
