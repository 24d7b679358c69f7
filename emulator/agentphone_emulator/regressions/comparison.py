"""``compare``'s run: the other service ("there") and a mirror emulator ("here") asked the same
questions in the same order, every answer's shape compared (:mod:`.shapes`), and, with
``--allow-writes``, free reversible writes made and undone on both.

When the statuses differ only the status is reported: the two bodies then answer different
questions (a recording and a 404), and comparing them would bury the one difference that matters.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .exchanges import Answer, Request, exchange
from .mirror import Listing, mirror_emulator, read_listing, seed
from .probes import Probe, read_only
from .shapes import differences, shape_of

REQUEST_TIMEOUT_S = 30.0
WRITE_NAME = "agentphone-emulator compare"
WRITE_PHONE = "+12015550199"
OPENAPI_PATH = "/openapi.json"


@dataclass(frozen=True)
class Divergence:
    label: str  # the request as a template
    there: str  # the request as sent there ("GET /v1/agents/agt_...")
    here: str
    aspect: str  # status, content-type, header, body, openapi, unanswered
    path: str  # where in the body ("data[].phoneNumber"), or the header / operation
    kind: str  # differs, missing, extra, casing, type
    there_value: str
    here_value: str


@dataclass
class Comparison:
    base_url: str
    requests: int = 0
    divergences: list[Divergence] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def compare_answers(probe: Probe, there: Answer, here: Answer) -> list[Divergence]:
    def one(aspect: str, path: str, kind: str, a: object, b: object) -> Divergence:
        return Divergence(
            probe.label, probe.there.line(), probe.here.line(), aspect, path, kind, str(a), str(b)
        )

    if there.status == 0 or here.status == 0:
        if there.status == here.status:
            return []
        return [one("unanswered", "", "differs", there.problem or there.status, here.problem or here.status)]
    if there.status != here.status:
        return [one("status", "", "differs", there.status, here.status)]
    found = []
    if there.media_type != here.media_type:
        found.append(one("content-type", "", "differs", there.media_type or "-", here.media_type or "-"))
    for header in sorted(set(there.headers) ^ set(here.headers)):
        kind = "missing" if header in there.headers else "extra"
        found.append(
            one(
                "header",
                header,
                kind,
                "present" if kind == "missing" else "-",
                "present" if kind == "extra" else "-",
            )
        )
    if there.is_json and here.is_json:
        for d in differences(shape_of(there.body), shape_of(here.body)):
            found.append(one("body", d.path, d.kind, d.there, d.here))
    elif there.is_json != here.is_json:
        found.append(
            one(
                "body",
                "",
                "type",
                "JSON" if there.is_json else "not JSON",
                "JSON" if here.is_json else "not JSON",
            )
        )
    return found


def _operations(document: Any) -> set[str]:
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        return set()
    operations = set()
    for path, item in document["paths"].items():
        if isinstance(item, dict):
            template = re.sub(r"\{[^}]*\}", "{}", str(path))  # {agent_id} and {id} are one path
            operations |= {f"{method.upper()} {template}" for method in item if method in _METHODS}
    return operations


_METHODS = ("get", "put", "post", "patch", "delete")


class _Sides:
    def __init__(self, session: aiohttp.ClientSession, there: tuple[str, str], here: tuple[str, str]) -> None:
        self.session, self.there, self.here = session, there, here
        self.result = Comparison(there[0])

    async def ask(self, probe: Probe) -> tuple[Answer, Answer]:
        there = await exchange(self.session, *self.there, probe.there)
        here = await exchange(self.session, *self.here, probe.here)
        self.result.requests += 1
        self.result.divergences += compare_answers(probe, there, here)
        return there, here

    async def openapi(self) -> None:
        probe = Probe.same(Request("GET", OPENAPI_PATH))
        there, here = await self.ask(probe)
        if there.status != 200 or here.status != 200:
            return
        ours, theirs = _operations(here.body), _operations(there.body)
        line = probe.there.line()
        for operation in sorted(theirs - ours):
            self.result.divergences.append(
                Divergence(probe.label, line, line, "openapi", operation, "missing", "served", "-")
            )
        for operation in sorted(ours - theirs):
            self.result.divergences.append(
                Divergence(probe.label, line, line, "openapi", operation, "extra", "-", "served")
            )


def _id(answer: Answer) -> str | None:
    if (
        200 <= answer.status < 300
        and isinstance(answer.body, dict)
        and isinstance(answer.body.get("id"), str)
    ):
        return str(answer.body["id"])
    return None


async def _writes(sides: _Sides, listing: Listing) -> None:
    """Create, read, change and delete an agent and a contact (and the account webhook if there is
    none), the same on both sides; whatever was created there is deleted again, even on failure."""
    created: list[str] = []  # paths to DELETE there, should the run stop half-way
    try:
        for kind, path, body in (
            ("agent", "/v1/agents", {"name": WRITE_NAME}),
            ("contact", "/v1/contacts", {"name": WRITE_NAME, "phoneNumber": WRITE_PHONE}),
        ):
            raw = json.dumps(body).encode()
            there, here = await sides.ask(Probe.same(Request("POST", path, raw), f"POST {path}"))
            ids = (_id(there), _id(here))
            if ids[0]:
                created.append(f"{path}/{ids[0]}")
            if ids[0] and ids[1]:
                item = f"{path}/{{id}}"
                await sides.ask(
                    Probe(
                        f"GET {item}", Request("GET", f"{path}/{ids[0]}"), Request("GET", f"{path}/{ids[1]}")
                    )
                )
                patch = json.dumps({"description" if kind == "agent" else "name": "compare"}).encode()
                await sides.ask(
                    Probe(
                        f"PATCH {item}",
                        Request("PATCH", f"{path}/{ids[0]}", patch),
                        Request("PATCH", f"{path}/{ids[1]}", patch),
                    )
                )
                await sides.ask(
                    Probe(
                        f"DELETE {item}",
                        Request("DELETE", f"{path}/{ids[0]}"),
                        Request("DELETE", f"{path}/{ids[1]}"),
                    )
                )
                created.remove(f"{path}/{ids[0]}")
            # A body missing its required fields: refused, or (a lenient service) created and deleted.
            there, here = await sides.ask(
                Probe.same(Request("POST", path, b"{}"), f"POST {path} (required fields missing)")
            )
            for answer, side in ((there, "there"), (here, "here")):
                if (made := _id(answer)) is not None:
                    if side == "there":
                        created.append(f"{path}/{made}")
                    else:
                        await exchange(sides.session, *sides.here, Request("DELETE", f"{path}/{made}"))
        if listing.has_webhook:
            sides.result.notes.append(
                "the account webhook was not written: the service has one, and setting another would replace it"
            )
        else:
            raw = json.dumps({"url": "https://example.com/agentphone-emulator-compare"}).encode()
            there, _ = await sides.ask(Probe.same(Request("POST", "/v1/webhooks", raw), "POST /v1/webhooks"))
            if 200 <= there.status < 300:
                created.append("/v1/webhooks")
            await sides.ask(Probe.same(Request("DELETE", "/v1/webhooks"), "DELETE /v1/webhooks"))
            if "/v1/webhooks" in created:
                created.remove("/v1/webhooks")
    finally:
        for path in created:
            answer = await exchange(sides.session, *sides.there, Request("DELETE", path))
            if not 200 <= answer.status < 300:
                sides.result.notes.append(
                    f"could not delete {path} there ({answer.problem or answer.status}): delete it yourself"
                )


async def run_comparison(base_url: str, api_key: str, *, allow_writes: bool = False) -> Comparison:
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        listing, problems = await read_listing(session, base_url, api_key)
        emulator = mirror_emulator()
        await emulator.start()
        try:
            await seed(emulator, session, listing)
            here_listing, _ = await read_listing(session, emulator.base_url, emulator.api_key)
            sides = _Sides(session, (base_url, api_key), (emulator.base_url, emulator.api_key))
            sides.result.notes += [f"could not list there: {problem}" for problem in problems]
            for probe in read_only(listing.ids(), here_listing.ids()):
                await sides.ask(probe)
            await sides.openapi()
            if allow_writes:
                await _writes(sides, listing)
            return sides.result
        finally:
            await emulator.stop()
