"""The call's audio WebSocket on ``agentphone-emulator serve`` as a user starts it, with the example
support agent as its webhook: a browser-like client rings through the control plane, talks (flite
speech, paced to real time), hears the agent's answer and its goodbye, and the agent's hangup closes
the socket. And ``serve --stt``'s mistakes are one line, exit 2."""

from __future__ import annotations

import subprocess

import aiohttp
import pytest

from tests.browser_audio_client import AudioClient
from tests.mic_support import CLI, ROOT, clean_env, flite_pcm, need_audio_extra, silence, voiced_seconds
from tests.test_mic_targets import SERVE_KEY, serving

GREETING = "Acme support."


async def test_a_served_emulator_hears_the_browser_and_the_agents_hangup_closes_the_socket(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    need_audio_extra()
    folder = tmp_path_factory.mktemp("speech")
    question, goodbye = flite_pcm("Where is my order?", folder), flite_pcm("Goodbye.", folder)
    with serving(tmp_path_factory, "--stt", "pocketsphinx") as base_url:
        headers = {"Authorization": f"Bearer {SERVE_KEY}"}
        async with aiohttp.ClientSession(base_url=base_url, headers=headers) as http:
            async with http.post("/v1/agents", json={"name": "Acme", "beginMessage": GREETING}) as made:
                agent = await made.json()
            async with http.post("/v1/numbers", json={"agentId": agent["id"]}) as bought:
                number = (await bought.json())["phoneNumber"]
            async with http.post("/__emulator/calls", json={"to": number}) as rung:
                call_id = (await rung.json())["callId"]
        async with AudioClient(base_url, call_id) as client:
            await client.start(SERVE_KEY)
            await client.until(lambda h: "ready" in h.kinds(), "ready")
            await client.stream(silence(2.0) + question + silence(1.0))
            await client.until(
                lambda h: any("A-1042" in r["text"] for r in h.of("reply")), "the order's status"
            )
            # The answer is ~6.5 s of speech (espeak-ng reads A-1042 as five words): the goodbye comes
            # after it, as a polite caller's.
            await client.stream(silence(8.0) + goodbye + silence(1.0))
            await client.until(lambda h: "ended" in h.kinds(), "the agent's hangup", guard=90)
            await client.closed.wait()
        heard = client.heard
        assert [u["text"] for u in heard.of("utterance")] == ["where is my order", "goodbye"]
        replies = [r["text"] for r in heard.of("reply")]
        assert replies[0] == GREETING and "Let me check on that." in replies
        assert replies[-1] == "Thanks for calling Acme. Goodbye!"
        assert "bargeIn" not in heard.kinds()
        assert heard.of("ended") == [{"type": "ended", "reason": "agent_hangup", "status": "completed"}]
        assert heard.close_code == 1000
        # The goodbye's speech came before the end: the page plays the agent's last words (its first
        # sentence, then the rest: the frames after the last reply frame).
        last_reply = len(heard.order) - heard.order[::-1].index("reply")
        goodbye_frames = heard.order[last_reply:].count("audio")
        assert goodbye_frames >= 1
        assert voiced_seconds(b"".join(heard.audio[-goodbye_frames:])) > 1.0
        assert heard.order[-2:] == ["audio", "ended"]


@pytest.mark.parametrize(
    "flags, says",
    [
        (["--stt", "klingon"], "--stt must be one of auto, whisper, vosk, pocketsphinx, not 'klingon'"),
        (["--stt", "vosk", "--vosk-model", "/no/such/model"], "Vosk model /no/such/model: no such directory"),
        (["--stt", "pocketsphinx", "--vosk-model", "/tmp"], "--vosk-model is for --stt vosk"),
    ],
)
def test_serve_speech_flag_mistakes_are_one_line_and_exit_2(flags: list[str], says: str) -> None:
    done = subprocess.run(
        [*CLI, "serve", "--port", "0", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert says in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
