"""Who may do what: the scope of a key, and which apps an HTTP request may have imported.

An account's API key acts on that account only (``/v1``, and the control plane's per-account
routes: texts, calls, deliveries, findings, the webhook, settings). What touches every account
takes the emulator's **admin key**: a reset or a snapshot holds every account, the virtual clock is
one clock for all of them, a scripted callee or the hosted-mode model answers everyone's calls. An
emulator with one API key has that key as its admin key, so one user with one account notices
nothing; with several, ``Emulator`` makes up a random one (``serve`` prints it) unless given one.

An in-process webhook target (``module:attr``) is imported into the emulator's process. From an
HTTP request that is running code its operator never named, so only modules the emulator was
started with (``serve --app-module``, ``--webhook``'s own module, ``Emulator(app_modules=...)``)
are allowed, and the check reads the name only: nothing is imported to refuse it.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiohttp import web

from ..app_reference import APP_REFERENCE
from ..errors import ApiError, forbidden

ADMIN_KEY_PREFIX = "sk_admin_"
MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_KEY_TEXT = re.compile(r"^\S+$")  # what a bearer header carries, after the scheme and a space


def new_admin_key() -> str:
    """A fresh random admin key, ``sk_admin_`` and 32 hex digits."""
    return ADMIN_KEY_PREFIX + secrets.token_hex(16)


def check_admin_key(key: str) -> str:
    """``key`` if it can be sent as a bearer token (not empty, no whitespace), else ValueError."""
    if not _KEY_TEXT.match(key):
        raise ValueError(f"an admin key must be non-empty with no spaces, got {key!r}")
    return key


def check_module_name(name: str) -> str:
    """``name`` if it is a dotted module path (``myagent``, ``myagent.server``), else ValueError."""
    if not MODULE_NAME.match(name):
        raise ValueError(f"an app module must be a dotted module name such as myagent.server, got {name!r}")
    return name


@dataclass(frozen=True, slots=True)
class Access:
    """The emulator's admin key and the modules an HTTP request may name as a webhook app."""

    admin_key: str
    app_modules: tuple[str, ...] = ()

    @classmethod
    def for_keys(
        cls, api_keys: Sequence[str], admin_key: str | None = None, app_modules: Iterable[str] = ()
    ) -> Access:
        """The sole API key is the admin key; several keys and none given: a random one."""
        if admin_key is None:
            admin_key = api_keys[0] if len(api_keys) == 1 else new_admin_key()
        return cls(check_admin_key(admin_key), tuple(check_module_name(m) for m in app_modules))

    def is_admin(self, key: str) -> bool:
        # surrogatepass: a key that is not UTF-8 arrives with surrogates (aiohttp decodes headers
        # with surrogateescape); it is any wrong key's 401, not an encoding error's 500.
        return hmac.compare_digest(self.admin_key.encode(), key.encode("utf-8", "surrogatepass"))

    def allows_module(self, module: str) -> bool:
        """``module`` is an allowed name or inside one (``myagent`` allows ``myagent.server``,
        not ``myagentx``)."""
        return any(module == allowed or module.startswith(allowed + ".") for allowed in self.app_modules)

    def check_app_import(self, target: str) -> None:
        """Refuse (403) an app reference whose module is not allowed, importing nothing."""
        found = APP_REFERENCE.match(target)
        if found is None or self.allows_module(found["module"]):
            return
        module = found["module"]
        raise forbidden(
            f"{target!r} names an app to import into the emulator's process, and over HTTP it imports "
            f"only modules it was started with: serve --app-module {module} (or --webhook "
            f"{module}:..., or Emulator(app_modules=[{module!r}])); or point the webhook at an "
            "http(s) URL",
            code="APP_IMPORT_NOT_ALLOWED",
        )


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
