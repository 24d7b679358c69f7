"""Finding Node and the pinned npm packages of tests/node for the tests that run JavaScript.

The policy, shared by every such test: without Node (or without npm to install the packages) a
developer's run skips; in CI (``CI`` set) it fails, so a broken setup cannot pass as a skip. A
missing install is done once here with ``npm ci`` outside CI.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).parent / "node"
INSTALL_HINT = "run npm ci --prefix tests/node"
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


def ensure_installed(*packages: str) -> None:
    """Make sure every npm package in ``packages`` is in tests/node/node_modules.

    The check and the install hold a lock: under pytest-xdist two workers may both find a stale
    node_modules, and two ``npm ci`` runs in one directory delete each other's files.
    """
    with _install_lock():
        missing = [p for p in packages if not (NODE_DIR / "node_modules" / p / "package.json").is_file()]
        if not missing:
            return
        if in_ci():
            pytest.fail(f"{', '.join(missing)} not installed in tests/node/node_modules: {INSTALL_HINT}")
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip(f"npm is not available to install {', '.join(missing)}; {INSTALL_HINT}")
        done = subprocess.run(
            [npm, "ci", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund"],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(
                f"npm ci --prefix tests/node failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )


@contextlib.contextmanager
def _install_lock() -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: no flock; parallel first installs there are the user's lookout
        yield
        return
    # In the temp directory, not in tests/node (an untracked file in the checkout) nor in
    # node_modules (npm ci deletes it first); named after the checkout so two checkouts don't share.
    digest = hashlib.sha256(str(NODE_DIR.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"agentphone-emulator-npm-{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
