"""What the console needs beyond the event stream (api/control_events.py): to be the person an
outbound call rings. A call to a number whose callee is ``console`` (scripted through ``POST
/__emulator/callees``, or the magic number ending ``555 0106``) rings (status ``ringing``) until
someone decides here; answered, that person talks through the call routes (say, press, hang up)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..errors import conflict, not_found
from ..models.base import CamelModel, StrictCamelModel
from .control_events import PREFIX
from .framework import Ctx, Router

router = Router("emulator console")


AnswerChoice = Literal["answer", "busy", "no-answer", "voicemail"]
"""What the person an outbound call rings in the console may decide."""


class AnswerBody(StrictCamelModel):
    choice: AnswerChoice = Field(
        "answer",
        description="answer (then talk with say, press, hangup), busy, no-answer (ring out) or voicemail "
        "(the agent's voicemailMessage is left after the tone).",
    )


class AnswerOut(CamelModel):
    call_id: str
    choice: AnswerChoice


@router.post(f"{PREFIX}/calls/{{call_id}}/answer", response=AnswerOut, body=AnswerBody, body_required=False)
async def answer_call(ctx: Ctx, *, call_id: str, body: AnswerBody) -> AnswerOut:
    """Decide, as the person an outbound call rings in the console, whether to answer it (409 unless it is ringing there)"""
    if call_id not in ctx.account.calls:
        raise not_found("Call")
    ringing = ctx.platform.voice.ringing.get(call_id)
    if ringing is None or ringing.done():
        raise conflict(
            f"call {call_id} is not ringing in the console (its callee is not 'console', or it was decided)",
            code="CALL_NOT_RINGING",
        )
    ringing.set_result(body.choice)
    return AnswerOut(call_id=call_id, choice=body.choice)
