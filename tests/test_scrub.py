"""import-call's scrubbing, property-tested: no phone number or email of the input survives, the
same value (however written) maps to the same fake, and the fakes are valid where they go; and
any agent.call_ended payload imports as a scenario that loads."""

from __future__ import annotations

import re
from datetime import UTC

from hypothesis import given, settings
from hypothesis import strategies as st

from agentphone_emulator.phone import normalize_e164
from agentphone_emulator.regressions.call_sources import from_payload_data
from agentphone_emulator.regressions.scenario_yaml import imported_file
from agentphone_emulator.regressions.scrub import luhn_valid, scrub_document
from agentphone_emulator.regressions.timeline import build
from agentphone_emulator.scenario.loader import load_text

FILLER = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ,.?!", max_size=20)

# A North American number: NXX-NXX-XXXX (area code and exchange start 2-9).
NANP = st.tuples(
    st.from_regex(r"[2-9][0-9]{2}", fullmatch=True),
    st.from_regex(r"[2-9][0-9]{2}", fullmatch=True),
    st.from_regex(r"[0-9]{4}", fullmatch=True),
)
FORMATS = (
    "+1{a}{e}{n}",
    "({a}) {e}-{n}",
    "{a}-{e}-{n}",
    "{a}.{e}.{n}",
    "{a} {e} {n}",
    "1-{a}-{e}-{n}",
    "+1 {a} {e} {n}",
    "{a}{e}{n}",
)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(NANP, st.sampled_from(FORMATS), FILLER), min_size=1, max_size=4),
    st.lists(st.emails(), max_size=3),
    FILLER,
)
def test_no_phone_number_or_email_survives(
    phones: list[tuple[tuple[str, str, str], str, str]], emails: list[str], tail: str
) -> None:
    parts = [f"{filler} {fmt.format(a=a, e=e, n=n)} " for (a, e, n), fmt, filler in phones]
    parts += [f" {email} " for email in emails]
    text = "".join(parts) + tail
    out = scrub_document({"said": text})["said"]
    for (a, e, n), _fmt, _filler in phones:
        # Not as written, and not as digits anywhere (the filler has none; fakes are 555-01XX,
        # which no NXX-NXX number's digits can be part of across two fakes).
        assert a + e + n not in _digits(out), (text, out)
    for email in emails:
        assert email.lower() not in out.lower(), (text, out)


@settings(max_examples=50, deadline=None)
@given(NANP, st.sampled_from(FORMATS), st.sampled_from(FORMATS), st.emails())
def test_the_same_value_is_the_same_fake_however_written(
    number: tuple[str, str, str], one: str, other: str, email: str
) -> None:
    a, e, n = number
    document = {
        "call": {"from": f"+1{a}{e}{n}"},
        "turns": [
            {"say": f"call me on {one.format(a=a, e=e, n=n)} or mail {email}"},
            {"say": f"again: {other.format(a=a, e=e, n=n)}, {email.upper()}"},
        ],
    }
    out = scrub_document(document)
    fake = out["call"]["from"]
    assert normalize_e164(fake) == fake and fake != f"+1{a}{e}{n}"  # a valid E.164 number, not the real one
    first, second = (turn["say"] for turn in out["turns"])
    assert fake[-10:] in _digits(first) and fake[-10:] in _digits(second)
    fake_email = re.search(r"\S+@example\.com", first)
    assert fake_email is not None and fake_email.group().lower() in second.lower()
    assert out == scrub_document(document)  # and the same on every run


@settings(max_examples=50, deadline=None)
@given(st.from_regex(r"[0-9]{16}", fullmatch=True), st.from_regex(r"[A-Z]-[0-9]{4}", fullmatch=True))
def test_cards_and_orders_keep_their_shape(card: str, order: str) -> None:
    spaced = " ".join(card[i : i + 4] for i in range(0, 16, 4))
    out = scrub_document([f"card {spaced} order {order}", f"order {order.lower()} card {card}"])
    fake_spaced = out[0].split()[1:5]
    assert [len(group) for group in fake_spaced] == [4, 4, 4, 4]
    assert "".join(fake_spaced) != card and luhn_valid("".join(fake_spaced))
    assert "".join(fake_spaced) == out[1].split()[-1]  # however written, one fake
    fake_order = out[0].split()[-1]
    assert re.fullmatch(r"[A-Z]-[0-9]{4}", fake_order) and fake_order != order
    assert out[1].split()[1] == fake_order.lower()


def test_keys_and_ids_are_left_alone() -> None:
    document = {"press": "1", "name": "imported call call_d27ebd34880eb885e5933885", "after": 2.2}
    assert scrub_document(document) == document


TURNS = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "agent"]), "content": st.text(max_size=40)},
        optional={"createdAt": st.datetimes(timezones=st.none() | st.just(UTC)).map(lambda d: d.isoformat())},
    ),
    max_size=8,
)


@settings(max_examples=50, deadline=None)
@given(
    TURNS,
    st.sampled_from(["inbound", "outbound", "web", "sideways"]),
    st.sampled_from([None, "user_hangup", "agent_hangup", "call_transfer", "inactivity", "made_up"]),
    st.text(max_size=20),
)
def test_any_call_ended_payload_imports_as_a_scenario_that_loads(
    transcript: list[dict[str, str]], direction: str, reason: str | None, number: str
) -> None:
    """Whatever the transcript holds (braces, YAML syntax, empty lines, times far apart or without a
    zone, reasons the emulator does not know), the scenario written loads: never a crash."""
    data = {
        "callId": "call_1",
        "from": number,
        "to": "+14155550100",
        "direction": direction,
        "status": "completed",
        "disconnectionReason": reason,
        "transcript": transcript,
    }
    call = from_payload_data({"event": "agent.call_ended", "data": data}, "payload")
    for scrub in (True, False):
        text = imported_file([build(call)], "payload", "now", scrub=scrub)
        load_text(text, "imported.yaml")
