"""``/v1/feedback``: product feedback (snake_case), kept on the account for tests to read."""

from __future__ import annotations

from ..models.misc import FeedbackCreate, FeedbackOut
from ..store import misc as store
from .framework import Ctx, Router

router = Router("feedback")


@router.post("/v1/feedback", response=FeedbackOut, body=FeedbackCreate)
async def submit_feedback(ctx: Ctx, *, body: FeedbackCreate) -> FeedbackOut:
    """Submit product feedback"""
    record = store.submit_feedback(ctx.state, ctx.account, body.model_dump(by_alias=False))
    return FeedbackOut(ok=True, id=record.id, received_at=record.created_at)
