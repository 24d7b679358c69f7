"""One-time codes sent to a phone number: 6 digits, 10 minutes, 5 attempts.

There is no handset to read the text, so a test reads the code with :func:`latest_code`. There is
no magic code either: ``000000`` is as wrong as any other guess.
"""

from __future__ import annotations

import hmac
from datetime import timedelta

from ..errors import not_found
from ..phone import normalize_e164
from .account import Account, EmulatorState
from .records import VerificationRecord

CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
_NOT_A_CODE = "000000"  # never issued, so a test that "knows" a default code fails as it would live


def send_code(state: EmulatorState, account: Account, phone_number: str) -> VerificationRecord:
    now = state.now()
    # A new code replaces any still-pending one for the same number.
    for earlier in account.verifications.values():
        if earlier.phone_number == phone_number and not earlier.verified and earlier.expires_at > now:
            earlier.expires_at = now
    code = state.ids.digits(6)
    while code == _NOT_A_CODE:
        code = state.ids.digits(6)
    record = VerificationRecord(
        id=state.ids.new("ver"),
        phone_number=phone_number,
        code=code,
        created_at=now,
        expires_at=now + CODE_TTL,
        attempts_remaining=MAX_ATTEMPTS,
    )
    account.verifications[record.id] = record
    return record


def check_code(state: EmulatorState, account: Account, verification_id: str, code: str) -> tuple[str, int]:
    """``(result, attempts_remaining)``; a wrong code spends an attempt, nothing else does."""
    record = account.verifications.get(verification_id)
    if record is None:
        raise not_found("Verification")
    if record.verified:
        return "already_verified", record.attempts_remaining
    if record.attempts_remaining <= 0:
        return "exhausted", 0
    if state.now() >= record.expires_at:
        return "expired", record.attempts_remaining
    if hmac.compare_digest(code.strip().encode(), record.code.encode()):
        record.verified = True
        account.verified_numbers.add(record.phone_number)
        return "ok", record.attempts_remaining
    record.attempts_remaining -= 1
    return "incorrect", record.attempts_remaining


def latest_code(account: Account, phone_number: str) -> str:
    """The code most recently sent to ``phone_number`` by ``account`` (for tests). KeyError if none."""
    return latest(account, phone_number).code


def latest(account: Account, phone_number: str) -> VerificationRecord:
    """The verification most recently sent to ``phone_number`` by ``account`` (``GET
    /__emulator/verifications/latest``). KeyError if none; InvalidPhoneNumber for no number."""
    phone = normalize_e164(phone_number)
    sent = [v for v in account.verifications.values() if v.phone_number == phone]
    if not sent:
        raise KeyError(f"no verification code was sent to {phone}")
    return max(sent, key=lambda v: v.created_at)
