"""LoadEmulator: the Emulator as a load run needs it, on the real clock, shared by every
simulated caller of a worker process. It times the actions that set up a call or a text for the
play that made them, and settles only what is in flight when asked (under load new deliveries
start all the time, so waiting for none at all could wait for ever)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from ..call_handle import CallHandle
from ..engine.sms import Received
from ..engine.voice import DEFAULT_CALLER
from ..server import Emulator
from ..store.records import DeliveryRecord
from . import measurements
from .measurements import CALL, SMS


class LoadEmulator(Emulator):
    async def aring(self, *, to: str, from_: str = DEFAULT_CALLER) -> CallHandle:
        started = time.perf_counter()
        handle = await super().aring(to=to, from_=from_)
        _record_call(handle, started)
        return handle

    async def ajoin_web_call(self, access_token: str) -> CallHandle:
        started = time.perf_counter()
        handle = await super().ajoin_web_call(access_token)
        _record_call(handle, started)
        return handle

    async def asend_sms(
        self, *, from_: str, to: str, body: str = "", media_urls: Sequence[str] = ()
    ) -> Received:
        started = time.perf_counter()
        received = await super().asend_sms(from_=from_, to=to, body=body, media_urls=media_urls)
        recorder = measurements.current.get()
        delivery: DeliveryRecord | None = received.delivery
        if recorder is not None:
            wall_ms = (time.perf_counter() - started) * 1000
            if delivery is None:
                recorder.add(SMS, "sms delivery", wall_ms, failure="no webhook for the text")
            else:
                recorder.delivery_ids.add(delivery.id)
                attempt = delivery.attempts[-1] if delivery.attempts else None
                agent_ms = attempt.duration_ms if attempt is not None else wall_ms
                failure = None
                if delivery.status == "failed" or (delivery.http_status or 200) >= 300:
                    what = f"HTTP {delivery.http_status}" if delivery.http_status else delivery.error_message
                    failure = f"delivery failed: {what or 'no answer'}"
                recorder.add(SMS, "sms delivery", agent_ms, len(body.encode()), failure)
                recorder.add(measurements.EMULATOR, "sms added", max(0.0, wall_ms - agent_ms))
        return received

    async def asettle(self) -> None:
        """Wait for the deliveries in flight now (not for those started while waiting)."""
        dispatcher = self.platform.dispatcher

        async def settle_now() -> None:
            in_flight = list(dispatcher._in_flight)
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)

        await self.on_own_loop(settle_now)


def _record_call(handle: CallHandle, started: float) -> None:
    recorder = measurements.current.get()
    if recorder is not None:
        recorder.call_ids.append(handle.id)
        recorder.add(CALL, "call setup", (time.perf_counter() - started) * 1000)
