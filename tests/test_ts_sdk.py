"""The official TypeScript SDK (npm ``agentphone``, pinned in tests/node/package.json) against the
emulator: ``tests/node/conformance.mjs`` drives every method of every resource client over real HTTP
with ``node --test``; this test serves the emulator and runs it.

Needs Node >= 18 and the SDK installed (``npm ci --prefix tests/node``). Outside CI a missing
install is done once here; in CI (``CI`` set) it is a failure, so a broken setup cannot pass as a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from agentphone_emulator import AccountSettings, Emulator

NODE_DIR = Path(__file__).parent / "node"
SCRIPT = NODE_DIR / "conformance.mjs"
INSTALL_HINT = "run npm ci --prefix tests/node"
TIMEOUT_S = 120


def _ensure_sdk_installed() -> None:
    if (NODE_DIR / "node_modules" / "agentphone" / "package.json").is_file():
        return
    if os.environ.get("CI"):
        pytest.fail(f"the TypeScript SDK is not installed in tests/node/node_modules: {INSTALL_HINT}")
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(f"npm is not available; to run the TypeScript SDK conformance suite, {INSTALL_HINT}")
    done = subprocess.run(
        [npm, "ci", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"npm ci --prefix tests/node failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def test_typescript_sdk_conformance() -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is not installed: the TypeScript SDK conformance suite needs Node >= 18")
        pytest.skip("node is not installed: the TypeScript SDK conformance suite needs Node >= 18")
    _ensure_sdk_installed()

    # Several numbers are bought across the groups: a roomy account, as a paying customer has.
    with Emulator.run_in_thread(settings=AccountSettings(credit_cents=100_000, number_limit=50)) as emu:
        env = {**os.environ, "AGENTPHONE_BASE_URL": emu.base_url, "AGENTPHONE_API_KEY": emu.api_key}
        env.pop("NODE_OPTIONS", None)
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
