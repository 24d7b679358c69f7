"""``/integrations/whatsapp``: WhatsApp Business connections, their numbers and message
templates (snake_case, and no ``/v1`` prefix)."""

from __future__ import annotations

from typing import Any

from ..models.misc import (
    TemplateCreate,
    TemplateDeleted,
    TemplateDeleteQuery,
    TemplateList,
    TemplateOut,
    TemplateQuery,
    WhatsAppAvailableList,
    WhatsAppAvailableNumber,
    WhatsAppConnect,
    WhatsAppConnectionOut,
    WhatsAppConnectNumber,
    WhatsAppDisconnected,
    WhatsAppNumberConnected,
    WhatsAppNumberOut,
    WhatsAppStatusOut,
)
from ..store import misc as store
from ..store.records import WhatsAppConnectionRecord
from .framework import Ctx, Router

router = Router("whatsapp")
_BASE = "/integrations/whatsapp"


def connection_out(connection: WhatsAppConnectionRecord) -> WhatsAppConnectionOut:
    return WhatsAppConnectionOut(
        connection_id=connection.id,
        status=connection.status,
        waba_id=connection.waba_id,
        business_id=connection.business_id,
        agent_id=connection.agent_id,
        phone_numbers=[WhatsAppNumberOut(**n) for n in connection.phone_numbers],
        created_at=connection.created_at,
    )


def _template_out(template: dict[str, Any]) -> TemplateOut:
    return TemplateOut(**template)


# ``status`` and ``connect`` are registered before the ``{connection_id}`` routes.
@router.get(f"{_BASE}/status", response=WhatsAppStatusOut)
async def whatsapp_status(ctx: Ctx) -> WhatsAppStatusOut:
    """WhatsApp integration status"""
    connections = sorted(ctx.account.whatsapp.values(), key=lambda c: c.created_at, reverse=True)
    return WhatsAppStatusOut(
        connected=bool(connections), connections=[connection_out(c) for c in connections]
    )


@router.post(f"{_BASE}/connect", response=WhatsAppConnectionOut, body=WhatsAppConnect)
async def whatsapp_connect(ctx: Ctx, *, body: WhatsAppConnect) -> WhatsAppConnectionOut:
    """Connect a WhatsApp Business account (embedded-signup code)"""
    connection = store.connect(
        ctx.state,
        ctx.account,
        waba_id=body.waba_id,
        phone_number_id=body.phone_number_id,
        business_id=body.business_id,
        agent_id=body.agent_id,
    )
    return connection_out(connection)


@router.get(f"{_BASE}/{{connection_id}}/available-numbers", response=WhatsAppAvailableList)
async def whatsapp_available_numbers(ctx: Ctx, *, connection_id: str) -> WhatsAppAvailableList:
    """Numbers on the connection's WhatsApp Business Account"""
    connection = store.get_connection(ctx.account, connection_id)
    connected = {n["phone_number_id"] for n in connection.phone_numbers}
    return WhatsAppAvailableList(
        data=[
            WhatsAppAvailableNumber(**n, connected=n["phone_number_id"] in connected)
            for n in connection.available_numbers
        ]
    )


@router.post(
    f"{_BASE}/{{connection_id}}/numbers", response=WhatsAppNumberConnected, body=WhatsAppConnectNumber
)
async def whatsapp_connect_number(
    ctx: Ctx, *, connection_id: str, body: WhatsAppConnectNumber
) -> WhatsAppNumberConnected:
    """Connect one of the account's WhatsApp numbers, optionally to an agent"""
    entry = store.connect_number(ctx.account, connection_id, body.phone_number_id, body.agent_id)
    return WhatsAppNumberConnected(
        success=True, connection_id=connection_id, phone_number=WhatsAppNumberOut(**entry)
    )


@router.get(f"{_BASE}/{{connection_id}}/templates", response=TemplateList, query=TemplateQuery)
async def whatsapp_list_templates(ctx: Ctx, *, connection_id: str, query: TemplateQuery) -> TemplateList:
    """List message templates"""
    connection = store.get_connection(ctx.account, connection_id)
    return TemplateList(data=[_template_out(t) for t in store.list_templates(connection, query.model_dump())])


@router.post(f"{_BASE}/{{connection_id}}/templates", response=TemplateOut, body=TemplateCreate)
async def whatsapp_create_template(ctx: Ctx, *, connection_id: str, body: TemplateCreate) -> TemplateOut:
    """Create a message template (submitted for review: PENDING)"""
    template = store.create_template(ctx.state, ctx.account, connection_id, body.model_dump(by_alias=False))
    return _template_out(template)


@router.delete(f"{_BASE}/{{connection_id}}/templates", response=TemplateDeleted, query=TemplateDeleteQuery)
async def whatsapp_delete_template(
    ctx: Ctx, *, connection_id: str, query: TemplateDeleteQuery
) -> TemplateDeleted:
    """Delete a template by name (every language, or one ``hsm_id``)"""
    deleted = store.delete_template(ctx.account, connection_id, query.name, query.hsm_id)
    return TemplateDeleted(success=True, name=query.name, deleted=deleted)


@router.delete(f"{_BASE}/{{connection_id}}", response=WhatsAppDisconnected)
async def whatsapp_disconnect(ctx: Ctx, *, connection_id: str) -> WhatsAppDisconnected:
    """Disconnect a WhatsApp connection"""
    connection = store.disconnect(ctx.account, connection_id)
    return WhatsAppDisconnected(success=True, connection_id=connection.id)
