"""Call recordings in the voices of the call (with the speech extra): the agent's side in the Piper
voice, the caller's in the voice the caller spoke with (a spoken scenario's or test's ``voice``,
else the Piper voice too, as a spoken caller's default is). The server hands this to the voice
engine; ``engine/recording.py`` falls back to espeak-ng, then tones, for what it cannot say.

The voices are the process's spoken caller's (:func:`~.spoken.shared_caller`), so a voice a
scenario's caller already loaded is not loaded again. Importing this module loads nothing: the
Piper voice loads (about 0.8 s) on the first recording that needs it, in the recording's thread.
"""

from __future__ import annotations

from functools import cache

from ..engine.recording import Utterance
from .voices import piper_installed


class CallVoices:
    """:class:`~agentphone_emulator.engine.recording.RecordingVoices` with the installed voices."""

    def available(self) -> bool:
        return piper_installed()

    def speak(self, utterance: Utterance) -> bytes:
        from .spoken import shared_caller

        caller = shared_caller()
        name = utterance.voice if utterance.role == "user" else None
        return caller.voice_for(name).speak(utterance.text)


@cache
def call_voices() -> CallVoices | None:
    """The recordings' voices when the speech extra's Piper is installed, else None (espeak-ng)."""
    voices = CallVoices()
    return voices if voices.available() else None
