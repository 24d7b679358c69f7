"""``agentphone-emulator mic``'s entry in the command registry: its parser (arguments.py's flags) and
``run``, which starts the browser's call (browser_command.py) or the microphone's (command.py), both
imported by ``run`` only. Not in arguments.py: both commands import that for the values its flags
show, and it would import them back."""

from __future__ import annotations

import argparse

from .arguments import add_mic_arguments


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "mic",
        help="talk to your agent by voice: microphone, local speech recognition and speech (offline)",
        description="Call your agent through the emulator and talk: the microphone is recognised "
        "locally (Vosk or pocketsphinx), the agent's replies are spoken (pyttsx3) as they stream, "
        "talking over the agent interrupts it, and the terminal shows the transcript, each turn's "
        "latency and the findings. Ctrl-C hangs up. Needs the audio extra: pip install "
        "'agentphone-emulator[audio]' (and, on Debian/Ubuntu, apt-get install espeak-ng libportaudio2).",
        epilog="Exit codes: 0 the call ran; 1 the microphone failed part way; 2 a usage error, or no "
        "microphone, speaker, recogniser model or synthesiser.",
    )
    add_mic_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.browser:  # without mic mode's own audio pipeline, which it does not use
        from .browser_command import browser_command

        return browser_command(args)
    from .command import mic_command

    return mic_command(args)
