"""Sub-accounts: ``/v1/sub-accounts``. Bodies and objects are snake_case (as the OAS request
schemas are); the list wrapper is the usual ``{data, hasMore, total}``."""

from __future__ import annotations

from pydantic import Field, field_validator

from .base import CamelModel, SnakeModel, Timestamp


class SubAccountWrite(SnakeModel):
    name: str = Field(min_length=1, max_length=100)

    @field_validator("name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name must not be blank")
        return value.strip()


class SubAccountOut(SnakeModel):
    id: str
    name: str
    parent_account_id: str
    created_at: Timestamp
    number_count: int
    agent_count: int
    campaign_status: str


class SubAccountList(CamelModel):
    data: list[SubAccountOut]
    has_more: bool
    total: int


class SubAccountDeleted(SnakeModel):
    success: bool
    id: str
    released_numbers: list[str]
