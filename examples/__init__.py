"""Example agents built on AgentPhone, runnable against the emulator or the real platform."""
