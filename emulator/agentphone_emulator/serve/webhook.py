"""``serve --webhook TARGET``: the first account's webhook, pointed at a URL or at an app in this
process once the emulator listens.

An app gets the agent's environment (``AGENTPHONE_BASE_URL``, ``AGENTPHONE_API_KEY``,
``AGENTPHONE_WEBHOOK_SECRET``) before it is imported and for as long as ``serve`` runs, as ``run
--app`` and ``mic --app`` give it: it calls the API back and verifies signatures as in production,
whether it reads them at import or per request. A server elsewhere has an environment of its own.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..agent_env import SECRET_ENV, agent_environment
from ..app_reference import importable_from, is_app_reference

if TYPE_CHECKING:
    from ..server import Emulator
    from ..store.records import WebhookRecord


@contextlib.contextmanager
def serve_webhook(
    emulator: Emulator, target: str | None, secret: str | None
) -> Iterator[WebhookRecord | None]:
    """Point the webhook at ``target`` (None: no webhook), signed with ``secret``, else
    ``$AGENTPHONE_WEBHOOK_SECRET`` (as ``run`` and ``mic`` default it), else a fresh ``whsec_`` one.
    For an app, its environment holds until the context ends. An app that does not import raises
    ``TargetError``."""
    if target is None:
        yield None
        return
    secret = secret or os.environ.get(SECRET_ENV) or None
    if not is_app_reference(target):
        yield emulator.set_webhook(target, secret=secret)
        return
    importable_from(os.getcwd())  # `serve --webhook myapp:app` finds myapp.py in the project
    # Minted here, not by the store, because the app may read it as it is imported.
    secret = secret or emulator.state.ids.new("whsec", 24)
    with agent_environment(emulator.base_url, emulator.api_key, secret):
        yield emulator.set_webhook(target, secret=secret)
