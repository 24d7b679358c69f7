"""Wire models of the control plane's account routes (``/__emulator/account``,
``/__emulator/registrations``): camelCase, like the rest of the control plane.

The settings models are made from :class:`~agentphone_emulator.settings.AccountSettings` field by
field (type, bounds, description), so a setting added there can be read and changed over HTTP with
nothing to update here, and the two cannot disagree about what is valid.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, Field, create_model
from pydantic_core import PydanticUndefined

from ..settings import AccountSettings
from ..vocabulary import RegistrationStatus
from .base import CamelModel, ControlOut, StrictCamelModel, Timestamp
from .register import RegistrationType


def _no_default_in_schema(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # "absent" is not a value a client should send


def camel(name: str) -> str:
    """``require_10dlc_approval`` -> ``require10dlcApproval`` (pydantic's to_camel would write
    ``require10DlcApproval``): a part starting with a digit is kept as it is."""
    first, *rest = name.split("_")
    return first + "".join(part if part[:1].isdigit() else part[:1].upper() + part[1:] for part in rest)


def _settings_model(name: str, base: type[BaseModel], *, partial: bool, doc: str) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for field_name, info in AccountSettings.model_fields.items():
        field = copy.copy(info)
        field.alias = field.validation_alias = field.serialization_alias = camel(field_name)
        field.alias_priority = 2  # over the model's alias generator
        if partial:
            # Absent means unchanged. The default is not validated, so an explicit null is a 422.
            field.default = None
            field.json_schema_extra = _no_default_in_schema
        else:
            field.default = PydanticUndefined
        fields[field_name] = (info.annotation, field)
    model: type[BaseModel] = create_model(name, __base__=base, __doc__=doc, **fields)
    return model


AccountSettingsOut = _settings_model(
    "AccountSettingsOut", CamelModel, partial=False, doc="Every setting of the account, as it is now."
)
AccountSettingsPatch = _settings_model(
    "AccountSettingsPatch",
    StrictCamelModel,
    partial=True,
    doc="The settings to change; the others stay as they are. Unknown keys and nulls are refused.",
)
AccountOut: type[BaseModel] = create_model(
    "AccountOut",
    __base__=CamelModel,
    __doc__="The API key's account: its settings and what it can spend now.",
    id=(str, ...),
    balance_cents=(
        int | float,
        Field(description="creditCents less what the account has spent (numbers, fees, lookups)."),
    ),
    settings=(AccountSettingsOut, ...),
)


class RegistrationControlOut(ControlOut):
    """A 10DLC registration as the carriers see it: what the control plane decides on."""

    id: str = Field(description="The campaign id (cmp_...), as GET /v1/register shows it.")
    brand_id: str
    account_id: str = Field(description="The account holding it: the key's own, or its sub-account.")
    sub_account_id: str | None
    registration_type: RegistrationType
    status: RegistrationStatus
    rejection_reason: str | None
    submitted_at: Timestamp
    decided_at: Timestamp | None


class RejectBody(StrictCamelModel):
    reason: str = Field(
        min_length=1, max_length=500, description="What the carriers say (GET /v1/register shows it)."
    )


class ResetBody(StrictCamelModel):
    """``POST /__emulator/reset``'s optional body: settings every account starts with after this reset."""

    settings: AccountSettingsPatch | None = Field(  # type: ignore[valid-type]  # made by create_model
        None,
        description="Settings applied to every account once it is reset, as PATCH /__emulator/account "
        "takes them (creditCents sets the balance); the rest are the emulator's defaults. For this reset "
        "only: the next reset without settings goes back to the defaults.",
    )
