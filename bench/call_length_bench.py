"""Calls that will not stop: callers who talk every nine minutes for three hours, recorded, on a
virtual clock. Printed per call: how long it lasted, why it ended, its recording's length and
bytes; then the recordings held in all and the process's peak resident memory.

    python bench/call_length_bench.py [--calls 4] [--hours 3]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import resource
import sys
import time
import wave
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/voice_agent.py

from agentphone import AsyncAgentPhone

from agentphone_emulator import AccountSettings, Emulator, VirtualClock
from agentphone_emulator.engine.call_protocols import CallEnded
from tests.voice_agent import VoiceAgent

GAP_SECONDS = 540  # inside the agent's 10-minute maxSilenceMs: inactivity never ends these calls


async def run(calls: int, hours: float) -> None:
    settings = AccountSettings(credit_cents=1_000_000, recording_addon=True)
    table = Table(title=f"{calls} calls, each caller talking every {GAP_SECONDS // 60} min for {hours:g} h")
    for column in ("call", "lasted s", "reason", "recording s", "recording MB"):
        table.add_column(column, justify="right")
    started = time.perf_counter()
    held = 0
    async with Emulator(clock=VirtualClock(), settings=settings) as emu:
        sdk = AsyncAgentPhone(api_key=emu.api_key, base_url=emu.base_url)
        agent = VoiceAgent()
        emu.mount("http://agent.test", agent.app())
        created = await sdk.agents.create(name="Chatty", begin_message="Hello.", max_silence_ms=600_000)
        number = await sdk.numbers.buy(agent_id=created.id)
        emu.set_webhook("http://agent.test/voice", secret=agent.secret)
        for index in range(calls):
            call = await emu.aring(to=number.phone_number, from_=f"+1415555{index:04d}")
            begun = emu.clock.now()
            try:
                while call.live and (emu.clock.now() - begun).total_seconds() < hours * 3600:
                    await call.asay("Still there?")
                    await call.asilence(GAP_SECONDS)
                if call.live:
                    await call.ahangup()
            except CallEnded:
                pass
            await emu.asettle()
            record = emu.account().calls[call.id]
            assert record.ended_at is not None and record.recording is not None
            with wave.open(io.BytesIO(record.recording)) as wav:
                seconds = wav.getnframes() / wav.getframerate()
            held += len(record.recording)
            table.add_row(
                str(index + 1),
                f"{(record.ended_at - record.started_at).total_seconds():.0f}",
                str(record.disconnection_reason),
                f"{seconds:.0f}",
                f"{len(record.recording) / 1e6:.0f}",
            )
        await sdk.close()
        peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    console = Console()
    console.print(table)
    console.print(
        f"recordings held: {held / 1e6:.0f} MB; peak resident memory {peak_rss:.0f} MB; "
        f"{time.perf_counter() - started:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--hours", type=float, default=3.0)
    args = parser.parse_args()
    asyncio.run(run(args.calls, args.hours))


if __name__ == "__main__":
    main()
