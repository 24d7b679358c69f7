"""The environment an agent reads to reach the platform: where the API is, its key, and the secret
webhooks are signed with. In production these point at AgentPhone; while an in-process agent runs
against the emulator (``run --app``, the pytest plugin) they point at the emulator."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager

BASE_URL_ENV = "AGENTPHONE_BASE_URL"
KEY_ENV = "AGENTPHONE_API_KEY"
SECRET_ENV = "AGENTPHONE_WEBHOOK_SECRET"
AGENT_ENV = (BASE_URL_ENV, KEY_ENV, SECRET_ENV)

# Where the CLI finds a running emulator (`trigger`, `mic --agent-id`) and the key `run` starts
# one with: the emulator's own variables, not the agent's.
EMULATOR_URL_ENV = "AGENTPHONE_EMULATOR_URL"
EMULATOR_KEY_ENV = "AGENTPHONE_EMULATOR_API_KEY"
DEFAULT_EMULATOR_URL = "http://127.0.0.1:8787"  # serve's default port
# Where a running emulator's control plane answers (`trigger` calls it, `serve --no-control-plane`
# leaves it out): api/control.py's PREFIX, named here so the commands need not import the API.
CONTROL_PREFIX = "/__emulator"
# Where the recogniser looks for a Vosk model when --vosk-model is not given (speech/stt.py reads it;
# the mic flags show it in their help, and building them must not import speech).
VOSK_MODEL_ENV = "AGENTPHONE_VOSK_MODEL"
# The key of the OpenAI-compatible endpoint behind --llm-url (hosted voice, personas): read from the
# environment only, never a flag (a flag is in the shell history and `ps` for everyone).
LLM_KEY_ENV = "AGENTPHONE_EMULATOR_LLM_KEY"
# The first-chunk budget, in ms, past which a voice reply gets voice_slow_first_chunk (engine/asking.py;
# default 1000): a shared CI box that runs an agent slower than production may raise it.
SLOW_FIRST_CHUNK_ENV = "AGENTPHONE_SLOW_FIRST_CHUNK_MS"


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in ``os.environ``, and put back what was there (or nothing) afterwards."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def agent_environment(base_url: str, api_key: str, secret: str) -> AbstractContextManager[None]:
    """Point the agent's AGENTPHONE_* variables at an emulator, and put back what was there after.

    The agent reads them from ``os.environ``, which is per process: two emulators in one process
    cannot each have their own at the same time (``run -j`` uses processes for that reason).
    """
    return environment({BASE_URL_ENV: base_url, KEY_ENV: api_key, SECRET_ENV: secret})
