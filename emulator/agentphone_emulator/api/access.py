"""Who may do what: the scope of a key.

An account's API key acts on that account only (``/v1``, and the control plane's per-account
routes: texts, calls, deliveries, findings, the webhook, settings). What touches every account
takes the emulator's **admin key**: a reset or a snapshot holds every account, the virtual clock is
one clock for all of them, a scripted callee or the hosted-mode model answers everyone's calls. An
emulator with one API key has that key as its admin key, so one user with one account notices
nothing; with several, ``Emulator`` makes up a random one (``serve`` prints it) unless given one.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from ..errors import ApiError, forbidden

ADMIN_KEY_PREFIX = "sk_admin_"
_KEY_TEXT = re.compile(r"^\S+$")  # what a bearer header carries, after the scheme and a space


def new_admin_key() -> str:
    """A fresh random admin key, ``sk_admin_`` and 32 hex digits."""
    return ADMIN_KEY_PREFIX + secrets.token_hex(16)


def check_admin_key(key: str) -> str:
    """``key`` if it can be sent as a bearer token (not empty, no whitespace), else ValueError."""
    if not _KEY_TEXT.match(key):
        raise ValueError(f"an admin key must be non-empty with no spaces, got {key!r}")
    return key


@dataclass(frozen=True, slots=True)
class Access:
    """The emulator's admin key."""

    admin_key: str

    @classmethod
    def for_keys(cls, api_keys: Sequence[str], admin_key: str | None = None) -> Access:
        """The sole API key is the admin key; several keys and none given: a random one."""
        if admin_key is None:
            admin_key = api_keys[0] if len(api_keys) == 1 else new_admin_key()
        return cls(check_admin_key(admin_key))

    def is_admin(self, key: str) -> bool:
        return hmac.compare_digest(self.admin_key.encode(), key.encode())


ACCESS_KEY: web.AppKey[Access] = web.AppKey("agentphone_access", Access)


def admin_required(method: str, path: str, why: str) -> ApiError:
    """An account's key on a whole-emulator route: 403, saying why and where the admin key is."""
    return forbidden(
        f"{method} {path} {why}, so it takes the emulator's admin key, not an account's API key: "
        "serve prints it as 'admin key: ...' when it has several accounts (set it with serve "
        "--admin-key KEY, or Emulator(admin_key=...)); an emulator with one API key takes that key",
        code="ADMIN_KEY_REQUIRED",
    )


def admin_has_no_account(method: str, path: str) -> ApiError:
    """The admin key (and no account's) on a per-account route."""
    return forbidden(
        f"the admin key acts on the whole emulator and has no account of its own: {method} {path} "
        "takes one of the accounts' API keys",
        code="ADMIN_KEY_HAS_NO_ACCOUNT",
    )
