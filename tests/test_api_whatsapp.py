"""The WhatsApp integration through the official SDK: ``client.whatsapp`` (no ``/v1`` prefix)."""

from __future__ import annotations

from typing import Any

import pytest
from agentphone import AgentPhone, AgentPhoneError, AsyncAgentPhone, NotFoundError

BODY = [{"type": "BODY", "text": "Your order {{1}} has shipped."}]


def test_connect_status_and_disconnect(client: AgentPhone) -> None:
    assert client.whatsapp.whatsapp_status() == {"connected": False, "connections": []}
    agent = client.agents.create(name="WA agent")
    connection = client.whatsapp.whatsapp_connect(
        "signup-code", waba_id="1234567890", phone_number_id="555000111", agent_id=agent.id
    )
    cid = connection["connection_id"]
    assert cid.startswith("wac_")
    assert (connection["status"], connection["waba_id"], connection["agent_id"]) == (
        "connected",
        "1234567890",
        agent.id,
    )
    assert [n["phone_number_id"] for n in connection["phone_numbers"]] == ["555000111"]
    assert connection["phone_numbers"][0]["agent_id"] == agent.id

    status = client.whatsapp.whatsapp_status()
    assert status["connected"] is True
    assert [c["connection_id"] for c in status["connections"]] == [cid]

    assert client.whatsapp.whatsapp_disconnect(cid) == {"success": True, "connection_id": cid}
    assert client.whatsapp.whatsapp_status() == {"connected": False, "connections": []}
    with pytest.raises(NotFoundError, match="WhatsApp connection not found"):
        client.whatsapp.whatsapp_disconnect(cid)


def test_numbers(client: AgentPhone) -> None:
    connection = client.whatsapp.whatsapp_connect("code")
    cid = connection["connection_id"]
    assert connection["phone_numbers"] == []
    available = client.whatsapp.whatsapp_available_numbers(cid)["data"]
    assert len(available) >= 1
    first = available[0]
    assert set(first) == {"phone_number_id", "display_phone_number", "verified_name", "connected"}
    assert first["connected"] is False

    agent = client.agents.create(name="Support")
    result = client.whatsapp.whatsapp_connect_number(cid, first["phone_number_id"], agent_id=agent.id)
    assert result["success"] is True
    assert result["phone_number"]["phone_number_id"] == first["phone_number_id"]
    assert result["phone_number"]["agent_id"] == agent.id
    assert client.whatsapp.whatsapp_available_numbers(cid)["data"][0]["connected"] is True
    status = client.whatsapp.whatsapp_status()["connections"][0]
    assert [n["phone_number_id"] for n in status["phone_numbers"]] == [first["phone_number_id"]]

    with pytest.raises(NotFoundError, match="WhatsApp phone number not found"):
        client.whatsapp.whatsapp_connect_number(cid, "999")
    with pytest.raises(NotFoundError, match="Agent not found"):
        client.whatsapp.whatsapp_connect_number(cid, first["phone_number_id"], agent_id="agt_missing")
    with pytest.raises(NotFoundError, match="WhatsApp connection not found"):
        client.whatsapp.whatsapp_available_numbers("wac_missing")
    with pytest.raises(NotFoundError):
        client.whatsapp.whatsapp_connect_number("wac_missing", first["phone_number_id"])


def test_connect_errors(client: AgentPhone, api: Any) -> None:
    with pytest.raises(NotFoundError, match="Agent not found"):
        client.whatsapp.whatsapp_connect("code", agent_id="agt_missing")
    client.whatsapp.whatsapp_connect("code", waba_id="42")
    with pytest.raises(AgentPhoneError) as exc:
        client.whatsapp.whatsapp_connect("code", waba_id="42")
    assert exc.value.status == 409
    response = api.post("/integrations/whatsapp/connect", json={"waba_id": "1"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "code"]
    assert api.get("/v1/integrations/whatsapp/status").status_code == 404


def test_templates(client: AgentPhone) -> None:
    cid = client.whatsapp.whatsapp_connect("code")["connection_id"]
    assert client.whatsapp.whatsapp_list_templates(cid) == {"data": []}
    shipped = client.whatsapp.whatsapp_create_template(cid, "order_shipped", "utility", components=BODY)
    assert (shipped["name"], shipped["category"], shipped["language"], shipped["status"]) == (
        "order_shipped", "UTILITY", "en_US", "PENDING",
    )  # fmt: skip
    assert shipped["components"] == BODY
    spanish = client.whatsapp.whatsapp_create_template(
        cid, "order_shipped", "UTILITY", language="es", components=BODY
    )
    promo = client.whatsapp.whatsapp_create_template(
        cid, "spring_sale", "MARKETING", parameter_format="named", components=BODY
    )
    assert promo["parameter_format"] == "NAMED"
    library = client.whatsapp.whatsapp_create_template(
        cid, "otp_code", "AUTHENTICATION", library_template_name="verify_code_1"
    )
    assert library["library_template_name"] == "verify_code_1"

    def names(**filters: str) -> list[tuple[str, str]]:
        return sorted(
            (t["name"], t["language"])
            for t in client.whatsapp.whatsapp_list_templates(cid, **filters)["data"]
        )

    assert len(names()) == 4
    assert names(name="order") == [("order_shipped", "en_US"), ("order_shipped", "es")]
    assert names(category="MARKETING") == [("spring_sale", "en_US")]
    assert names(language="es") == [("order_shipped", "es")]
    assert names(status="PENDING") == names()
    assert names(status="APPROVED") == []

    with pytest.raises(AgentPhoneError) as exc:
        client.whatsapp.whatsapp_create_template(cid, "order_shipped", "UTILITY", components=BODY)
    assert exc.value.status == 409

    # Deleting by hsm_id removes one language; by name alone, all of them.
    deleted = client.whatsapp.whatsapp_delete_template(cid, "order_shipped", hsm_id=spanish["id"])
    assert deleted == {"success": True, "name": "order_shipped", "deleted": 1}
    assert names(name="order") == [("order_shipped", "en_US")]
    assert client.whatsapp.whatsapp_delete_template(cid, "spring_sale")["deleted"] == 1
    assert names() == [("order_shipped", "en_US"), ("otp_code", "en_US")]
    with pytest.raises(NotFoundError, match="Template not found"):
        client.whatsapp.whatsapp_delete_template(cid, "spring_sale")
    with pytest.raises(NotFoundError, match="WhatsApp connection not found"):
        client.whatsapp.whatsapp_list_templates("wac_missing")


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"name": "Order Shipped", "category": "UTILITY", "components": BODY}, ["body", "name"]),
        ({"name": "ok", "category": "PROMO", "components": BODY}, ["body", "category"]),
        ({"name": "ok", "components": BODY}, ["body", "category"]),
        ({"name": "ok", "category": "UTILITY"}, ["body", "components"]),
        (
            {"name": "ok", "category": "UTILITY", "language": "english", "components": BODY},
            ["body", "language"],
        ),
    ],
)
def test_template_validation(client: AgentPhone, api: Any, body: dict[str, Any], loc: list[str]) -> None:
    cid = client.whatsapp.whatsapp_connect("code")["connection_id"]
    response = api.post(f"/integrations/whatsapp/{cid}/templates", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == loc


def test_template_delete_needs_a_name(client: AgentPhone, api: Any) -> None:
    cid = client.whatsapp.whatsapp_connect("code")["connection_id"]
    response = api.delete(f"/integrations/whatsapp/{cid}/templates")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "name"]


async def test_async_whatsapp(async_client: AsyncAgentPhone) -> None:
    assert (await async_client.whatsapp.whatsapp_status())["connected"] is False
    connection = await async_client.whatsapp.whatsapp_connect("code", business_id="77")
    cid = connection["connection_id"]
    assert connection["business_id"] == "77"
    available = (await async_client.whatsapp.whatsapp_available_numbers(cid))["data"]
    connected = await async_client.whatsapp.whatsapp_connect_number(cid, available[-1]["phone_number_id"])
    assert connected["phone_number"]["agent_id"] is None
    template = await async_client.whatsapp.whatsapp_create_template(
        cid, "welcome", "MARKETING", components=BODY
    )
    listed = await async_client.whatsapp.whatsapp_list_templates(cid, name="welcome")
    assert [t["id"] for t in listed["data"]] == [template["id"]]
    assert (await async_client.whatsapp.whatsapp_delete_template(cid, "welcome"))["deleted"] == 1
    assert (await async_client.whatsapp.whatsapp_disconnect(cid))["success"] is True
    with pytest.raises(NotFoundError):
        await async_client.whatsapp.whatsapp_list_templates(cid)
