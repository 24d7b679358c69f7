"""Reactions: tapbacks and emoji on iMessage messages, ours (``POST .../react``) and participants'
(which the SMS engine turns into ``agent.reaction`` webhooks).

A reaction is a tapback name or exactly one emoji; it is kept on its message, and the live stream
sends the message again with it.
"""

from __future__ import annotations

import unicodedata

from ..errors import bad_request
from .account import Account, EmulatorState
from .conversations import to_millis
from .live import publish
from .messages import get_message
from .numbers import get_active_number
from .records import ReactionRecord

TAPBACKS = ("love", "like", "dislike", "laugh", "emphasize", "question")


def _is_single_emoji(text: str) -> bool:
    """One emoji, possibly a ZWJ sequence, flag, keycap or skin-toned one; nothing else."""
    if not text or len(text) > 16:
        return False
    bases = 0
    flag_half = False
    after_zwj = False
    for ch in text:
        code = ord(ch)
        category = unicodedata.category(ch)
        if ch == "\u200d":
            after_zwj = True
            continue
        if category in ("Mn", "Me", "Sk") or 0xFE00 <= code <= 0xFE0F or 0xE0020 <= code <= 0xE007F:
            continue  # variation selectors, keycap, skin tones, tag characters modify the base
        if 0x1F1E6 <= code <= 0x1F1FF:  # regional indicators: two make one flag
            if not flag_half:
                bases += 0 if after_zwj else 1
            flag_half = not flag_half
        elif category == "So" or code >= 0x1F000:
            bases += 0 if after_zwj else 1
        else:
            return False
        after_zwj = False
    return bases == 1


def normalize_reaction(reaction: str) -> str:
    """A tapback name (case-insensitive) or a single emoji; ValueError otherwise."""
    text = reaction.strip()
    if text.lower() in TAPBACKS:
        return text.lower()
    if _is_single_emoji(text):
        return text
    raise ValueError(f"reaction must be one of {', '.join(TAPBACKS)} or a single emoji")


def react(state: EmulatorState, account: Account, message_id: str, reaction: str) -> ReactionRecord:
    """Our tapback on a message (iMessage only)."""
    message = get_message(account, message_id)
    if message.channel != "imessage":
        raise bad_request(
            f"Reactions are only supported on iMessage; message {message.id} was sent over {message.channel}",
            code="IMESSAGE_ONLY",
        )
    number = get_active_number(account, message.number_id)
    record = ReactionRecord(
        id=state.ids.new("rxn"),
        message_id=message.id,
        reaction_type=reaction,
        from_number=number.phone_number,
        direction="outbound",
        created_at=to_millis(state.now()),
    )
    message.reactions.append(record)
    publish(state, account, "text", message)  # the live stream sends the text again, with it
    return record


def receive_reaction(
    state: EmulatorState, account: Account, message_id: str, reaction: str, from_number: str
) -> ReactionRecord:
    """A participant's tapback on one of the conversation's messages (for ``agent.reaction``)."""
    message = get_message(account, message_id)
    record = ReactionRecord(
        id=state.ids.new("rxn"),
        message_id=message.id,
        reaction_type=reaction,
        from_number=from_number,
        direction="inbound",
        created_at=to_millis(state.now()),
    )
    message.reactions.append(record)
    publish(state, account, "text", message)  # the live stream sends the text again, with it
    return record
