"""The :class:`~agentphone_emulator.server.Emulator`: the one place that builds every part of the
platform (the REST API and control plane, the engine, the store) and runs it on a loopback port.

``emulator.py`` builds it and holds its keys, URLs, state and webhooks; it inherits its event loop
and thread (``loop.py``), its clock controls (``clock_controls.py``) and the simulated texters,
callers and callees (``people.py``) from the other modules here.
"""

from __future__ import annotations

from .emulator import Emulator, new_api_key

__all__ = ["Emulator", "new_api_key"]
