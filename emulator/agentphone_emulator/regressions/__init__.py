"""Real traffic in: a call from the platform (or a saved ``agent.call_ended``, or a recorded mic or
console session) as a scenario (``import-call``), and a fidelity diff between the emulator and an
AgentPhone-compatible service (``compare``). See docs/regressions.md."""
