"""Audio in and out for microphone mode: WAV files and sound devices behind one small interface.

Inside the pipeline audio is always mono, signed 16-bit little-endian PCM at :data:`SAMPLE_RATE`
(16 kHz), in blocks of :data:`BLOCK_FRAMES` (20 ms): what the speech recognisers take and what the
synthesiser is resampled to. The edges convert: a WAV file of any PCM or float encoding, channel
count and rate is read as that; a device that will not open at 16 kHz mono is opened at its own rate
(and in stereo if it must) and converted both ways, by linear interpolation fed block by block.

Two properties make a file or a virtual device behave like a microphone and a speaker:

- **Pacing.** A WAV file, or an ALSA ``type file`` device (what CI uses for a virtual microphone and
  speaker), has no clock: it delivers and takes frames as fast as it is asked. A :class:`Pacer` holds
  block *n* back until ``start + (n + 1) * 20 ms`` of wall time, so a call through a file runs at the
  pace of a real one. A real device already delivers at that pace, so there the pacer never sleeps.
  ``realtime=False`` turns it off (unit tests, the STT benchmark).
- **Bounded memory.** Input is a pull: :meth:`DeviceSource.read` is a blocking read of one block from
  PortAudio's fixed-size buffer, with no queue of ours, so a device that delivers faster than real
  time is simply read no further than we consume. A WAV file is read a block at a time, not loaded.

numpy and sounddevice are imported when a source or sink is made, not with this module, so the CLI
can import it without the audio extra and say in one line what is missing (:class:`AudioError`).
"""

from __future__ import annotations

from .devices import (
    DeviceInfo,
    DeviceSink,
    DeviceSource,
    format_devices,
    list_devices,
    parse_device,
)
from .interface import (
    AUDIO_EXTRA_HINT,
    BLOCK_BYTES,
    BLOCK_FRAMES,
    BLOCK_SECONDS,
    DEVICE_LEAD_SECONDS,
    MAX_LAG_SECONDS,
    NO_MICROPHONE,
    NO_SPEAKER,
    PORTAUDIO_HINT,
    SAMPLE_RATE,
    SAMPLE_WIDTH,
    WAV_HEADER_EVERY_FRAMES,
    AudioError,
    AudioSink,
    AudioSource,
    Pacer,
)
from .wav import (
    WavSink,
    WavSource,
)

# -- choosing -------------------------------------------------------------------------------------


def open_source(*, wav: str | None, device: int | str | None, realtime: bool = True) -> AudioSource:
    """The microphone the CLI asked for: ``--input-wav FILE`` or else ``--input-device`` (None: the
    default input device)."""
    if wav is not None and device is not None:
        raise AudioError("give --input-wav or --input-device, not both")
    if wav is not None:
        return WavSource(wav, realtime=realtime)
    return DeviceSource(device, realtime=realtime)


def open_sink(*, wav: str | None, device: int | str | None, realtime: bool = True) -> AudioSink:
    """The speaker the CLI asked for: ``--output-wav FILE`` or else ``--output-device`` (None: the
    default output device)."""
    if wav is not None and device is not None:
        raise AudioError("give --output-wav or --output-device, not both")
    if wav is not None:
        return WavSink(wav, realtime=realtime)
    return DeviceSink(device, realtime=realtime)


__all__ = [
    "AUDIO_EXTRA_HINT",
    "BLOCK_BYTES",
    "BLOCK_FRAMES",
    "BLOCK_SECONDS",
    "DEVICE_LEAD_SECONDS",
    "MAX_LAG_SECONDS",
    "NO_MICROPHONE",
    "NO_SPEAKER",
    "PORTAUDIO_HINT",
    "SAMPLE_RATE",
    "SAMPLE_WIDTH",
    "WAV_HEADER_EVERY_FRAMES",
    "AudioError",
    "AudioSink",
    "AudioSource",
    "DeviceInfo",
    "DeviceSink",
    "DeviceSource",
    "Pacer",
    "WavSink",
    "WavSource",
    "format_devices",
    "list_devices",
    "open_sink",
    "open_source",
    "parse_device",
]
