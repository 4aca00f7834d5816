"""HTTP API of messages: staff sends, message lists and history, the in-app inbox, the suppression list,
push subscriptions and the SMS gateway's delivery reports. The customer-facing link pages (unsubscribe,
tracking, push opt-in) are in :mod:`patron.notify.pages`, mounted by the same router.

The router's lifespan runs the in-process delivery worker inside ``patron serve`` (when the scheduler is
on and no ``PATRON_QUEUE_URL`` is set), or announces new messages on the Redis queue that separate
``patron notify worker`` processes serve.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request, Response

from patron.accounts.deps import Allowed
from patron.core.api import Page, PageDep, SessionDep, SettingsDep
from patron.core.errors import Invalid, Unauthenticated
from patron.notify import crypto, fatigue, pages, queue, schemas
from patron.notify import service as notify_service
from patron.notify.channels import sms
from patron.notify.models import Message


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings = app.state.settings
    worker = None
    active: queue.Queue | None = None
    if settings.queue_url:
        active = queue.RedisQueue(settings.queue_url, prefix=settings.queue_prefix)
    elif settings.scheduler:
        from patron.notify.worker import Worker

        active = queue.InProcessQueue()
        worker = Worker(app.state.sessionmaker, settings, active).start()
    if active is not None:
        queue.use_queue(active)
    try:
        yield
    finally:
        if worker is not None:
            worker.stop()
        if active is not None:
            if queue.active_queue() is active:
                queue.use_queue(None)
            active.close()


router = APIRouter(lifespan=lifespan)
api = APIRouter(prefix="/api/v1", tags=["messages"])


def message_out(message: Message) -> dict:
    return schemas.MessageOut.model_validate(message).model_dump()


# --- messages --------------------------------------------------------------------------------------


@api.post("/messages", response_model=schemas.MessageOut, status_code=201, summary="Send a message to a customer")
def send_message(body: schemas.MessageCreate, principal: Allowed("messages.send"), session: SessionDep,
                 response: Response) -> dict:  # fmt: skip
    """Queues the message; a worker sends it, checking the customer's consent for the channel and the
    suppression list at that moment. A repeated `idempotency_key` answers 200 with the first message."""
    message, created = notify_service.enqueue_message(
        session, org_id=principal.org_id, created_by_id=principal.user_id, **body.model_dump()
    )
    if not created:
        response.status_code = 200
    return message_out(message)


@api.get("/messages", response_model=Page[schemas.MessageOut], summary="List messages")
def list_messages(
    principal: Allowed("messages.read"),
    session: SessionDep,
    page: PageDep,
    customer_id: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Only this customer's.")] = None,
    channel: Annotated[schemas.Channel | None, Query(description="Only this channel.")] = None,
    status: Annotated[schemas.Status | None, Query(description="Only messages in this status.")] = None,
    campaign_id: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Only this campaign's.")] = None,
) -> dict:
    """The organisation's messages, newest first."""
    filters = notify_service.MessageFilter(customer_id=customer_id, channel=channel, status=status,
                                           campaign_id=campaign_id)  # fmt: skip
    items, total = notify_service.list_messages(
        session, org_id=principal.org_id, filters=filters, limit=page.limit, offset=page.offset
    )
    return {"items": [message_out(m) for m in items], "total": total, "limit": page.limit, "offset": page.offset}


@api.get("/messages/{message_id}", response_model=schemas.MessageDetail, summary="A message and its history")
def get_message(message_id: int, principal: Allowed("messages.read"), session: SessionDep) -> dict:
    message = notify_service.get_message_or_raise(session, org_id=principal.org_id, message_id=message_id)
    history = notify_service.list_history(session, message=message)
    return {**message_out(message), "history": [schemas.HistoryOut.model_validate(h) for h in history]}


# --- quiet hours and frequency caps ------------------------------------------------------------------


@api.get("/channel-policies", response_model=list[schemas.ChannelPolicyOut],
         summary="Quiet hours and frequency caps per channel")  # fmt: skip
def list_channel_policies(principal: Allowed("messages.read"), session: SessionDep) -> list:
    """The channels that have a policy; a channel without one has no quiet hours and no caps."""
    return fatigue.list_policies(session, org_id=principal.org_id)


@api.put("/channel-policies/{channel}", response_model=schemas.ChannelPolicyOut,
         summary="Set a channel's quiet hours and frequency caps")  # fmt: skip
def put_channel_policy(channel: schemas.Channel, body: schemas.ChannelPolicyIn,
                       principal: Allowed("channels.manage"), session: SessionDep) -> object:  # fmt: skip
    """Replaces the channel's policy. It applies to `marketing` messages when they are sent: inside the quiet
    hours (each customer's time zone) they wait, still queued, until the hours end; over a cap they are
    suppressed (`daily_cap`, `weekly_cap`)."""
    return fatigue.set_policy(session, org_id=principal.org_id, channel=channel, **body.model_dump())


# --- the in-app inbox --------------------------------------------------------------------------------


def _inbox_item(message: Message) -> dict:
    return {"id": message.id, "subject": message.subject, "body": message.body, "data": message.data,
            "read": message.opened_at is not None, "created_at": message.created_at, "opened_at": message.opened_at}


@api.get("/customers/{customer_id}/inbox", response_model=Page[schemas.InboxItem], summary="A customer's inbox")
def list_inbox(customer_id: int, principal: Allowed("messages.read"), session: SessionDep, page: PageDep,
               unread: Annotated[bool, Query(description="Only messages not read yet.")] = False) -> dict:  # fmt: skip
    """The customer's in-app messages, newest first."""
    items, total = notify_service.list_inbox(session, org_id=principal.org_id, customer_id=customer_id,
                                             unread_only=unread, limit=page.limit, offset=page.offset)  # fmt: skip
    return {"items": [_inbox_item(m) for m in items], "total": total, "limit": page.limit, "offset": page.offset}


@api.post("/customers/{customer_id}/inbox/{message_id}/read", response_model=schemas.InboxItem,
          summary="Mark an inbox message read")  # fmt: skip
def mark_read(customer_id: int, message_id: int, principal: Allowed("messages.send"), session: SessionDep) -> dict:
    """The message becomes `opened` (reading it again changes nothing)."""
    message = notify_service.get_inbox_message_or_raise(session, org_id=principal.org_id, customer_id=customer_id,
                                                        message_id=message_id)  # fmt: skip
    return _inbox_item(notify_service.do_mark_opened(session, message=message, how="inbox"))


# --- push subscriptions and links -------------------------------------------------------------------


@api.get("/customers/{customer_id}/push-subscriptions", response_model=list[schemas.PushSubscriptionOut],
         summary="A customer's push subscriptions")  # fmt: skip
def list_push_subscriptions(customer_id: int, principal: Allowed("messages.read"), session: SessionDep) -> list:
    return notify_service.list_push_subscriptions(session, org_id=principal.org_id, customer_id=customer_id)


@api.delete("/customers/{customer_id}/push-subscriptions/{subscription_id}", status_code=204,
            summary="Remove a push subscription")  # fmt: skip
def delete_push_subscription(customer_id: int, subscription_id: int, principal: Allowed("channels.manage"),
                             session: SessionDep) -> Response:  # fmt: skip
    notify_service.delete_push_subscription(session, org_id=principal.org_id, customer_id=customer_id,
                                            subscription_id=subscription_id)  # fmt: skip
    return Response(status_code=204)


@api.post("/customers/{customer_id}/push-link", response_model=schemas.CustomerLinkOut, status_code=201,
          summary="A personal link to the push opt-in page")  # fmt: skip
def create_push_link(customer_id: int, principal: Allowed("messages.send"), session: SessionDep,
                     settings: SettingsDep) -> dict:  # fmt: skip
    """A link (valid 30 days) the customer opens to allow or refuse push notifications. Shown once."""
    token, link = notify_service.create_customer_link(session, org_id=principal.org_id, customer_id=customer_id)
    return {"url": settings.public_url.rstrip("/") + f"/push/{token}", "expires_at": link.expires_at}


@api.get("/notify/vapid-public-key", response_model=schemas.VapidKeyOut, tags=["public"],
         summary="The VAPID public key")  # fmt: skip
def vapid_public_key(settings: SettingsDep) -> dict:
    """What browsers subscribe with (`applicationServerKey`). No sign-in: it is public."""
    key = settings.vapid_private_key
    return {"public_key": crypto.vapid_public_key(key) if key else None}


@api.post("/notify/push/{token}/subscriptions", response_model=schemas.Ok, status_code=201, tags=["public"],
          summary="Register a browser's push subscription")  # fmt: skip
def register_push_subscription(token: str, body: schemas.PushSubscriptionIn, request: Request,
                               session: SessionDep) -> dict:  # fmt: skip
    """No sign-in: the link's token says whose subscription it is. Records the push consent."""
    notify_service.do_register_push_subscription(
        session, token=token, endpoint=body.endpoint, p256dh=body.keys.p256dh, auth=body.keys.auth,
        user_agent=request.headers.get("user-agent", ""),
    )  # fmt: skip
    return {"ok": True}


@api.post("/notify/push/{token}/refusal", response_model=schemas.Ok, tags=["public"],
          summary="Refuse push notifications")  # fmt: skip
def refuse_push(token: str, session: SessionDep) -> dict:
    """The customer chose "don't allow": recorded in the consent ledger; their subscriptions are removed."""
    notify_service.do_record_push_refusal(session, token=token)
    return {"ok": True}


# --- suppression list ------------------------------------------------------------------------------


@api.get("/notify/suppressions", response_model=Page[schemas.SuppressionOut], summary="The suppression list")
def list_suppressions(principal: Allowed("messages.read"), session: SessionDep, page: PageDep,
                      kind: Annotated[schemas.SuppressionKind | None, Query()] = None) -> dict:  # fmt: skip
    items, total = notify_service.list_suppressions(session, org_id=principal.org_id, kind=kind, limit=page.limit,
                                                    offset=page.offset)  # fmt: skip
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}


@api.post("/notify/suppressions", response_model=schemas.SuppressionOut, status_code=201,
          summary="Add to the suppression list")  # fmt: skip
def add_suppression(body: schemas.SuppressionCreate, principal: Allowed("channels.manage"), session: SessionDep):
    """The address, number or customer receives nothing from now on, whatever their consents say."""
    return notify_service.add_suppression(session, org_id=principal.org_id, created_by_id=principal.user_id,
                                          **body.model_dump())  # fmt: skip


@api.delete("/notify/suppressions/{suppression_id}", status_code=204, summary="Remove from the suppression list")
def remove_suppression(suppression_id: int, principal: Allowed("channels.manage"), session: SessionDep) -> Response:
    notify_service.remove_suppression(session, org_id=principal.org_id, suppression_id=suppression_id)
    return Response(status_code=204)


# --- SMS gateway delivery reports ----------------------------------------------------------------------


@api.post("/notify/sms/status", response_model=schemas.Ok, tags=["public"], summary="SMS delivery report")
async def sms_status(request: Request, session: SessionDep, settings: SettingsDep) -> dict:
    """Called by the SMS gateway; signed like our requests to it (HMAC-SHA256, see docs/notify.md).
    Body: `{"message_id": 1, "status": "delivered"|"failed", "error": "..."}`."""
    raw = await request.body()
    secret = settings.sms_webhook_secret
    if not secret or not sms.verify(secret, timestamp=request.headers.get(sms.TIMESTAMP_HEADER),
                                    sent=request.headers.get(sms.SIGNATURE_HEADER), body=raw):  # fmt: skip
        raise Unauthenticated("The delivery report's signature is missing, stale or wrong.",
                              field=sms.SIGNATURE_HEADER)  # fmt: skip
    try:
        report = schemas.SmsStatusIn.model_validate(json.loads(raw))
    except (ValueError, TypeError) as exc:
        field = "body"
        errors = getattr(exc, "errors", None)
        if callable(errors) and errors():
            field = ".".join(str(p) for p in errors()[0].get("loc", ())) or "body"
        raise Invalid("The delivery report is not valid.", field=field) from None
    notify_service.do_sms_status(session, message_id=report.message_id, status=report.status, error=report.error)
    return {"ok": True}


router.include_router(api)
router.include_router(pages.router)

__all__ = ["router"]
