"""The npm package ``agentphone-emulator`` (clients/node) against this checkout's emulator: its
node:test suites (every control-plane route, the launcher, the node:test helpers, the docs'
examples), its vitest helpers, the TypeScript check of its types, and the generated control-plane
types regenerated from the served OpenAPI, which must not differ from the committed file.

Each Node process starts ``agentphone-emulator serve`` itself, found through
``$AGENTPHONE_EMULATOR`` (this interpreter's script) with this checkout first on PYTHONPATH, so it
runs the code under test. Needs Node >= 20 and ``npm ci --prefix clients/node``: without Node a
developer's run skips and CI fails (tests/node_support.py); a missing install is done once here
outside CI and is a failure in CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import agentphone_emulator
from tests.node_support import ROOT, ensure_installed, in_ci, node_env, node_executable

CLIENT_DIR = ROOT / "clients" / "node"
TIMEOUT_S = 300  # a hang guard for a whole suite on a loaded machine, not a performance check
DEV_PACKAGES = ("openapi-fetch", "openapi-typescript", "typescript", "vitest", "express", "agentphone")


def _emulator_env() -> dict[str, str]:
    """Node's environment: ``serve`` is this interpreter's, importing this checkout's package."""
    package_root = str(Path(agentphone_emulator.__file__).resolve().parents[1])
    python_path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)
    extra = {"PYTHONPATH": python_path}
    script = Path(sys.executable).with_name("agentphone-emulator")
    if script.is_file():
        extra["AGENTPHONE_EMULATOR"] = str(script)
    else:  # no console script beside the interpreter: `python -m agentphone_emulator` on PATH
        extra["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), os.environ.get("PATH", "")))
    # NO_COLOR: vitest colours its summary when CI is set (as .ci/run sets it), and the escapes
    # split the lines these tests match.
    extra["NO_COLOR"] = "1"
    env = node_env(**extra)
    env.pop("NODE_TEST_CONTEXT", None)
    env.pop("FORCE_COLOR", None)
    return env


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    node = node_executable("the npm package's tests need Node >= 20")
    ensure_installed(*DEV_PACKAGES, directory=CLIENT_DIR)
    try:
        return subprocess.run(
            [node, *argv],
            cwd=CLIENT_DIR,
            env=_emulator_env(),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        pytest.fail(f"node {' '.join(argv)} did not finish within {TIMEOUT_S} s (hang guard):\n{out}")


def _output(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + ("\n" + done.stderr if done.stderr.strip() else "")


def node_test_files() -> list[str]:
    """What ``npm test`` runs: the package's tests and the docs' examples (not the fixtures, which
    fail on purpose, nor the vitest files)."""
    files = sorted(CLIENT_DIR.glob("test/*.test.js")) + sorted(CLIENT_DIR.glob("examples/*.test.mjs"))
    return [path.relative_to(CLIENT_DIR).as_posix() for path in files]


def test_node_test_suites_pass() -> None:
    files = node_test_files()
    assert "test/control.test.js" in files and "examples/agent.test.mjs" in files
    done = _run("--test", "--test-reporter=spec", *files)
    output = _output(done)
    assert done.returncode == 0, f"node --test failed (exit {done.returncode}):\n{output}"
    passed = re.search(r"^\u2139 pass (\d+)$", output, re.M)
    failed = re.search(r"^\u2139 fail (\d+)$", output, re.M)
    assert passed and failed, output
    assert int(failed.group(1)) == 0, output
    # Every file contributed: a file that fails to import shows as a single failure, not silence.
    assert int(passed.group(1)) >= 40, output


def test_vitest_helpers_pass() -> None:
    done = _run("node_modules/vitest/vitest.mjs", "run", "--root", "test/vitest")
    output = _output(done)
    assert done.returncode == 0, f"vitest failed (exit {done.returncode}):\n{output}"
    assert re.search(r"Tests\s+3 passed \(3\)", output), output


def test_typescript_usage_type_checks() -> None:
    done = _run("node_modules/typescript/bin/tsc", "--noEmit", "-p", "test/types")
    assert done.returncode == 0, f"tsc --noEmit found type errors:\n{_output(done)}"


def test_generated_types_match_the_served_openapi() -> None:
    """``npm run check-generated``: the committed src/generated/control-plane.d.ts is what
    openapi-typescript makes of the OpenAPI this checkout's emulator serves."""
    done = _run("scripts/generate.js", "--check")
    assert done.returncode == 0, (
        "the generated control-plane types are stale: run `npm run generate` in clients/node and "
        f"commit src/generated/control-plane.d.ts\n{_output(done)}"
    )


def test_the_package_is_publish_ready() -> None:
    """What ``npm publish`` would ship: every export's target, the README and LICENSE, no tests,
    and nothing that runs at install time."""
    manifest = json.loads((CLIENT_DIR / "package.json").read_text(encoding="utf-8"))
    assert manifest["name"] == "agentphone-emulator" and manifest["license"] == "MIT"
    assert not {"preinstall", "install", "postinstall", "prepare"} & set(manifest.get("scripts", {}))
    npm = shutil.which("npm")
    if npm is None:
        message = "npm is not installed: npm pack checks what the package ships"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(
        [npm, "pack", "--dry-run", "--json", "--ignore-scripts"],
        cwd=CLIENT_DIR,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, _output(done)
    shipped = {entry["path"] for entry in json.loads(done.stdout)[0]["files"]}
    targets = {
        target.removeprefix("./")
        for export in manifest["exports"].values()
        for target in ([export] if isinstance(export, str) else export.values())
    }
    assert targets | {"README.md", "LICENSE", "package.json"} <= shipped, sorted(shipped)
    assert not [
        path for path in shipped if path.startswith(("test/", "examples/", "scripts/", "node_modules/"))
    ]
