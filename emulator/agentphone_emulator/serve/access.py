"""``serve --admin-key`` and ``--app-module``: who may act on the whole emulator over HTTP, and
which apps an HTTP request may have imported (the model is api/access.py's). Kept apart from
arguments.py and command.py, which declare the flags and call these."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..app_reference import APP_REFERENCE

if TYPE_CHECKING:
    from ..server import Emulator


def add_access_flags(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--admin-key",
        metavar="KEY",
        help="the key of the control plane's routes that act on every account (reset, snapshots, "
        "moving the clock, callees, hosted mode); default: the API key when there is one, else a "
        "random sk_admin_ key, printed as 'admin key: ...'",
    )
    serve.add_argument(
        "--app-module",
        action="append",
        dest="app_modules",
        default=[],
        metavar="MODULE",
        help="let POST /__emulator/webhook name an app in MODULE or below it (myagent allows "
        "myagent.server:app); repeatable. By default an HTTP request imports nothing "
        "(--webhook's own module is allowed)",
    )


def access_options(args: argparse.Namespace) -> dict[str, Any]:
    """``Emulator``'s ``admin_key`` and ``app_modules`` from the flags: ``--webhook``'s module is
    allowed too, since the command line already runs it. A bad flag is a ValueError naming it (the
    CLI's one-line usage error)."""
    # Imported here, not at the top: the parser is built from this module, and building it must
    # not import aiohttp (`--help` and `trigger` start in tens of milliseconds; tests/test_startup.py).
    from ..api.access import check_admin_key, check_module_name

    checks: list[tuple[str, Callable[[str], str], str]] = []
    if args.admin_key is not None:
        checks.append(("--admin-key", check_admin_key, args.admin_key))
    checks += [("--app-module", check_module_name, module) for module in args.app_modules]
    for flag, check, value in checks:
        try:
            check(value)
        except ValueError as exc:
            raise ValueError(f"{flag}: {exc}") from None
    modules = list(args.app_modules)
    found = APP_REFERENCE.match(args.webhook or "")
    if found is not None:
        modules.append(found["module"])
    return {"admin_key": args.admin_key, "app_modules": modules}


def admin_line(emulator: Emulator, control_plane: bool) -> str | None:
    """The line that tells the admin key, unless it is the API key the ready line printed (or
    there is no control plane to use it on)."""
    if not control_plane or emulator.admin_key == emulator.api_key:
        return None
    return f"admin key: {emulator.admin_key}  (reset, snapshots, the clock)"
