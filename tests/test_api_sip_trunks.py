"""SIP trunks through the official SDK: ``client.sip_trunks``."""

from __future__ import annotations

from typing import Any

import pytest
from agentphone import AgentPhone, AgentPhoneError, AsyncAgentPhone, NotFoundError


def test_create_shows_the_password_once(client: AgentPhone) -> None:
    assert client.sip_trunks.list() == []
    trunk = client.sip_trunks.create()
    assert trunk.id.startswith("trunk_")
    assert trunk.name == "SIP trunk 1"
    assert (trunk.provider, trunk.encrypted, trunk.transport, trunk.media_encryption) == (
        "",
        False,
        "udp",
        "disabled",
    )
    assert (trunk.transfers, trunk.transfer_caller_id) == ("all", "transferee")
    assert trunk.termination_sip_uri == f"sip:{trunk.id}@sip.agentphone.emulator"
    assert trunk.origination_uris == [] and trunk.allowed_ips == []
    assert trunk.proxy_ips
    assert trunk.credentials is not None and len(trunk.credentials) == 1
    credential = trunk.credentials[0]
    assert credential.username and credential.password and len(credential.password) >= 16
    assert credential.password_last4 == credential.password[-4:]
    assert credential.credential_list_name

    fetched = client.sip_trunks.get(trunk.id)
    assert fetched.credentials is not None
    assert fetched.credentials[0].password is None
    assert fetched.credentials[0].password_last4 == credential.password_last4
    assert fetched.created_at == trunk.created_at
    assert [t.id for t in client.sip_trunks.list()] == [trunk.id]


def test_list_is_newest_first(client: AgentPhone) -> None:
    first = client.sip_trunks.create()
    second = client.sip_trunks.create()
    listed = client.sip_trunks.list()
    assert {t.id for t in listed} == {first.id, second.id}
    assert all(t.credentials and t.credentials[0].password is None for t in listed)
    assert second.name == "SIP trunk 2"


def test_update_fields(client: AgentPhone) -> None:
    trunk = client.sip_trunks.create()
    password_last4 = trunk.credentials[0].password_last4  # type: ignore[index]
    updated = client.sip_trunks.update(
        trunk.id,
        name="Office PBX",
        transfers="sip",
        transfer_caller_id="transferor",
        origination={
            "uris": [{"sip_uri": "sip:pbx.example.com:5060", "priority": 1, "weight": 50, "name": "primary"}],
            "allowed_ips": [{"cidr": "198.51.100.7", "name": "office"}, "198.51.100.0/24"],
        },
    )
    assert (updated.name, updated.transfers, updated.transfer_caller_id) == (
        "Office PBX",
        "sip",
        "transferor",
    )
    uri = updated.origination_uris[0]
    assert (uri.sip_uri, uri.priority, uri.weight, uri.name) == ("sip:pbx.example.com:5060", 1, 50, "primary")
    assert [(ip.cidr, ip.name) for ip in updated.allowed_ips] == [
        ("198.51.100.7/32", "office"),
        ("198.51.100.0/24", None),
    ]
    # A field update is not a rotation: the password stays hidden and unchanged.
    assert updated.credentials[0].password is None  # type: ignore[index]
    assert updated.credentials[0].password_last4 == password_last4  # type: ignore[index]

    fetched = client.sip_trunks.get(trunk.id)
    assert fetched.name == "Office PBX"
    assert fetched.origination_uris[0].sip_uri == "sip:pbx.example.com:5060"

    # Only what is sent changes; a lone sip_uri is understood.
    again = client.sip_trunks.update(trunk.id, origination={"sip_uri": "sips:edge.example.com"})
    assert [u.sip_uri for u in again.origination_uris] == ["sips:edge.example.com"]
    assert (again.origination_uris[0].priority, again.origination_uris[0].weight) == (10, 10)
    assert [ip.cidr for ip in again.allowed_ips] == ["198.51.100.7/32", "198.51.100.0/24"]
    assert again.name == "Office PBX"


def test_empty_update_rotates_credentials(client: AgentPhone) -> None:
    trunk = client.sip_trunks.create()
    old = trunk.credentials[0]  # type: ignore[index]
    rotated = client.sip_trunks.update(trunk.id)
    new = rotated.credentials[0]  # type: ignore[index]
    assert new.password and new.password != old.password
    assert new.username == old.username
    assert new.password_last4 == new.password[-4:]
    assert client.sip_trunks.get(trunk.id).credentials[0].password_last4 == new.password_last4  # type: ignore[index]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"transfers": "some"}, ["body", "transfers"]),
        ({"transfer_caller_id": "caller"}, ["body", "transfer_caller_id"]),
        (
            {"origination": {"uris": [{"sip_uri": "http://pbx"}]}},
            ["body", "origination", "uris", 0, "sip_uri"],
        ),
        ({"origination": {"allowed_ips": ["not-an-ip"]}}, ["body", "origination", "allowed_ips", 0, "cidr"]),
        ({"name": ""}, ["body", "name"]),
    ],
)
def test_update_validation(client: AgentPhone, api: Any, body: dict[str, Any], loc: list[Any]) -> None:
    trunk = client.sip_trunks.create()
    response = api.patch(f"/v1/sip-trunks/{trunk.id}", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == loc


def test_camel_case_patch_is_accepted(client: AgentPhone, api: Any) -> None:
    trunk = client.sip_trunks.create()
    response = api.patch(f"/v1/sip-trunks/{trunk.id}", json={"transferCallerId": "transferor"})
    assert response.status_code == 200
    assert response.json()["transferCallerId"] == "transferor"
    assert response.json()["credentials"][0]["password"] is None


def test_delete_and_unknown_ids(client: AgentPhone) -> None:
    trunk = client.sip_trunks.create()
    assert client.sip_trunks.delete(trunk.id) == {"success": True, "id": trunk.id}
    assert client.sip_trunks.list() == []
    for call in (
        lambda: client.sip_trunks.get(trunk.id),
        lambda: client.sip_trunks.update(trunk.id, name="x"),
        lambda: client.sip_trunks.delete(trunk.id),
    ):
        with pytest.raises(NotFoundError, match="SIP trunk not found"):
            call()


def test_sdk_update_validation_error(client: AgentPhone) -> None:
    trunk = client.sip_trunks.create()
    with pytest.raises(AgentPhoneError) as exc:
        client.sip_trunks.update(trunk.id, transfers="everything")
    assert exc.value.status == 422


async def test_async_sip_trunks(async_client: AsyncAgentPhone) -> None:
    trunk = await async_client.sip_trunks.create()
    assert trunk.credentials and trunk.credentials[0].password
    assert [t.id for t in await async_client.sip_trunks.list()] == [trunk.id]
    fetched = await async_client.sip_trunks.get(trunk.id)
    assert fetched.credentials and fetched.credentials[0].password is None
    updated = await async_client.sip_trunks.update(trunk.id, transfers="none")
    assert updated.transfers == "none"
    rotated = await async_client.sip_trunks.update(trunk.id)
    assert rotated.credentials and rotated.credentials[0].password not in (
        None,
        trunk.credentials[0].password,
    )
    assert (await async_client.sip_trunks.delete(trunk.id))["success"] is True
    with pytest.raises(NotFoundError):
        await async_client.sip_trunks.get(trunk.id)
