"""Routes for sub_accounts (to be written)."""

from __future__ import annotations

from .framework import Router

router = Router("sub-accounts")
