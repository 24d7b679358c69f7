"""Accounts and the emulator-wide state that holds them.

An :class:`Account` is what one API key sees (a sub-account is an Account with a parent). The
:class:`EmulatorState` owns the accounts, the clock, the id factory and the indexes that cross
accounts (a phone number rings exactly one account).

All mutation happens on the emulator's event loop, in handlers that do not await between reading
and writing, so no locks are needed for the REST API.

:attr:`EmulatorState.changes` counts the moments the state may have changed, so ``serve --state``
can tell "nothing changed since the last save" without encoding the state. It is bumped at a few
choke points rather than by every store operation: the end of every API request that is not a
GET/HEAD (api/framework.py), every call of the Emulator's Python API (server/loop.py), the end of every
background delivery task and every clock callback (engine/platform.py wires both), a call ending,
and reset/restore/configure here. Work still running (a live call, a delivery in flight) counts as
a change until it ends (``Platform.busy``).
"""

from __future__ import annotations

import hmac
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import datetime

from ..clock import Clock, RealClock
from ..ids import IdFactory
from ..settings import AccountSettings
from .findings import Finding
from .records import (
    AgentRecord,
    CallRecord,
    ContactRecord,
    ConversationRecord,
    DeliveryRecord,
    FeedbackRecord,
    LedgerEntry,
    MessageRecord,
    NumberRecord,
    RegistrationRecord,
    SipTrunkRecord,
    VerificationRecord,
    WebhookRecord,
    WhatsAppConnectionRecord,
)


@dataclass(slots=True, kw_only=True)
class Account:
    id: str
    name: str
    created_at: datetime
    settings: AccountSettings
    api_key: str | None = None
    parent_id: str | None = None
    balance_cents: float = 0
    agents: dict[str, AgentRecord] = field(default_factory=dict)
    numbers: dict[str, NumberRecord] = field(default_factory=dict)
    calls: dict[str, CallRecord] = field(default_factory=dict)
    conversations: dict[str, ConversationRecord] = field(default_factory=dict)
    messages: dict[str, MessageRecord] = field(default_factory=dict)
    contacts: dict[str, ContactRecord] = field(default_factory=dict)
    webhook: WebhookRecord | None = None
    agent_webhooks: dict[str, WebhookRecord] = field(default_factory=dict)
    deliveries: dict[str, DeliveryRecord] = field(default_factory=dict)
    sip_trunks: dict[str, SipTrunkRecord] = field(default_factory=dict)
    sub_account_ids: list[str] = field(default_factory=list)
    registration: RegistrationRecord | None = None
    verifications: dict[str, VerificationRecord] = field(default_factory=dict)
    verified_numbers: set[str] = field(default_factory=set)
    whatsapp: dict[str, WhatsAppConnectionRecord] = field(default_factory=dict)
    feedback: list[FeedbackRecord] = field(default_factory=list)
    ledger: list[LedgerEntry] = field(default_factory=list)
    location_refreshed_at: datetime | None = None
    findings: list[Finding] = field(default_factory=list)  # the user's server breaking the contract

    def charge(self, cents: float, reason: str, at: datetime, reference_id: str | None = None) -> None:
        self.balance_cents -= cents
        self.ledger.append(LedgerEntry(at=at, cents=cents, reason=reason, reference_id=reference_id))

    def active_numbers(self) -> list[NumberRecord]:
        return [n for n in self.numbers.values() if n.status == "active"]

    def agent_numbers(self, agent_id: str) -> list[NumberRecord]:
        return [n for n in self.numbers.values() if n.agent_id == agent_id and n.status == "active"]


class EmulatorState:
    """Everything one emulator knows. ``reset()`` forgets it all but the API keys."""

    def __init__(
        self,
        *,
        api_keys: list[str],
        settings: AccountSettings | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
    ) -> None:
        if not api_keys:
            raise ValueError("at least one API key is required")
        self.clock: Clock = clock or RealClock()
        self.default_settings = settings or AccountSettings()
        self._seed = seed
        self._api_keys = list(api_keys)
        self.ids = IdFactory(seed)
        self._resets = -1  # reset() below makes it 0
        self.changes = 0  # see the module's docstring
        self.accounts: dict[str, Account] = {}
        self.account_by_key: dict[str, Account] = {}
        # E.164 -> (account id, number id) for every number ever sold: a number is unique
        # platform-wide, and inbound calls/texts find their account through it.
        self.number_owner: dict[str, tuple[str, str]] = {}
        self.reset()

    @property
    def api_keys(self) -> list[str]:
        return list(self._api_keys)

    def touch(self) -> None:
        """Something may have changed (see the module's docstring)."""
        self.changes += 1

    def reset(self, settings: AccountSettings | None = None) -> None:
        self.touch()
        if settings is not None:
            self.default_settings = settings
        # A seeded emulator gives the same ids run after run, but not reset after reset: a receiver
        # that de-duplicates on X-Webhook-ID (as the FAQ says to) would otherwise drop every event of
        # the next test as a replay of the last one's.
        self._resets += 1
        self.ids = IdFactory(None if self._seed is None else hash((self._seed, self._resets)))
        self.accounts.clear()
        self.account_by_key.clear()
        self.number_owner.clear()
        for key in self._api_keys:
            account = self.new_account(name="Emulator account")
            account.api_key = key
            self.account_by_key[key] = account

    def new_account(self, *, name: str, parent: Account | None = None) -> Account:
        settings = parent.settings if parent else self.default_settings
        account = Account(
            id=self.ids.new("acct", 8),
            name=name,
            created_at=self.clock.now(),
            settings=settings,
            parent_id=parent.id if parent else None,
            balance_cents=settings.credit_cents if parent is None else 0,
        )
        self.accounts[account.id] = account
        if parent is not None:
            parent.sub_account_ids.append(account.id)
        return account

    def configure(self, api_key: str, settings: AccountSettings) -> Account:
        """Replace one API key's account's settings (see :meth:`change_settings`)."""
        return self.change_settings(self.account_by_key[api_key], settings)

    def change_settings(self, account: Account, settings: AccountSettings) -> Account:
        """Replace ``account``'s settings: its balance restarts from the new credit, less what it
        has spent; its sub-accounts, created with its settings and spending its balance, follow."""
        self.touch()
        account.settings = settings
        account.balance_cents = settings.credit_cents - sum(e.cents for e in account.ledger)
        for sub_id in account.sub_account_ids:
            if sub_id in self.accounts:
                self.accounts[sub_id].settings = settings
        return account

    def now(self) -> datetime:
        return self.clock.now()

    def find_account_by_key(self, key: str) -> Account | None:
        """The account of an API key, compared in constant time against every known key."""
        found: Account | None = None
        # The header's bytes as they came: aiohttp decodes headers with surrogateescape, so a key
        # that is not UTF-8 holds surrogates, which a plain encode() refuses (a 500, not a 401).
        given = key.encode("utf-8", "surrogatepass")
        for known, account in self.account_by_key.items():
            if hmac.compare_digest(known.encode(), given):
                found = account
        return found

    def billing_account(self, account: Account) -> Account:
        """Sub-accounts spend their parent's balance."""
        return self.accounts[account.parent_id] if account.parent_id else account

    def snapshot(self) -> StateSnapshot:
        return StateSnapshot(
            accounts=deepcopy(self.accounts),
            number_owner=dict(self.number_owner),
            keys={k: a.id for k, a in self.account_by_key.items()},
        )

    def restore(self, snap: StateSnapshot, *, copy: bool = True) -> None:
        """Make ``snap`` the state; ``copy=False`` uses its records as they are (a snapshot made
        for this restore alone), instead of a deep copy that leaves it reusable."""
        self.touch()
        self.accounts = deepcopy(snap.accounts) if copy else dict(snap.accounts)
        self.number_owner = dict(snap.number_owner)
        self.account_by_key = {k: self.accounts[i] for k, i in snap.keys.items()}


@dataclass(frozen=True, slots=True)
class StateSnapshot:
    accounts: dict[str, Account]
    number_owner: dict[str, tuple[str, str]]
    keys: dict[str, str]
