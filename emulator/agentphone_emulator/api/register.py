"""Routes for register (to be written)."""

from __future__ import annotations

from .framework import Router

router = Router("register")
