"""Routes for verify (to be written)."""

from __future__ import annotations

from .framework import Router

router = Router("verify")
