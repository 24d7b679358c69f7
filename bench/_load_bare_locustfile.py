"""The baseline load_bench.py compares a simulated caller with: a bare Locust FastHttpUser that
POSTs the same signed voice-turn body the emulator sends (captured from a real run, in
$LOAD_BENCH_BODY) to the agent and reads the reply, at $LOAD_BENCH_RATE requests per second per
user (the callers' own turn rate), so both sides make the same requests at the same pace."""

from __future__ import annotations

import json
import os

from locust import FastHttpUser, constant_throughput, task

with open(os.environ["LOAD_BENCH_BODY"], "rb") as f:
    CAPTURED = json.load(f)
BODY = CAPTURED["body"].encode()
HEADERS = CAPTURED["headers"]


class BareTurns(FastHttpUser):
    wait_time = constant_throughput(float(os.environ.get("LOAD_BENCH_RATE", "1")))

    @task
    def turn(self) -> None:
        self.client.post("/", data=BODY, headers=HEADERS, name="turn")
