"""Number locations through the official SDK: ``client.location``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from agentphone import AgentPhone, AgentPhoneError, AsyncAgentPhone, NotFoundError

from agentphone_emulator import Emulator


def test_unavailable_until_refreshed(emu: Emulator, client: AgentPhone) -> None:
    number = client.numbers.buy(area_code="415")
    before = client.location.get(number.phone_number)
    assert (before.phone_number, before.status, before.last_updated) == (
        number.phone_number,
        "unavailable",
        0,
    )
    assert before.latitude is None and before.longitude is None

    refresh = client.location.refresh()
    assert (refresh.success, refresh.poll_after_seconds) == (True, 20)
    refreshed_at = emu.call_soon(lambda: emu.account().location_refreshed_at)
    assert refreshed_at is not None

    after = client.location.get(number.phone_number)
    assert after.status == "available"
    assert after.last_updated == int(refreshed_at.timestamp())
    assert after.latitude is not None and after.longitude is not None
    # Near San Francisco, and stable between reads.
    assert abs(after.latitude - 37.7749) < 0.05 and abs(after.longitude + 122.4194) < 0.05
    again = client.location.get(number.phone_number)
    assert (again.latitude, again.longitude) == (after.latitude, after.longitude)


def test_numbers_bought_after_a_refresh_wait_for_the_next(rich_emu: Emulator, client: AgentPhone) -> None:
    first = client.numbers.buy(area_code="212")
    client.location.refresh()
    second = client.numbers.buy(area_code="604", country="CA")
    assert client.location.get(first.phone_number).status == "available"
    assert client.location.get(second.phone_number).status == "unavailable"
    client.location.refresh()
    located = client.location.get(second.phone_number)
    assert located.status == "available"
    assert abs(located.latitude - 49.2827) < 0.05  # type: ignore[operator]


def test_only_the_accounts_active_numbers(client: AgentPhone, api: Any) -> None:
    with pytest.raises(NotFoundError, match="Phone number not found"):
        client.location.get("+14155550100")
    number = client.numbers.buy()
    client.numbers.release(number.id)
    with pytest.raises(NotFoundError):
        client.location.get(number.phone_number)
    with pytest.raises(AgentPhoneError) as exc:
        client.location.get("not-a-number")
    assert exc.value.status == 422
    assert api.get(f"/v1/location/{quote('nope')}").json()["detail"][0]["loc"] == ["path", "phone_number"]


def test_url_encoded_plus(client: AgentPhone, api: Any) -> None:
    number = client.numbers.buy()
    response = api.get(f"/v1/location/{quote(number.phone_number)}")
    assert response.status_code == 200
    assert response.json() == {
        "phoneNumber": number.phone_number,
        "status": "unavailable",
        "lastUpdated": 0,
        "latitude": None,
        "longitude": None,
    }


async def test_async_location(async_client: AsyncAgentPhone) -> None:
    number = await async_client.numbers.buy(area_code="312")
    assert (await async_client.location.get(number.phone_number)).status == "unavailable"
    refresh = await async_client.location.refresh()
    assert refresh.success is True and refresh.poll_after_seconds == 20
    located = await async_client.location.get(number.phone_number)
    assert located.status == "available" and located.last_updated > 0
    with pytest.raises(NotFoundError):
        await async_client.location.get("+13125550100")


def test_bad_phone_number_is_a_documented_422(api: Any) -> None:
    # Found by tests/test_api_fuzz.py: a path parameter's 422 was answered but /openapi.json
    # documented it only for operations with a query or a body, so clients read it as "4XX: a string".
    response = api.get("/v1/location/0")
    assert response.status_code == 422
    [entry] = response.json()["detail"]
    assert (entry["type"], entry["loc"], entry["input"]) == ("value_error", ["path", "phone_number"], "0")
    documented = api.get("/openapi.json").json()["paths"]["/v1/location/{phone_number}"]["get"]["responses"]
    assert documented["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HTTPValidationError"
    }
