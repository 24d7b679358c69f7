"""What ``compare`` asks both services: every list, every resource's get (the first of each list,
on each side its own id), error answers, pagination, the OpenAPI document. All read-only: the bad
bodies are ones no service can create anything from (malformed JSON, an array for an object).
"""

from __future__ import annotations

from dataclasses import dataclass

from .exchanges import Request

LISTS = (
    "/v1/agents",
    "/v1/agents/voices",
    "/v1/numbers",
    "/v1/contacts",
    "/v1/conversations",
    "/v1/calls",
    "/v1/webhooks",
    "/v1/webhooks/deliveries",
    "/v1/webhooks/deliveries/stats",
    "/v1/webhooks/deliveries/all-time",
    "/v1/usage",
    "/v1/usage/daily",
    "/v1/usage/monthly",
    "/v1/usage/by-number",
    "/v1/usage/by-agent",
    "/v1/sub-accounts",
    "/v1/register/status",
)

# kind -> (its list, the gets of one of it)
RESOURCES: dict[str, tuple[str, tuple[str, ...]]] = {
    "agent": (
        "/v1/agents",
        (
            "/v1/agents/{id}",
            "/v1/agents/{id}/calls",
            "/v1/agents/{id}/conversations",
            "/v1/agents/{id}/webhook",
            "/v1/agents/{id}/webhook/deliveries",
        ),
    ),
    "number": (
        "/v1/numbers",
        (
            "/v1/numbers/{id}",
            "/v1/numbers/{id}/messages",
            "/v1/numbers/{id}/calls",
            "/v1/numbers/{id}/contact-card",
        ),
    ),
    "contact": ("/v1/contacts", ("/v1/contacts/{id}",)),
    "conversation": ("/v1/conversations", ("/v1/conversations/{id}", "/v1/conversations/{id}/messages")),
    "call": ("/v1/calls", ("/v1/calls/{id}", "/v1/calls/{id}/transcript", "/v1/calls/{id}/recording")),
}

# An id of the right form that no service has.
UNKNOWN_IDS = {
    "agent": "agt_000000000000000000000000",
    "number": "num_000000000000000000000000",
    "contact": "contact_000000000000000000000000",
    "conversation": "conv_000000000000000000000000",
    "call": "call_000000000000000000000000",
}

PAGES = (
    "/v1/agents?limit=1",
    "/v1/agents?limit=1&offset=1",
    "/v1/numbers?limit=1&offset=1",
    "/v1/calls?limit=1",
    "/v1/contacts?limit=1",
    "/v1/conversations?limit=1",
    "/v1/agents?limit=0",
    "/v1/agents?limit=1000",
    "/v1/calls?offset=-1",
)


@dataclass(frozen=True)
class Probe:
    """One question, as each side is asked it (their own ids in the path)."""

    label: str  # the request as a template: "GET /v1/agents/{id}"
    there: Request
    here: Request

    @staticmethod
    def same(request: Request, label: str | None = None) -> Probe:
        return Probe(label or request.line(), request, request)


def read_only(ids_there: dict[str, str], ids_here: dict[str, str]) -> list[Probe]:
    """Every read-only probe; a resource's gets only where both sides have one of it."""
    probes = [Probe.same(Request("GET", path)) for path in LISTS]
    for kind, (_, gets) in RESOURCES.items():
        if kind in ids_there and kind in ids_here:
            for template in gets:
                there = Request("GET", template.format(id=ids_there[kind]))
                here = Request("GET", template.format(id=ids_here[kind]))
                probes.append(Probe(f"GET {template}", there, here))
        for template in gets[:1]:
            probes.append(
                Probe.same(
                    Request("GET", template.format(id=UNKNOWN_IDS[kind])), f"GET {template} (unknown id)"
                )
            )
    probes += [Probe.same(Request("GET", path)) for path in PAGES]
    probes += [
        Probe.same(Request("GET", "/v1/no-such-resource")),
        Probe.same(Request("GET", "/v1/agents", auth="none"), "GET /v1/agents (no key)"),
        Probe.same(Request("GET", "/v1/agents", auth="wrong"), "GET /v1/agents (a wrong key)"),
        Probe.same(Request("POST", "/v1/agents", body=b"{"), "POST /v1/agents (malformed JSON)"),
        Probe.same(
            Request("POST", "/v1/contacts", body=b"[]"), "POST /v1/contacts (an array, not an object)"
        ),
    ]
    return probes
