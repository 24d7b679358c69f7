"""Routes for sip_trunks (to be written)."""

from __future__ import annotations

from .framework import Router

router = Router("sip-trunks")
