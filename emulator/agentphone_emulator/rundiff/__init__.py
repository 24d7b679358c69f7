"""``agentphone-emulator diff RUN_A.json RUN_B.json``: two runs' JSON reports of the same scenarios,
compared (outcomes, replies word by word, latency percentiles, findings new and fixed)."""
