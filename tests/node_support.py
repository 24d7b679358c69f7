"""Finding Node and the pinned npm packages of tests/node for the tests that run JavaScript.

The policy, shared by every such test: without Node (or without npm to install the packages) a
developer's run skips; in CI (``CI`` set) it fails, so a broken setup cannot pass as a skip. A
missing install is done once here with ``npm ci`` outside CI.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
NODE_DIR = ROOT / "tests" / "node"
NODE_START_TIMEOUT_S = 20
INSTALL_TIMEOUT_S = 300


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def node_executable(purpose: str) -> str:
    """The ``node`` on PATH; skips (fails in CI) without one. ``purpose`` finishes the sentence
    "node is not installed: ..."."""
    node = shutil.which("node")
    if node is None:
        message = f"node is not installed: {purpose}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return node


def node_env(**extra: str) -> dict[str, str]:
    """The environment for a Node child: ours plus ``extra``, without NODE_OPTIONS (a developer's
    --require hooks or inspector flags would change what the script does)."""
    env = {**os.environ, **extra}
    env.pop("NODE_OPTIONS", None)
    return env


def ensure_installed(*packages: str, directory: Path = NODE_DIR) -> None:
    """Make sure every npm package in ``packages`` is in ``directory``/node_modules (tests/node by
    default; clients/node for the npm package's own tests).

    The check and the install hold a lock: under pytest-xdist two workers may both find a stale
    node_modules, and two ``npm ci`` runs in one directory delete each other's files.
    """
    where = directory.resolve().relative_to(ROOT).as_posix()
    hint = f"run npm ci --prefix {where}"
    with _install_lock(directory):
        missing = [p for p in packages if not (directory / "node_modules" / p / "package.json").is_file()]
        if not missing:
            return
        if in_ci():
            pytest.fail(f"{', '.join(missing)} not installed in {where}/node_modules: {hint}")
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip(f"npm is not available to install {', '.join(missing)}; {hint}")
        done = subprocess.run(
            [npm, "ci", "--prefix", str(directory), "--no-audit", "--no-fund"],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"npm ci --prefix {where} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


@contextlib.contextmanager
def _install_lock(directory: Path = NODE_DIR) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: no flock; parallel first installs there are the user's lookout
        yield
        return
    # In the temp directory, not in tests/node (an untracked file in the checkout) nor in
    # node_modules (npm ci deletes it first); named after the checkout so two checkouts don't share.
    digest = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"agentphone-emulator-npm-{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@dataclass
class NodeServer:
    """A Node script serving on a loopback port; ``lines`` has what it printed after the port."""

    process: subprocess.Popen[str]
    port: int
    lines: queue.Queue[str]


@contextlib.contextmanager
def node_server(script: str, what: str, **env: str) -> Iterator[NodeServer]:
    """Run ``tests/node/<script>`` (which prints ``LISTENING <port>`` first) until the block ends.

    Its output is read continuously so Node never blocks on a full pipe. A script that does not
    start fails the test with everything it printed.
    """
    node = node_executable(f"{what} needs Node >= 18")
    ensure_installed("express")
    process = subprocess.Popen(
        [node, script],
        cwd=NODE_DIR,
        env=node_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_pump, args=(process.stdout, lines), name=f"node-{script}", daemon=True).start()
    try:
        yield NodeServer(process, _wait_for_port(process, lines, what), lines)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _pump(stream: Any, lines: queue.Queue[str]) -> None:
    for text in stream:
        lines.put(text.rstrip("\n"))


def _wait_for_port(process: subprocess.Popen[str], lines: queue.Queue[str], what: str) -> int:
    before: list[str] = []  # warnings Node may print first
    deadline = time.monotonic() + NODE_START_TIMEOUT_S
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            text = lines.get(timeout=min(remaining, 0.2))
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        if text.startswith("LISTENING "):
            return int(text.split()[1])
        before.append(text)
    pytest.fail(
        f"{what}: the Node server did not start (hang guard: {NODE_START_TIMEOUT_S} s; exit code "
        f"{process.poll()}); it printed:\n" + "\n".join(before)
    )
