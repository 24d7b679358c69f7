"""The caller's audio through a telephone line (``mic --line PROFILE``): what the platform's
recogniser would hear of your microphone over a landline, a weak mobile signal or a café's
speakerphone (profiles in ``agentphone_emulator.speech.profiles``)."""

from __future__ import annotations

from ..speech.line import LineModel
from .audio import AudioSource


class LineSource:
    """An :class:`~.audio.AudioSource` whose blocks have crossed ``line`` (same size, same rate)."""

    def __init__(self, source: AudioSource, line: LineModel) -> None:
        if source.sample_rate != 16000:
            raise ValueError(f"the line model takes 16 kHz audio, not {source.sample_rate} Hz")
        self.source = source
        self.line = line
        self.sample_rate = source.sample_rate

    def read(self) -> bytes | None:
        block = self.source.read()
        return None if block is None else self.line.process(block)

    def close(self) -> None:
        self.source.close()
