"""``mic --record``: what a call by voice becomes as a scenario. Whatever the recogniser heard,
the file loads with the scenario loader, and it says what the agent did turn by turn. (The
recording of a real call, replayed against the real agent, is in test_mic_command.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from agentphone_emulator.models.agents import AgentOut
from agentphone_emulator.models.control import CallSimOut, ChunkOut, ReplyOut
from agentphone_emulator.scenario.loader import load_text
from agentphone_emulator.speech.call_record import MicResult, Utterance
from agentphone_emulator.speech.scenario_writer import agent_setup, scenario_document

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def reply(turn: int, text: str, state: str = "done", **extra: Any) -> ReplyOut:
    chunk = ChunkOut(
        text=text,
        spoken=text,
        interim=False,
        latency_ms=20.0,
        arrived_at=T0,
        starts_at=T0 + timedelta(seconds=turn * 10),
        ends_at=T0 + timedelta(seconds=turn * 10 + 2),
    )
    fields: dict[str, Any] = {
        "turn": turn,
        "utterance": "",
        "mode": "webhook",
        "state": state,
        "text": text,
        "first_chunk_ms": 20.0,
        "last_chunk_ms": 20.0,
        "digits": "",
        "hangup": False,
        "transfer": False,
        "interrupted_at": None,
        "http_status": 200,
        "delivery_id": None,
        "chunks": [chunk] if text else [],
        "findings": [],
        **extra,
    }
    return ReplyOut(**fields)


def call(reason: str, live: bool = False) -> CallSimOut:
    return CallSimOut(
        call_id="call_1",
        status="in-progress" if live else "completed",
        live=live,
        disconnection_reason=None if live else reason,
        transferred_to=None,
        replies=[],
        transcript=[],
        key_presses=[],
        findings=[],
    )


def agent(**fields: Any) -> AgentOut:
    base: dict[str, Any] = {
        "id": "agt_1",
        "name": "Mic",
        "description": None,
        "voiceMode": "webhook",
        "modelTier": "balanced",
        "systemPrompt": None,
        "beginMessage": None,
        "voice": "alloy",
        "transferNumber": None,
        "voicemailMessage": None,
        "sttMode": "fast",
        "ambientSound": "none",
        "denoisingMode": "noise-cancellation",
        "maxSilenceMs": 600_000,
        "enableMessaging": False,
        "enableBackchannel": False,
        "interruptionSensitivity": 0.5,
        "voiceSpeed": 1.0,
        "language": "en-US",
        "customTools": None,
        "callScreeningIdentity": None,
        "callScreeningPurpose": None,
        "numbers": [],
        "createdAt": T0,
        "updatedAt": T0,
    }
    return AgentOut.model_validate({**base, **fields})


def result(utterances: list[Utterance], replies: list[ReplyOut], reason: str) -> MicResult:
    return MicResult(
        call=call(reason),
        utterances=utterances,
        timings={},
        replies={r.turn: r for r in replies},
        ended_by="agent",
    )


def test_a_call_becomes_turns_with_what_the_agent_did() -> None:
    utterances = [
        Utterance("what are your hours", 1.0, 2.0, turn=1),
        Utterance("goodbye", 6.0, 6.5, turn=2, barged_in=True, cut_turn=1, cut_after=2.4),
    ]
    replies = [
        reply(0, "Acme support."),
        reply(1, "We're open Monday to Friday.", "interrupted"),
        reply(2, "Thanks for calling Acme. Goodbye!", hangup=True),
    ]
    text = scenario_document(
        result(utterances, replies, "agent_hangup"),
        agent=agent(beginMessage="Acme support."),
        replay_command="agentphone-emulator run call.yaml --app examples.support_agent:app",
        stt_name="pocketsphinx",
        now=T0,
    )
    assert text.startswith("# Recorded by `agentphone-emulator mic` on 2026-11-21 12:00 UTC")
    assert "# Replay: agentphone-emulator run call.yaml --app examples.support_agent:app" in text
    [loaded] = load_text(text, "call.yaml")
    scenario = loaded.scenario.model_dump(exclude_none=True, exclude_defaults=True)
    assert scenario["setup"]["agents"] == {"agent": {"beginMessage": "Acme support."}}
    assert scenario["greeting"] == {"text": "Acme support."}
    turns = scenario["turns"]
    assert turns[0] == {"say": "what are your hours", "expect": {"interrupted": True}}
    assert turns[1] == {
        "interrupt": "goodbye",
        "after": 2.4,
        "expect": {"text": "Thanks for calling Acme. Goodbye!", "hangup": True},
    }
    assert len(turns) == 2  # the agent hung up: no hangup turn of the caller's
    assert scenario["call_expect"] == {"status": "completed", "reason": "agent_hangup"}


def test_a_caller_who_hung_up_ends_with_a_hangup_turn_and_silent_replies_say_so() -> None:
    utterances = [Utterance("hello", 1.0, 1.5, turn=1)]
    text = scenario_document(
        result(utterances, [reply(1, "", "silent")], "user_hangup"),
        agent=None,
        replay_command="r",
        stt_name="vosk",
    )
    [loaded] = load_text(text)
    turns = loaded.scenario.model_dump(exclude_none=True, exclude_defaults=True)["turns"]
    assert turns == [{"say": "hello", "expect": {"silent": True}}, {"hangup": True}]


def test_only_fields_that_change_a_call_and_differ_from_a_new_agents_are_kept() -> None:
    assert agent_setup(agent()) == {}
    assert agent_setup(agent(voiceSpeed=1.5, transferNumber="+14155550199", voice="nova")) == {
        "voiceSpeed": 1.5,
        "transferNumber": "+14155550199",
    }


# What a recogniser can hand back: words, digits, apostrophes, the odd symbol YAML cares about.
words = st.text(
    alphabet=st.sampled_from(list("abcdefghijklmnopqrstuvwxyz0123456789 '-:#&*!?\"ûéß")),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip())


@given(said=st.lists(words, min_size=1, max_size=5), answers=st.lists(words, min_size=1, max_size=5))
def test_whatever_was_heard_and_answered_the_recording_loads_and_says_it_back(
    said: list[str], answers: list[str]
) -> None:
    utterances = [Utterance(text, i * 5.0, i * 5.0 + 1, turn=i + 1) for i, text in enumerate(said)]
    replies = [reply(i + 1, answers[i % len(answers)]) for i in range(len(said))]
    text = scenario_document(
        result(utterances, replies, "user_hangup"), agent=None, replay_command="r", stt_name="x"
    )
    [loaded] = load_text(text)
    turns = loaded.scenario.model_dump(exclude_none=True, exclude_defaults=True)["turns"]
    assert [t["say"] for t in turns[:-1]] == said
    assert [t["expect"]["text"] for t in turns[:-1]] == [r.text for r in replies]
