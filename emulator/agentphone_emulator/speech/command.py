"""``agentphone-emulator voices``: every voice installed on this machine (speech/catalog.py), with its
engine, language, sample rate, licence and the package it came from: what a spoken scenario's
``voice:`` (and ``call.say(..., voice=)``) may name. English voices unless ``--all`` (the recogniser
is English); ``--json`` for a program."""

from __future__ import annotations

import argparse
import sys

from ..command_line import stdout_closed

COLUMNS = ("name", "engine", "language", "rate", "licence", "source", "detail")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "voices",
        help="list the voices installed here (Piper, flite, espeak-ng) a spoken caller can speak with",
        description="Every voice installed on this machine that a spoken scenario's `voice:` can name: "
        "Piper voices from Python packages (the speech extra's joe voice), flite's and espeak-ng's from "
        "their Debian packages. Nothing is downloaded.",
    )
    parser.add_argument("--all", action="store_true", help="every language, not only English")
    parser.add_argument("--json", action="store_true", help="one JSON array of the voices")


def run(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    from .catalog import espeak_variants, installed_voices, is_english

    voices = [v for v in installed_voices() if args.all or is_english(v)]
    try:
        if args.json:
            print(json.dumps([asdict(v) for v in voices], indent=2))
            return 0
        rows = [COLUMNS] + [
            (v.name, v.engine, v.language, str(v.sample_rate), v.licence, v.source, v.detail) for v in voices
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
        for row in rows:
            print(
                "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
                + "  "
                + row[-1]
            )
        if not any(v.engine == "piper" for v in voices):
            from .install import SPEECH_EXTRA_INSTALL

            print(f"\nNo Piper voice is installed: {SPEECH_EXTRA_INSTALL}")
        variants = espeak_variants()
        if variants and any(v.engine == "espeak" for v in voices):
            print(f"\nespeak-ng variants, as espeak:VOICE+VARIANT (espeak:en-us+f3): {' '.join(variants)}")
        hidden = len(installed_voices()) - len(voices)
        if hidden:
            print(f"{hidden} voices in other languages: --all lists them")
        print("\nA spoken scenario names one as `voice:` beside `speech: synthesised`.")
    except BrokenPipeError:
        return stdout_closed()
    sys.stdout.flush()
    return 0
