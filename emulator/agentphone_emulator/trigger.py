"""``agentphone-emulator trigger``: send one event to a running ``serve`` through its control plane
(``/__emulator``) and print what happened.

    agentphone-emulator trigger sms --from +14155550100 --to +14155550123 --body "hello" [--media URL ...]
                                    [--wait SECONDS]
    agentphone-emulator trigger reaction --message-id msg_... --reaction love [--from +14155550100]
    agentphone-emulator trigger advance SECONDS        (virtual clock only; 90, 5m, 2h, 1d)
    agentphone-emulator trigger fast-forward [--limit DURATION]
    agentphone-emulator trigger call --to +14155550123 [--from NUMBER] [--say TEXT] [--interrupt TEXT
                                     [--after SECONDS]] [--press DIGITS] [--silence SECONDS] [--hangup]

Every event takes ``--url`` (default ``$AGENTPHONE_EMULATOR_URL`` or http://127.0.0.1:8787),
``--api-key`` (default ``$AGENTPHONE_EMULATOR_API_KEY``) and ``--json`` (print the emulator's answer
as it is). A webhook delivery that fails is not an error of ``trigger``: the event was sent, and the
summary says what the webhook answered (and a call whose agent broke the contract is not one
either: its findings are printed).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from .agent_env import CONTROL_PREFIX, DEFAULT_EMULATOR_URL, EMULATOR_KEY_ENV, EMULATOR_URL_ENV
from .command_line import RefusedError, UsageError, duration, is_http_url
from .errors import error_detail
from .version import __version__

# `trigger sms` answers after the webhook's first attempt, which may take the webhook's whole
# timeout (at most 120 s); wait a little longer than that before calling the emulator unreachable.
TRIGGER_TIMEOUT_SECONDS = 150.0
# `trigger sms`: how long to wait for the agent's text back, by default and at most (the control
# plane's replyWithinSeconds allows 60). An agent answering from a background task takes a moment.
DEFAULT_REPLY_WAIT = 2.0
MAX_REPLY_WAIT = 60.0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``trigger`` and its events, on the command line's subparsers ``commands``."""
    trigger = commands.add_parser(
        "trigger",
        help="send an event to a running emulator (a text, a reaction, a call, time passing)",
        description="Send an event to a running 'agentphone-emulator serve' through its control plane "
        f"({CONTROL_PREFIX}) and print what happened, the webhook delivery included.",
        epilog="Exit codes: 0 done (a failed webhook delivery is reported, not an error); 1 the emulator "
        "refused the request; 2 a usage error or an emulator that cannot be reached.",
    )
    _add_connection_flags(trigger, on_event=False)
    events = trigger.add_subparsers(dest="event", metavar="EVENT", required=True)

    sms = events.add_parser(
        "sms", help="a text arrives at one of the account's numbers (fires agent.message)"
    )
    sms.add_argument("--from", dest="from_", required=True, metavar="NUMBER", help="the texter (E.164)")
    sms.add_argument("--to", required=True, metavar="NUMBER", help="one of the account's numbers (E.164)")
    sms.add_argument("--body", default="", help="the text")
    sms.add_argument(
        "--media", action="append", default=[], metavar="URL", help="an attached media URL; repeatable"
    )
    sms.add_argument(
        "--wait",
        type=duration,
        default=DEFAULT_REPLY_WAIT,
        metavar="SECONDS",
        help="if the webhook takes the text, wait up to SECONDS of real time for the agent's text back "
        f"and print it (default {DEFAULT_REPLY_WAIT:g}, at most {MAX_REPLY_WAIT:g}; 0: only texts sent "
        "before the webhook answered)",
    )
    _add_connection_flags(sms, on_event=True)

    reaction = events.add_parser(
        "reaction", help="a participant reacts to an iMessage (fires agent.reaction)"
    )
    reaction.add_argument("--message-id", required=True, metavar="ID", help="the message reacted to")
    reaction.add_argument(
        "--reaction", required=True, help="love, like, dislike, laugh, emphasize, question, or one emoji"
    )
    reaction.add_argument(
        "--from", dest="from_", metavar="NUMBER", help="who reacts (default: the conversation's participant)"
    )
    _add_connection_flags(reaction, on_event=True)

    advance = events.add_parser(
        "advance", help="move a virtual clock forward, running the retries that fall due"
    )
    advance.add_argument("seconds", type=duration, metavar="SECONDS", help="how far: 60, 90s, 5m, 2h, 1d")
    _add_connection_flags(advance, on_event=True)

    fast_forward = events.add_parser(
        "fast-forward", help="run a virtual clock through everything scheduled (every pending retry)"
    )
    fast_forward.add_argument(
        "--limit", type=duration, default=None, metavar="DURATION", help="go no further (default 7d)"
    )
    _add_connection_flags(fast_forward, on_event=True)

    call = events.add_parser(
        "call",
        help="a caller rings one of the account's numbers and follows a script (fires agent.message per turn)",
        description="Ring one of the account's numbers as a simulated caller, do the steps in the order "
        "given, and print the call: who said what, the agent's first-chunk latency per reply, findings.",
        epilog="Steps run in command-line order, e.g. --interrupt 'Wait' --after 0.5 --say 'Where is my "
        "order?' --press 1 --silence 3 --hangup. Each step waits until the agent has finished its "
        "reply, except one followed by --interrupt: --say 'What are your hours' --interrupt 'bye' "
        "--after 1 cuts the answer 1 s in (printed '[cut off]'). A step on a call that has ended (the "
        "agent hung up) is not run; that is reported, not an error.",
    )
    call.add_argument("--to", required=True, metavar="NUMBER", help="one of the account's numbers (E.164)")
    call.add_argument(
        "--from", dest="from_", metavar="NUMBER", help="the caller (E.164; default +14155550123)"
    )
    call.set_defaults(steps=[])
    call.add_argument(
        "--say",
        action=_Step,
        dest="steps",
        const="say",
        metavar="TEXT",
        help="say TEXT once the agent is quiet, hear the reply",
    )
    call.add_argument(
        "--interrupt",
        action=_Step,
        dest="steps",
        const="interrupt",
        metavar="TEXT",
        help="talk over the agent's reply to the step before (which is not waited for)",
    )
    call.add_argument(
        "--after",
        action=_Step,
        dest="steps",
        const="after",
        type=duration,
        metavar="SECONDS",
        help="with the --interrupt just before: that many seconds into the reply (default 1)",
    )
    call.add_argument(
        "--press", action=_Step, dest="steps", const="press", metavar="DIGITS", help="press keys (0-9, *, #)"
    )
    call.add_argument(
        "--silence",
        action=_Step,
        dest="steps",
        const="silence",
        type=duration,
        metavar="SECONDS",
        help="say nothing a while",
    )
    call.add_argument("--hangup", action=_Step, dest="steps", const="hangup", nargs=0, help="hang up")
    _add_connection_flags(call, on_event=True)


class _Step(argparse.Action):
    """Appends one caller step to ``args.steps``: the flags of ``trigger call`` are a script, so
    their order on the command line is the order of the steps (argparse's own actions would group
    them by flag). ``--after`` belongs to the ``--interrupt`` just before it."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        steps: list[dict[str, Any]] = list(
            getattr(namespace, self.dest, None) or []
        )  # a copy: the default is shared
        if self.const == "after":
            if not steps or "interrupt" not in steps[-1] or "after" in steps[-1]:
                parser.error("--after goes right after the --interrupt it times")
            steps[-1] = {**steps[-1], "after": values}
        elif self.const == "hangup":
            steps.append({"hangup": True})
        else:
            steps.append({self.const: values})
        setattr(namespace, self.dest, steps)


def _add_connection_flags(parser: argparse.ArgumentParser, *, on_event: bool) -> None:
    """``--url``, ``--api-key`` and ``--json``, accepted before the event and after it.

    On the event's own parser they default to SUPPRESS: argparse copies a subparser's defaults
    over the parent's values, which would otherwise erase ``trigger --api-key K sms ...``.
    """
    unset: Any = argparse.SUPPRESS if on_event else None
    parser.add_argument(
        "--url",
        default=unset,
        help=f"the emulator's base URL (default: ${EMULATOR_URL_ENV} or {DEFAULT_EMULATOR_URL})",
    )
    parser.add_argument(
        "--api-key", default=unset, metavar="KEY", help=f"one of its API keys (default: ${EMULATOR_KEY_ENV})"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if on_event else False,
        help="print the emulator's JSON answer instead of a one-line summary",
    )


def _emulator_url(flag: str | None) -> str:
    url = (flag or os.environ.get(EMULATOR_URL_ENV) or DEFAULT_EMULATOR_URL).rstrip("/")
    if not is_http_url(url):
        raise UsageError(f"the emulator URL must look like {DEFAULT_EMULATOR_URL}, got {url!r}")
    return url


def _unreachable_reason(reason: object) -> str:
    if isinstance(reason, OSError):
        return reason.strerror or str(reason) or type(reason).__name__
    return str(reason) or type(reason).__name__


def call_control_plane(base_url: str, api_key: str, method: str, path: str, body: Any) -> Any:
    """One JSON request to the control plane; errors become :class:`UsageError` (unreachable,
    not an emulator) or :class:`RefusedError` (the emulator said no)."""
    # Here, not at the top: every command builds trigger's parser, and urllib.request (with
    # http.client, email and ssl) costs tens of ms to import, which only a request needs.
    import http.client
    import urllib.error
    import urllib.request

    # The emulator is local: never send its API key through an HTTP(S)_PROXY from the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(
        base_url + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"agentphone-emulator-cli/{__version__}",
        },
    )
    try:
        with opener.open(request, timeout=TRIGGER_TIMEOUT_SECONDS) as response:
            raw: bytes = response.read()
    except urllib.error.HTTPError as exc:  # before URLError: it is one
        detail = error_detail(exc.read())
        if detail is None:
            raise RefusedError(
                f"HTTP {exc.code} {exc.reason} from {base_url}, which does not answer like an "
                "AgentPhone emulator"
            ) from None
        raise RefusedError(f"HTTP {exc.code}: {detail}") from None
    except urllib.error.URLError as exc:
        raise UsageError(
            f"cannot reach the emulator at {base_url}: {_unreachable_reason(exc.reason)}"
        ) from None
    except (OSError, http.client.HTTPException) as exc:  # reset, timeout, or not speaking HTTP
        raise UsageError(f"cannot reach the emulator at {base_url}: {_unreachable_reason(exc)}") from None
    try:
        return json.loads(raw)
    except ValueError:
        raise UsageError(f"{base_url} did not answer like an AgentPhone emulator (not JSON)") from None


def _request_for(args: argparse.Namespace) -> tuple[str, str, Any]:
    """Method, path and JSON body of the control-plane call behind ``args.event``."""
    if args.event == "sms":
        if args.wait > MAX_REPLY_WAIT:
            raise UsageError(f"--wait is at most {MAX_REPLY_WAIT:g} seconds, got {args.wait:g}")
        body = {
            "from": args.from_,
            "to": args.to,
            "body": args.body,
            "mediaUrls": args.media,
            "replyWithinSeconds": args.wait,
        }
        return "POST", f"{CONTROL_PREFIX}/sms", body
    if args.event == "reaction":
        reaction: dict[str, str] = {"messageId": args.message_id, "reaction": args.reaction}
        if args.from_ is not None:
            reaction["from"] = args.from_
        return "POST", f"{CONTROL_PREFIX}/reactions", reaction
    if args.event == "advance":
        return "POST", f"{CONTROL_PREFIX}/clock/advance", {"seconds": args.seconds}
    if args.event == "fast-forward":
        limit = {} if args.limit is None else {"limitSeconds": args.limit}
        return "POST", f"{CONTROL_PREFIX}/clock/fast-forward", limit
    if args.event == "call":
        ring: dict[str, Any] = {"to": args.to}
        if args.from_ is not None:
            ring["from"] = args.from_
        if args.steps:
            ring["script"] = args.steps
        return "POST", f"{CONTROL_PREFIX}/calls", ring
    raise AssertionError(f"unknown event {args.event!r}")  # argparse only lets the five above through


def _milliseconds(value: float) -> str:
    return f"{value:.1f} ms" if value < 10 else f"{value:.0f} ms"


def describe_delivery(delivery: dict[str, Any] | None) -> str:
    """What the webhook did with the event's first attempt, in words."""
    if delivery is None:
        return "no webhook configured"
    target = delivery.get("url") or "the webhook"
    attempts: list[dict[str, Any]] = delivery.get("attempts") or []
    if not attempts:
        return f"delivery to {target} {delivery.get('status', 'pending')}"
    last = attempts[-1]
    if delivery.get("status") == "success":
        return f"delivered to {target} (HTTP {last['httpStatus']}, {_milliseconds(last['durationMs'])})"
    why = last.get("errorMessage") or f"HTTP {last.get('httpStatus')}"
    if delivery.get("nextRetryAt"):
        return f"delivery to {target} failed: {why}, retry at {delivery['nextRetryAt']}"
    return f"delivery to {target} failed: {why}, not retried"


def describe_clock(verb: str, answer: dict[str, Any]) -> list[str]:
    """Where the clock went, then what ran on the way, one line each at its simulated moment."""
    seconds = answer.get("advancedSeconds") or 0
    due = answer.get("nextDue")
    after = f"next event due at {due}" if due else "nothing scheduled"
    lines = [f"clock {verb} {seconds:g}s to {answer['now']}; {after}"]
    ran: list[dict[str, Any]] = answer.get("ran") or []
    if not ran:
        return [*lines, "nothing ran: nothing was pending"]
    return lines + [f"{run['at']}  {_describe_run(run)}" for run in ran]


def _describe_run(run: dict[str, Any]) -> str:
    if run["kind"] == "call_ended":
        reason = run.get("disconnectionReason") or "no reason"
        return f"call {run['callId']} ended: {run.get('status')} ({reason})"
    attempt = run.get("attempt") or 1
    what = f"retry {attempt - 1} of" if attempt > 1 else "first attempt of"
    target = run.get("url") or "the webhook"
    head = f"{what} {run.get('eventType')} {run.get('deliveryId')} to {target}"
    if run.get("errorMessage") is None and 200 <= (run.get("httpStatus") or 0) < 300:
        return f"{head}: delivered (HTTP {run['httpStatus']})"
    why = run.get("errorMessage") or f"HTTP {run.get('httpStatus')}"
    then = f"retry at {run['retryAt']}" if run.get("retryAt") else "not retried"
    return f"{head}: failed: {why}, {then}"


def describe_call(answer: dict[str, Any], steps: int) -> list[str]:
    """A call as lines: who said what (each agent reply to the caller with its first-chunk
    latency), then each finding, then how the call stands."""
    lines: list[str] = []
    replies: list[dict[str, Any]] = answer.get("replies") or []
    if replies:
        # A key press is a turn whose transcript is the digits; the caller's presses, in order, tell
        # a press from someone saying "one two".
        presses = [p["digits"] for p in answer.get("keyPresses") or [] if p.get("by") == "user"]
        for reply in replies:
            agent = "agent"
            if reply["mode"] in ("webhook", "hosted"):  # an answer to the caller, not the greeting
                if presses and reply["utterance"] == presses[0]:
                    lines.append(f"caller presses {presses.pop(0)}")
                else:
                    lines.append(f"caller: {reply['utterance']}")
                if reply.get("firstChunkMs") is not None:
                    agent = f"agent ({_milliseconds(reply['firstChunkMs'])})"
            elif reply["mode"] == "voicemail":
                lines.append(f"caller: {reply['utterance']}")
            lines.append(f"{agent}: {reply['text'] or '(silence)'}{_reply_marks(reply)}")
    else:  # a call read after it ended: only its transcript is left
        for turn in answer.get("transcript") or []:
            role = "caller" if turn["role"] == "user" else "agent"
            lines.append(f"{role}: {turn['content']}")
    lines += [f"[{f['code']}] {f['message']}" for f in answer.get("findings") or []]
    state = "live" if answer.get("live") else answer.get("disconnectionReason") or "no reason"
    last = f"call {answer['callId']} {answer['status']} ({state})"
    if answer.get("transferredTo"):
        last += f", transferred to {answer['transferredTo']}"
    stopped = answer.get("stoppedAt")
    if stopped is not None:
        last += f"; steps {stopped + 1}-{steps} not run: the call had ended"
    lines.append(last)
    return lines


def _reply_marks(reply: dict[str, Any]) -> str:
    marks = []
    if reply.get("digits"):
        marks.append(f"presses {reply['digits']}")
    if reply.get("state") == "interrupted":
        marks.append("cut off")
    if reply.get("transfer"):
        marks.append("transfers")
    if reply.get("hangup"):
        marks.append("hangs up")
    return "".join(f" [{mark}]" for mark in marks)


def describe_sms(answer: dict[str, Any], wait: float) -> list[str]:
    """The text and its delivery, then the agent's texts back (waited for when the webhook took
    it: saying none came is news; after a failed delivery it is not)."""
    message = answer["message"]
    delivery = answer.get("delivery")
    lines = [f"sms {message['id']} {message['from']} -> {message['to']}: {describe_delivery(delivery)}"]
    replies: list[dict[str, Any]] = answer.get("replies") or []
    lines += [f"agent: {reply['body']}" for reply in replies]
    if not replies and delivery is not None and delivery.get("status") == "success":
        lines.append(f"agent: (no text back within {wait:g} s)")
    return lines


def summarize(args: argparse.Namespace, answer: dict[str, Any]) -> list[str]:
    """What the emulator answered to ``args.event``, as lines for a person."""
    if args.event == "call":
        return describe_call(answer, len(args.steps))
    if args.event == "sms":
        return describe_sms(answer, args.wait)
    if args.event == "reaction":
        return [
            f"reaction {answer['reactionType']} from {answer['fromNumber']} on {answer['messageId']}: "
            f"{describe_delivery(answer.get('delivery'))}"
        ]
    return describe_clock("advanced" if args.event == "advance" else "fast-forwarded", answer)


def run(args: argparse.Namespace) -> int:
    base_url = _emulator_url(args.url)
    api_key = args.api_key or os.environ.get(EMULATOR_KEY_ENV)
    if not api_key:
        raise UsageError(
            f"no API key: pass --api-key or set ${EMULATOR_KEY_ENV} (serve prints its key on the ready line)"
        )
    method, path, body = _request_for(args)
    answer = call_control_plane(base_url, api_key, method, path, body)
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    try:
        print("\n".join(summarize(args, answer)))
    except (KeyError, TypeError, AttributeError):
        raise UsageError(f"{base_url} did not answer like an AgentPhone emulator") from None
    return 0
