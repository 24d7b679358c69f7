"""Product feedback through the official SDK: ``client.feedback``."""

from __future__ import annotations

from typing import Any

import pytest
from agentphone import AgentPhone, AgentPhoneError, AsyncAgentPhone

from agentphone_emulator import Emulator


def test_submit_is_recorded(emu: Emulator, client: AgentPhone) -> None:
    result = client.feedback.submit(
        "bug",
        "Transcript arrived late",
        request_id="req_123",
        url="https://app.example.com/calls",
        tags=["calls", "sse"],
    )
    assert result["ok"] is True
    assert result["id"].startswith("fb_")
    assert result["received_at"].endswith("Z")
    recorded = emu.call_soon(lambda: list(emu.account().feedback))
    assert [(f.id, f.category, f.note, f.request_id, f.url, f.tags) for f in recorded] == [
        (
            result["id"],
            "bug",
            "Transcript arrived late",
            "req_123",
            "https://app.example.com/calls",
            ["calls", "sse"],
        )
    ]


def test_only_category_and_note_are_required(emu: Emulator, client: AgentPhone) -> None:
    result = client.feedback.submit("idea", "Let agents share contact cards")
    recorded = emu.call_soon(lambda: emu.account().feedback[-1])
    assert (recorded.id, recorded.request_id, recorded.url, recorded.tags) == (result["id"], None, None, [])


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"note": "n"}, ["body", "category"]),
        ({"category": "bug"}, ["body", "note"]),
        ({"category": "", "note": "n"}, ["body", "category"]),
        ({"category": "bug", "note": "n", "tags": "calls"}, ["body", "tags"]),
    ],
)
def test_validation(client: AgentPhone, api: Any, body: dict[str, Any], loc: list[str]) -> None:
    response = api.post("/v1/feedback", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc
    with pytest.raises(AgentPhoneError) as exc:
        client.feedback.submit("", "note")
    assert exc.value.status == 422


async def test_async_feedback(async_client: AsyncAgentPhone) -> None:
    result = await async_client.feedback.submit("praise", "Works great", tags=["voice"])
    assert result["ok"] is True and result["id"].startswith("fb_")
    with pytest.raises(AgentPhoneError) as exc:
        await async_client.feedback.submit("bug", "")
    assert exc.value.status == 422
