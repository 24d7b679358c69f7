"""The control plane's OpenAPI (``/__emulator/openapi.json``) is typed: it validates, every closed set
is an ``enum`` equal to the Python Literal or enum the engine writes, and no object is left untyped
unless it is listed below with the reason it cannot be."""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum
from typing import Any, get_args

import pytest
import requests

from agentphone_emulator import Emulator, vocabulary
from agentphone_emulator.api import control_console
from agentphone_emulator.engine.callees import Outcome
from agentphone_emulator.models import agents as agent_models
from agentphone_emulator.models import control as control_models
from agentphone_emulator.models import control_events as event_models
from agentphone_emulator.models import control_probes as probe_models
from agentphone_emulator.models import messages as message_models
from agentphone_emulator.models import numbers as number_models
from agentphone_emulator.models import register as register_models
from agentphone_emulator.scenario.models import SEVERITY_RANK
from agentphone_emulator.store.calls import STATUS_OF_REASON
from agentphone_emulator.store.findings import FindingCode


@pytest.fixture(scope="module")
def document(emulator_server: Emulator) -> dict[str, Any]:
    answer = requests.get(emulator_server.base_url + "/__emulator/openapi.json", timeout=30)
    assert answer.status_code == 200
    served: dict[str, Any] = answer.json()
    return served


def test_the_control_plane_openapi_is_valid(document: dict[str, Any]) -> None:
    from openapi_spec_validator import validate

    validate(document)  # type: ignore[arg-type]
    ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    for path in ["/__emulator/settle", "/__emulator/probes", "/__emulator/agents", "/__emulator/reset"]:
        assert "post" in document["paths"][path], path
    assert "get" in document["paths"]["/__emulator/deliveries/{delivery_id}"]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _enum(document: dict[str, Any], component: str, prop: str) -> list[Any]:
    """The enum of ``component.prop``, through ``$ref``s, nullable ``anyOf``s and array items."""
    schema = _resolve(document, document["components"]["schemas"][component]["properties"][prop])
    if "items" in schema:
        schema = _resolve(document, schema["items"])
    if "anyOf" in schema:
        [schema] = [_resolve(document, s) for s in schema["anyOf"] if s.get("type") != "null"]
    if "const" in schema:
        return [schema["const"]]
    assert "enum" in schema, (component, prop, schema)
    values: list[Any] = schema["enum"]
    return values


def _python(values: Any) -> list[Any]:
    if isinstance(values, type) and issubclass(values, Enum):
        return [member.value for member in values]
    args = [arg for arg in get_args(values) if arg is not type(None)]
    if len(args) == 1 and get_args(args[0]):  # Literal[...] | None
        return list(get_args(args[0]))
    return args


# (component, property) -> the Python set its values come from. Both ways: an enum in the document
# that names a Python set must equal it, and every one of these must be an enum in the document.
ENUMS: list[tuple[str, str, Any]] = [
    ("CallSimOut", "status", vocabulary.CallStatus),
    ("CallSimOut", "disconnectionReason", vocabulary.DisconnectionReason),
    ("ClockRunOut", "status", vocabulary.CallStatus),
    ("ClockRunOut", "disconnectionReason", vocabulary.DisconnectionReason),
    ("ClockRunOut", "eventType", vocabulary.EventType),
    ("ReplyOut", "mode", vocabulary.ReplyMode),
    ("ReplyOut", "state", vocabulary.ReplyState),
    ("KeyPressOut", "by", vocabulary.Party),
    ("TranscriptLineOut", "role", vocabulary.Party),
    ("FindingOut", "code", FindingCode),
    ("FindingOut", "severity", vocabulary.Severity),
    ("FindingOut", "event", vocabulary.EventType),
    ("FindingOut", "channel", vocabulary.EventChannel),
    ("DeliveryOut", "status", vocabulary.DeliveryStatus),
    ("DeliveryOut", "eventType", vocabulary.EventType),
    ("DeliveryOut", "channel", vocabulary.EventChannel),
    ("MessageRef", "direction", vocabulary.MessageDirection),
    ("TextReactionOut", "direction", vocabulary.MessageDirection),
    ("DeliveryOut", "signature", vocabulary.SignatureChoice),
    ("ReplayBody", "signature", vocabulary.SignatureChoice),
    ("ProbeBody", "kind", vocabulary.ProbeKind),
    ("ProbeOut", "kind", vocabulary.ProbeKind),
    ("ProbeOut", "expected", vocabulary.ProbeVerdict),
    ("CalleeBody", "outcome", Outcome),
    ("CalleeOut", "outcome", Outcome),
    ("RegistrationControlOut", "status", vocabulary.RegistrationStatus),
    ("NumberOut", "status", vocabulary.NumberStatus),
    ("NumberOut", "type", vocabulary.NumberType),
    ("AgentNumberOut", "status", vocabulary.NumberStatus),
    ("ProvisionNumber", "type", vocabulary.NumberType),
    ("AgentNumberOut", "type", vocabulary.NumberType),
    ("MessageRef", "channel", message_models.Channel),
    ("RegistrationControlOut", "registrationType", register_models.RegistrationType),
    *[
        (component, prop, literal)
        for component in ("AgentOut", "StrictAgentCreate")
        for prop, literal in [
            ("voiceMode", agent_models.VoiceMode),
            ("modelTier", agent_models.ModelTier),
            ("sttMode", agent_models.SttMode),
            ("ambientSound", agent_models.AmbientSound),
            ("denoisingMode", agent_models.DenoisingMode),
        ]
    ],
    ("StrictAgentCreate", "language", agent_models.Language),
    # Sets that live in the wire model itself (nothing else writes them), and constants.
    ("ClockRunOut", "kind", control_models.ClockRunOut.model_fields["kind"].annotation),
    ("CustomTool", "method", agent_models.CustomTool.model_fields["method"].annotation),
    ("NumberOut", "outboundSms", number_models.NumberOut.model_fields["outbound_sms"].annotation),
    ("RequestOut", "method", control_models.RequestOut.model_fields["method"].annotation),
    ("ProbeBody", "event", probe_models.ProbeBody.model_fields["event"].annotation),
    ("ResetOut", "reset", control_models.ResetOut.model_fields["reset"].annotation),
    ("SettleOut", "settled", probe_models.SettleOut.model_fields["settled"].annotation),
    ("ScriptStep", "hangup", control_models.ScriptStep.model_fields["hangup"].annotation),
    ("AnswerBody", "choice", control_console.AnswerChoice),
    ("AnswerOut", "choice", control_console.AnswerChoice),
    # Each live event names its type: a constant, and together the stream's set of types.
    *[
        (model.__name__, "type", model.model_fields["type"].annotation)
        for model in get_args(get_args(event_models.LiveEventOut)[0])
    ],
]


@pytest.mark.parametrize(("component", "prop", "python"), ENUMS, ids=[f"{c}.{p}" for c, p, _ in ENUMS])
def test_each_openapi_enum_is_its_python_set(
    document: dict[str, Any], component: str, prop: str, python: Any
) -> None:
    assert sorted(_enum(document, component, prop)) == sorted(_python(python))


def _enum_properties(document: dict[str, Any]) -> set[tuple[str, str]]:
    found = set()
    for component, schema in document["components"]["schemas"].items():
        for prop in schema.get("properties", {}):
            try:
                _enum(document, component, prop)
            except (AssertionError, ValueError):
                continue
            found.add((component, prop))
    return found


def test_every_enum_in_the_document_is_checked(document: dict[str, Any]) -> None:
    """An enum added to a control-plane model must name its Python set in ENUMS above."""
    assert sorted(_enum_properties(document) - {(c, p) for c, p, _ in ENUMS}) == []


def test_the_python_sets_agree_with_the_engines_own_tables() -> None:
    """The vocabulary is the one the engine is held to elsewhere: call endings, the scenario
    language's severities, the YAML probe kinds."""
    from agentphone_emulator.engine import probes
    from agentphone_emulator.scenario import models

    assert set(get_args(vocabulary.DisconnectionReason)) == set(STATUS_OF_REASON)
    assert set(STATUS_OF_REASON.values()) <= set(get_args(vocabulary.CallStatus))
    assert set(get_args(vocabulary.Severity)) == set(SEVERITY_RANK)
    assert set(get_args(models.ProbeKind)) == set(get_args(vocabulary.ProbeKind))
    assert set(probes.FORGED_KINDS) | {"duplicate"} == set(get_args(vocabulary.ProbeKind))


# Objects the document may leave open, each with the reason it cannot say more.
ALLOWED_UNTYPED: dict[str, str] = {
    "HTTPValidationError.detail[].input": "FastAPI's 422 echoes the refused value, whatever it was",
    "HTTPValidationError.detail[].ctx": "FastAPI's 422 context differs per error type (a bound, a pattern ...)",
    "DeliveryOut.payload": "the webhook envelope as the platform sends it (its contract is the platform's "
    "AsyncAPI, not ours to restate); its exact bytes are each attempt's request.body",
    "CustomTool.parameters": "a custom tool's parameters are a JSON Schema: any JSON object",
    "AgentOut.customTools[].parameters": "CustomTool.parameters, as an agent answers it",
    "HostedBody.replies{}[]": "a scripted reply is text or a reply object like a webhook's, read by the "
    "same reply reader, which reports unknown fields as findings instead of refusing them",
    "HostedOut.replies{}[]": "HostedBody.replies, as configured",
}


def _open_objects(schema: Any, where: str) -> Iterator[str]:
    """Where ``schema`` allows any value, or any object, without saying what it holds."""
    if not isinstance(schema, dict):
        return
    if schema == {}:
        yield where
        return
    extra = schema.get("additionalProperties")
    bare_object = schema.get("type") == "object" and "properties" not in schema and extra in (None, {})
    if bare_object or extra is True:
        yield where
    for name, sub in schema.get("properties", {}).items():
        yield from _open_objects(sub, f"{where}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _open_objects(schema["items"], f"{where}[]")
    if isinstance(extra, dict):
        yield from _open_objects(extra, f"{where}{{}}")
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            yield from _open_objects(sub, where)


def test_no_object_is_left_untyped(document: dict[str, Any]) -> None:
    found = {
        spot
        for name, schema in document["components"]["schemas"].items()
        for spot in _open_objects(schema, name)
    }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            bodies = [operation.get("requestBody", {}).get("content", {})]
            bodies += [response.get("content", {}) for response in operation["responses"].values()]
            for content in bodies:
                for media in content.values():
                    found |= set(_open_objects(media["schema"], f"{method.upper()} {path}"))
    assert sorted(found - set(ALLOWED_UNTYPED)) == [], (
        "an untyped object: model it, or allow it with a reason"
    )
    assert sorted(set(ALLOWED_UNTYPED) - found) == [], "allowed but typed now: drop it from ALLOWED_UNTYPED"


def test_the_walk_finds_what_it_should() -> None:
    """The check above cannot pass vacuously: each kind of open object is found."""
    assert list(_open_objects({"type": "object"}, "bare")) == ["bare"]
    assert list(_open_objects({"type": "object", "additionalProperties": True}, "any")) == ["any"]
    assert list(_open_objects({"properties": {"x": {}}}, "m")) == ["m.x"]
    nested = {"type": "array", "items": {"anyOf": [{"type": "object"}, {"type": "null"}]}}
    assert list(_open_objects(nested, "list")) == ["list[]"]
    assert list(_open_objects({"type": "object", "additionalProperties": {"type": "string"}}, "ok")) == []
