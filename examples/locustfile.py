"""Load-test your agent with Locust directly (docs/load.md):

    pip install 'agentphone-emulator[load]'
    locust -f examples/locustfile.py --host http://127.0.0.1:8000/webhook \
           --headless --users 50 --spawn-rate 10 --run-time 2m

``--host`` is your agent's webhook URL. Each simulated caller plays the scenario files' calls
(texters their texts) with a number of its own, on the real clock; each reply's first and last
chunk, call setup, SMS delivery and every contract finding (a failure, named by its code) are
Locust requests, in the web UI, ``--csv`` and ``--html``. Workers: ``--processes 4``, or
``--master`` here and ``--worker --master-host H`` on other machines (each with the scenarios).
Sign turns as your agent expects: ``AGENTPHONE_WEBHOOK_SECRET=whsec_...``.
"""

from __future__ import annotations

from pathlib import Path

from locust import between

from agentphone_emulator.load import Texter, VoiceCaller

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


class Caller(VoiceCaller):
    scenario_files = [str(SCENARIOS / "voice_support.yaml")]
    wait_time = between(1, 3)  # between one caller's calls
    weight = 4


class SmsUser(Texter):
    scenario_files = [str(SCENARIOS / "sms.yaml")]
    wait_time = between(2, 5)
    weight = 1
