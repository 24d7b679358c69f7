"""The plugin's command-line options and ini keys (the ``agentphone`` group of ``pytest --help``),
read once per session into :class:`PluginOptions`; a mistake in them is a one-line usage error."""

from __future__ import annotations

import difflib
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

import pytest

from agentphone_emulator.agent_env import EMULATOR_KEY_ENV, SECRET_ENV
from agentphone_emulator.app_reference import is_app_reference

if TYPE_CHECKING:  # imported where used: every pytest run loads this module, most never use it
    from agentphone_emulator.settings import AccountSettings

FindingsPolicy = Literal["error", "warning", "off"]
DEFAULT_PATTERNS = ("*.scenario.yaml", "*.scenario.yml")


@dataclass(frozen=True, slots=True)
class PluginOptions:
    app: str | None = None
    """The agent as an in-process app, ``module:attr`` (ASGI, WSGI or aiohttp)."""
    webhook: str | None = None
    """The agent's webhook URL, a server the user started."""
    secret: str = ""
    """What webhooks are signed with; the in-process app reads it as $AGENTPHONE_WEBHOOK_SECRET."""
    api_key: str | None = None
    """The emulator's API key (None: a random one); the in-process app reads it as
    $AGENTPHONE_API_KEY, a server the user started must be told it to call the API back."""
    account: AccountSettings | None = None
    """Every test's account unless its ``agentphone_account`` marker says otherwise (None: a new
    real account's defaults)."""
    scenario_paths: tuple[Path, ...] = ()
    scenario_patterns: tuple[str, ...] = DEFAULT_PATTERNS
    variables: Mapping[str, str] = field(default_factory=dict)
    findings: FindingsPolicy = "error"
    port: int = 0
    rootpath: Path = Path(".")
    runs: int | None = None
    """How many times each collected scenario is played unless it says ``runs:`` (None: once)."""
    min_pass_rate: float | None = None
    """The share of a scenario's runs that must pass unless it says ``min_pass_rate:`` (None: all)."""
    llm_url: str | None = None
    """The OpenAI-compatible endpoint a persona's ``llm`` asks when its recording has no answer."""
    llm_model: str | None = None
    """The model to ask at ``llm_url`` (None: hosted mode's default)."""

    @property
    def target(self) -> str | None:
        return self.app or self.webhook

    @property
    def api_keys(self) -> list[str] | None:
        """What an emulator of the session is started with (None: a random key)."""
        return [self.api_key] if self.api_key is not None else None


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("agentphone", "agentphone-emulator: the AgentPhone platform, offline")
    group.addoption(
        "--agentphone-app",
        metavar="MODULE:ATTR",
        help="your agent as an app run in this process (ASGI, WSGI or aiohttp), e.g. myagent.server:app "
        "(ini: agentphone_app)",
    )
    group.addoption(
        "--agentphone-webhook",
        metavar="URL",
        help="your agent's webhook URL, a server you started (ini: agentphone_webhook)",
    )
    group.addoption(
        "--agentphone-secret",
        metavar="SECRET",
        help=f"sign webhooks with SECRET (ini: agentphone_webhook_secret; default ${SECRET_ENV}, "
        "else a fresh whsec_ secret per session)",
    )
    group.addoption(
        "--agentphone-api-key",
        metavar="KEY",
        help="the emulator's API key, for a server you started that calls the API back (ini: "
        f"agentphone_api_key; default ${EMULATOR_KEY_ENV}, else a random sk_test_ key)",
    )
    group.addoption(
        "--agentphone-var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set {{NAME}} in every collected scenario (ini: agentphone_variables)",
    )
    group.addoption(
        "--agentphone-port",
        type=int,
        default=None,
        metavar="PORT",
        help="the emulator's port (default: a free one; fix it only for a server that cannot be told "
        "the URL, and not with -n)",
    )
    group.addoption(
        "--agentphone-findings",
        choices=get_args(FindingsPolicy),
        default=None,
        help="fail a test at teardown on findings it did not name: of severity 'error' (default), "
        "'warning' and up, or 'off' (ini: agentphone_findings)",
    )
    group.addoption(
        "--agentphone-runs",
        type=int,
        default=None,
        metavar="N",
        help="play each YAML scenario N times and report its pass rate; passes and failures together "
        "mark it flaky (a scenario's own runs: wins; ini: agentphone_runs)",
    )
    group.addoption(
        "--agentphone-min-pass-rate",
        type=float,
        default=None,
        metavar="RATE",
        help="the share of a scenario's runs that must pass, 0 to 1 (default 1; a scenario's own "
        "min_pass_rate: wins; ini: agentphone_min_pass_rate)",
    )
    group.addoption(
        "--agentphone-llm-url",
        metavar="URL",
        help="the OpenAI-compatible chat endpoint a scenario persona's llm asks when its recording has no "
        "answer; key from $AGENTPHONE_EMULATOR_LLM_KEY (ini: agentphone_llm_url)",
    )
    group.addoption(
        "--agentphone-llm-model", metavar="NAME", help="the model to ask there (ini: agentphone_llm_model)"
    )
    parser.addini("agentphone_app", "your agent as an in-process app, module:attr")
    parser.addini("agentphone_webhook", "your agent's webhook URL (a server you started)")
    parser.addini("agentphone_webhook_secret", "the webhook signing secret (default: a fresh one)")
    parser.addini("agentphone_api_key", "the emulator's API key (default: a random one)")
    parser.addini(
        "agentphone_scenarios",
        "folders (or files) whose every .yaml is a scenario file, collected as tests",
        type="paths",
        default=[],
    )
    parser.addini(
        "agentphone_scenario_patterns",
        "file name patterns collected as scenario files anywhere (default: *.scenario.yaml *.scenario.yml)",
        type="args",
        default=list(DEFAULT_PATTERNS),
    )
    parser.addini(
        "agentphone_account",
        "default account settings, one NAME=VALUE per line (credit_cents=10000, require_10dlc=false ...)",
        type="linelist",
        default=[],
    )
    parser.addini(
        "agentphone_variables", "{{NAME}} values for scenarios, one NAME=VALUE per line", type="linelist"
    )
    parser.addini("agentphone_findings", "error (default), warning or off: see --agentphone-findings")
    parser.addini("agentphone_llm_url", "a persona's model endpoint: see --agentphone-llm-url")
    parser.addini("agentphone_llm_model", "the model to ask there: see --agentphone-llm-model")
    parser.addini("agentphone_runs", "how many times each YAML scenario is played: see --agentphone-runs")
    parser.addini(
        "agentphone_min_pass_rate",
        "the share of a scenario's runs that must pass: see --agentphone-min-pass-rate",
    )


def read_options(config: pytest.Config) -> PluginOptions:
    """The options as given on the command line, else in the ini file, else the defaults."""
    app, webhook = config.getoption("agentphone_app"), config.getoption("agentphone_webhook")
    if not (app or webhook):
        # Only then the ini's: a target on the command line replaces the ini's, of either kind.
        app, webhook = _ini_text(config, "agentphone_app"), _ini_text(config, "agentphone_webhook")
    if app and webhook:
        raise pytest.UsageError(
            "agentphone: give the agent as an app or as a webhook URL, not both "
            f"(app {app!r}, webhook {webhook!r})"
        )
    if app and not is_app_reference(app):
        raise pytest.UsageError(f"agentphone_app expects module:attr (e.g. myagent.server:app), got {app!r}")
    if webhook:
        from agentphone_emulator.errors import ApiError
        from agentphone_emulator.models.webhooks import check_webhook_target

        try:
            check_webhook_target(webhook)  # as the API checks a webhook URL
        except ApiError:
            raise pytest.UsageError(
                f"agentphone_webhook expects an http(s) URL (e.g. http://127.0.0.1:8000/webhook), got {webhook!r}"
            ) from None
    secret = (
        config.getoption("agentphone_secret")
        or _ini_text(config, "agentphone_webhook_secret")
        or os.environ.get(SECRET_ENV)
        or "whsec_" + secrets.token_hex(24)
    )
    api_key = _api_key(config)
    variables = {
        **parse_pairs(config.getini("agentphone_variables") or [], "agentphone_variables"),
        **parse_pairs(config.getoption("agentphone_var"), "--agentphone-var"),
    }
    findings = config.getoption("agentphone_findings") or _ini_text(config, "agentphone_findings") or "error"
    if findings not in get_args(FindingsPolicy):
        raise pytest.UsageError(f"agentphone_findings: expected error, warning or off, got {findings!r}")
    findings = cast(FindingsPolicy, findings)
    account_lines = config.getini("agentphone_account")
    account = (
        account_settings(parse_pairs(account_lines, "agentphone_account"), "ini agentphone_account")
        if account_lines
        else None
    )
    port = config.getoption("agentphone_port")
    if port is not None and not 0 <= port <= 65535:
        raise pytest.UsageError(f"--agentphone-port: expected a port, 1-65535 (or 0: a free one), got {port}")
    runs, min_pass_rate = _repeats(config)
    llm_url = config.getoption("agentphone_llm_url") or _ini_text(config, "agentphone_llm_url")
    llm_model = config.getoption("agentphone_llm_model") or _ini_text(config, "agentphone_llm_model")
    if llm_url is not None:
        from agentphone_emulator.command_line import is_http_url

        if not is_http_url(llm_url):
            raise pytest.UsageError(
                f"agentphone_llm_url expects an http(s) URL such as http://127.0.0.1:11434/v1, got {llm_url!r}"
            )
    return PluginOptions(
        app=app,
        webhook=webhook,
        secret=secret,
        api_key=api_key,
        account=account,
        scenario_paths=tuple(Path(p) for p in config.getini("agentphone_scenarios")),
        scenario_patterns=tuple(config.getini("agentphone_scenario_patterns")),
        variables=variables,
        findings=findings,
        port=port or 0,
        rootpath=config.rootpath,
        runs=runs,
        min_pass_rate=min_pass_rate,
        llm_url=llm_url,
        llm_model=llm_model,
    )


def _repeats(config: pytest.Config) -> tuple[int | None, float | None]:
    """``--agentphone-runs`` / ``--agentphone-min-pass-rate``, else their ini keys; checked as
    ``run --runs`` checks them."""
    from agentphone_emulator.scenario.repeats import check_policy

    runs: Any = config.getoption("agentphone_runs")
    rate: Any = config.getoption("agentphone_min_pass_rate")
    for name, kind in (("agentphone_runs", int), ("agentphone_min_pass_rate", float)):
        if (runs if kind is int else rate) is None and (text := _ini_text(config, name)) is not None:
            try:
                value = kind(text)
            except ValueError:
                raise pytest.UsageError(f"{name}: expected a number, got {text!r}") from None
            if kind is int:
                runs = value
            else:
                rate = value
    wrong = check_policy(runs, rate)
    if wrong is not None:
        raise pytest.UsageError("agentphone: " + wrong.replace("--", "--agentphone-", 1))
    return runs, rate


def _api_key(config: pytest.Config) -> str | None:
    """The command line's key, else the ini's, else $AGENTPHONE_EMULATOR_API_KEY (as ``serve``
    reads it), else None: the emulator makes a random one."""
    for where, key in (
        ("--agentphone-api-key", config.getoption("agentphone_api_key")),
        ("agentphone_api_key", _ini_text(config, "agentphone_api_key")),
        (f"${EMULATOR_KEY_ENV}", os.environ.get(EMULATOR_KEY_ENV)),
    ):
        if key is None or (key == "" and where.startswith("$")):
            continue  # an empty variable is an unset one, as for serve
        if not key or any(c.isspace() or not c.isprintable() for c in key):
            # It goes in an Authorization header: a space or a newline would never match.
            raise pytest.UsageError(f"{where}: an API key is one word with no spaces, got {key!r}")
        return str(key)
    return None


def _ini_text(config: pytest.Config, name: str) -> str | None:
    value = config.getini(name)
    return str(value).strip() or None if value else None


def parse_pairs(lines: Iterable[str], where: str) -> dict[str, str]:
    pairs = {}
    for line in lines:
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise pytest.UsageError(f"{where}: expected NAME=VALUE, got {line!r}")
        pairs[name.strip()] = value.strip()
    return pairs


class SettingsError(Exception):
    """Account settings that do not validate; the message names where they came from and the field."""


def account_settings(
    changes: Mapping[str, Any], where: str, base: AccountSettings | None = None
) -> AccountSettings:
    """``base`` (the defaults) with ``changes``: names are AccountSettings fields; values may be
    text as written in an ini file (``false``, ``10000``, ``212,646`` for a list)."""
    from pydantic import ValidationError

    from agentphone_emulator.errors import first_validation_error
    from agentphone_emulator.settings import AccountSettings

    fields = AccountSettings.model_fields
    values: dict[str, Any] = (base or AccountSettings()).model_dump()
    for name, value in changes.items():
        if name not in fields:
            close = difflib.get_close_matches(name, list(fields), n=1)
            hint = f" (did you mean {close[0]}?)" if close else f"; known: {', '.join(fields)}"
            raise _settings_error(where, f"unknown account setting {name!r}{hint}")
        if isinstance(value, str) and name == "unavailable_area_codes":
            value = tuple(code.strip() for code in value.split(",") if code.strip())
        values[name] = value
    try:
        return AccountSettings.model_validate(values)
    except ValidationError as exc:
        raise _settings_error(where, first_validation_error(exc)) from None


def _settings_error(where: str, message: str) -> Exception:
    # An ini mistake is a usage error (pytest stops before collecting); a marker's fails its test.
    if where.startswith("ini "):
        return pytest.UsageError(f"{where}: {message}")
    return SettingsError(f"{where}: {message}")
