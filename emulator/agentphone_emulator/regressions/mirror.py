"""The emulator in "the same state" as the other service, for ``compare``.

Values cannot be the same (ids, times, names are the service's), so the state mirrored is what
shapes depend on: how many of each resource there are (up to two, so a second page has an item on
both sides when the service's has one), whether a number has an agent, whether the account has a
webhook. A fresh in-process emulator (new-account defaults, credit enough to buy the numbers) is
given, through its own API and engine: the agents, numbers and contacts; an inbound call hung up
(for calls), an inbound text (for conversations); the account webhook last, so no event is sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ..server import Emulator
from ..settings import AccountSettings
from .exchanges import Request, exchange

MAX_MIRRORED = 2
MIRROR_SETTINGS = AccountSettings(credit_cents=100_000, number_limit=100)
WEBHOOK_URL = "https://example.com/agentphone-emulator-compare"


class Unreachable(Exception):
    """The service did not answer at all (exit 2: the URL is wrong, or it is down)."""


class KeyRefused(Exception):
    """The service answered every list with 401 or 403 (exit 1)."""


@dataclass
class Listing:
    """What the service's lists say: how many of each kind, and the first one."""

    counts: dict[str, int] = field(default_factory=dict)
    first: dict[str, dict[str, Any]] = field(default_factory=dict)
    has_webhook: bool = False

    def ids(self) -> dict[str, str]:
        return {kind: str(item["id"]) for kind, item in self.first.items() if "id" in item}


LISTED = {"agent": "/v1/agents", "number": "/v1/numbers", "contact": "/v1/contacts", "call": "/v1/calls",
          "conversation": "/v1/conversations"}  # fmt: skip


async def read_listing(
    session: aiohttp.ClientSession, base_url: str, api_key: str
) -> tuple[Listing, list[str]]:
    """The service's lists; the problems (a list that did not answer 200 with ``data``) as lines."""
    listing, problems = Listing(), []
    for kind, path in LISTED.items():
        answer = await exchange(session, base_url, api_key, Request("GET", path))
        if answer.status == 0 and kind == "agent":  # the first request: nothing else will answer either
            raise Unreachable(f"cannot reach {base_url}: {answer.problem}")
        body = answer.body
        if answer.status != 200 or not isinstance(body, dict) or not isinstance(body.get("data"), list):
            problems.append(f"GET {path}: {answer.problem or answer.status}")
            continue
        items = [item for item in body["data"] if isinstance(item, dict)]
        total = body.get("total")
        listing.counts[kind] = total if isinstance(total, int) and total >= 0 else len(items)
        if items:
            listing.first[kind] = items[0]
    if len(problems) == len(LISTED) and all(problem.endswith((": 401", ": 403")) for problem in problems):
        raise KeyRefused(f"{base_url} refused the key ({problems[0]}): check --api-key")
    answer = await exchange(session, base_url, api_key, Request("GET", "/v1/webhooks"))
    listing.has_webhook = answer.status == 200 and isinstance(answer.body, dict)
    return listing, problems


async def _post(session: aiohttp.ClientSession, emulator: Emulator, path: str, body: dict[str, Any]) -> Any:
    headers = {"Authorization": f"Bearer {emulator.api_key}"}
    async with session.post(emulator.base_url + path, json=body, headers=headers) as response:
        response.raise_for_status()  # our own emulator refusing our own seed is our bug
        return await response.json()


async def seed(emulator: Emulator, session: aiohttp.ClientSession, there: Listing) -> None:
    def count(kind: str) -> int:
        return min(there.counts.get(kind, 0), MAX_MIRRORED)

    agents = [
        await _post(session, emulator, "/v1/agents", {"name": f"mirror {i}"}) for i in range(count("agent"))
    ]
    wants_agent = bool(there.first.get("number", {}).get("agentId"))
    numbers = []
    for _ in range(count("number")):
        body = {"agentId": agents[0]["id"]} if wants_agent and agents else {}
        numbers.append(await _post(session, emulator, "/v1/numbers", body))
    for i in range(count("contact")):
        await _post(
            session, emulator, "/v1/contacts", {"name": f"Mirror {i}", "phoneNumber": f"+120155501{20 + i}"}
        )
    line = next((n for n in numbers if n.get("agentId")), None)
    if line is None and (count("call") or count("conversation")):
        agent = agents[0] if agents else await _post(session, emulator, "/v1/agents", {"name": "mirror line"})
        line = await _post(session, emulator, "/v1/numbers", {"agentId": agent["id"]})
    for i in range(count("call")):
        call = await emulator.aring(to=line["phoneNumber"], from_=f"+120155501{30 + i}")  # type: ignore[index]
        await call.ahangup()
    for i in range(count("conversation")):
        await emulator.asend_sms(from_=f"+120155501{40 + i}", to=line["phoneNumber"], body="Hello")  # type: ignore[index]
    if there.has_webhook:
        await _post(session, emulator, "/v1/webhooks", {"url": WEBHOOK_URL})


def mirror_emulator() -> Emulator:
    return Emulator(settings=MIRROR_SETTINGS)
