"""The official TypeScript SDK (npm ``agentphone``, pinned in tests/node/package.json) against the
emulator: ``tests/node/conformance.mjs`` drives every method of every resource client over real HTTP
with ``node --test``; this test serves the emulator and runs it.

Needs Node >= 18 and the SDK installed (``npm ci --prefix tests/node``). Outside CI a missing
install is done once here; in CI (``CI`` set) it is a failure, so a broken setup cannot pass as a skip.
"""

from __future__ import annotations

import subprocess

import pytest

from agentphone_emulator import AccountSettings, Emulator
from tests.node_support import NODE_DIR, ensure_installed, node_env, node_executable

SCRIPT = NODE_DIR / "conformance.mjs"
TIMEOUT_S = 120


def test_typescript_sdk_conformance() -> None:
    node = node_executable("the TypeScript SDK conformance suite needs Node >= 18")
    ensure_installed("agentphone")

    # Several numbers are bought across the groups: a roomy account, as a paying customer has.
    with Emulator.run_in_thread(settings=AccountSettings(credit_cents=100_000, number_limit=50)) as emu:
        env = node_env(AGENTPHONE_BASE_URL=emu.base_url, AGENTPHONE_API_KEY=emu.api_key)
        try:
            done = subprocess.run(
                [node, "--test", "--test-reporter=spec", SCRIPT.name],
                cwd=NODE_DIR,
                env=env,
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            pytest.fail(f"node --test did not finish within {TIMEOUT_S}s:\n{out}")

    output = done.stdout + ("\n" + done.stderr if done.stderr.strip() else "")
    assert done.returncode == 0, f"TypeScript SDK conformance failed (exit {done.returncode}):\n{output}"
