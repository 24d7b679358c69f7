"""Wire models of the control plane's account routes (``/__emulator/account``,
``/__emulator/registrations``): camelCase, like the rest of the control plane.

The settings models are made from :class:`~agentphone_emulator.settings.AccountSettings` field by
field (type, bounds, description), so a setting added there can be read and changed over HTTP with
nothing to update here, and the two cannot disagree about what is valid.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic_core import PydanticUndefined

from ..settings import AccountSettings
from .base import CamelModel, Timestamp


class StrictCamelModel(CamelModel):
    """A body where an unknown key is a 422, not ignored: a misspelt setting must not pass as
    'changed nothing'."""

    model_config = ConfigDict(extra="forbid")


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


class RegistrationControlOut(CamelModel):
    """A 10DLC registration as the carriers see it: what the control plane decides on."""

    id: str = Field(description="The campaign id (cmp_...), as GET /v1/register shows it.")
    brand_id: str
    account_id: str = Field(description="The account holding it: the key's own, or its sub-account.")
    sub_account_id: str | None
    registration_type: str
    status: str = Field(description="pending, approved or rejected.")
    rejection_reason: str | None
    submitted_at: Timestamp
    decided_at: Timestamp | None


class RejectBody(CamelModel):
    reason: str = Field(
        min_length=1, max_length=500, description="What the carriers say (GET /v1/register shows it)."
    )
