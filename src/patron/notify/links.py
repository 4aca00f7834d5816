"""Link tokens and what customers do through them without signing in: a message's token (unsubscribe,
tracking, push page), personal push links, unsubscribing, and registering or refusing Web Push."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from patron.core.db import utcnow
from patron.core.errors import Invalid, NotFound
from patron.core.security import new_secret, secret_hash
from patron.customers import service as customers_service
from patron.notify import crypto
from patron.notify.models import CustomerLink, Message, PushSubscription

TOKEN_PREFIX = "pml"
LINK_PREFIX = "pcl"
CUSTOMER_LINK_DAYS = 30


def issue_message_token(message: Message) -> str:
    """A new link token for the message (its hash replaces any earlier one); called when it is sent."""
    token = new_secret(TOKEN_PREFIX)
    message.token_hash = secret_hash(token)
    return token


def message_for_token(session: Session, *, token: str) -> Message:
    """The message of a link token, or NotFound."""
    message = None
    if token.startswith(TOKEN_PREFIX + "_") and len(token) < 100:
        message = session.scalar(select(Message).where(Message.token_hash == secret_hash(token)))
    if message is None:
        raise NotFound("This link is not valid.", field="token")
    return message


@dataclass(frozen=True)
class LinkTarget:
    org_id: int
    customer_id: int
    message: Message | None


def resolve_link(session: Session, *, token: str) -> LinkTarget:
    """Whose link this is: a message token or a personal push link (NotFound when unknown or expired)."""
    if token.startswith(LINK_PREFIX + "_") and len(token) < 100:
        link = session.scalar(select(CustomerLink).where(CustomerLink.token_hash == secret_hash(token)))
        if link is None or link.expires_at <= utcnow():
            raise NotFound("This link is not valid.", field="token")
        return LinkTarget(link.org_id, link.customer_id, None)
    message = message_for_token(session, token=token)
    return LinkTarget(message.org_id, message.customer_id, message)


def create_customer_link(session: Session, *, org_id: int, customer_id: int,
                         days: int = CUSTOMER_LINK_DAYS) -> tuple[str, CustomerLink]:  # fmt: skip
    """A personal link token to the push opt-in page, valid ``days``; the token exists only here."""
    customers_service.get_writable_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    token = new_secret(LINK_PREFIX)
    now = utcnow()
    link = CustomerLink(org_id=org_id, customer_id=customer_id, token_hash=secret_hash(token), created_at=now,
                        expires_at=now + timedelta(days=days))  # fmt: skip
    session.add(link)
    session.flush()
    return token, link


def do_unsubscribe(session: Session, *, token: str, method: str = "link") -> Message:
    """Withdraw the e-mail consent of the message's customer now (a ledger entry), unless already withdrawn."""
    message = message_for_token(session, token=token)
    if customers_service.has_consent(session, org_id=message.org_id, customer_id=message.customer_id,
                                     channel="email"):  # fmt: skip
        customers_service.do_record_consent(
            session, org_id=message.org_id, customer_id=message.customer_id, channel="email", granted=False,
            source="unsubscribe_link", method=method, note=f"message {message.id}",
        )  # fmt: skip
    return message


# --- push subscriptions ----------------------------------------------------------------------------


def do_register_push_subscription(session: Session, *, token: str, endpoint: str, p256dh: str, auth: str,
                                  user_agent: str = "") -> PushSubscription:  # fmt: skip
    """Store the browser's subscription for the link's customer and record the push consent it gives."""
    target = resolve_link(session, token=token)
    if not re.fullmatch(r"https?://\S{1,990}", endpoint):
        raise Invalid("endpoint must be the push service's http(s) URL.", field="endpoint")
    crypto.check_subscription_keys(p256dh, auth)
    sub = session.scalar(
        select(PushSubscription).where(PushSubscription.org_id == target.org_id, PushSubscription.endpoint == endpoint)
    )
    if sub is None:
        sub = PushSubscription(org_id=target.org_id, customer_id=target.customer_id, endpoint=endpoint)
        session.add(sub)
    sub.customer_id, sub.p256dh, sub.auth, sub.user_agent = target.customer_id, p256dh, auth, user_agent[:300]
    session.flush()
    if not customers_service.has_consent(session, org_id=target.org_id, customer_id=target.customer_id,
                                         channel="push"):  # fmt: skip
        customers_service.do_record_consent(
            session, org_id=target.org_id, customer_id=target.customer_id, channel="push", granted=True,
            source="push_page", method="browser_permission",
        )  # fmt: skip
    return sub


def do_record_push_refusal(session: Session, *, token: str) -> None:
    """The customer chose "don't allow": a refusal in the consent ledger, and their subscriptions go."""
    target = resolve_link(session, token=token)
    customers_service.do_record_consent(
        session, org_id=target.org_id, customer_id=target.customer_id, channel="push", granted=False,
        source="push_page", method="declined",
    )  # fmt: skip
    session.execute(delete(PushSubscription).where(PushSubscription.org_id == target.org_id,
                                                   PushSubscription.customer_id == target.customer_id))  # fmt: skip


def list_push_subscriptions(session: Session, *, org_id: int, customer_id: int) -> list[PushSubscription]:
    customers_service.get_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    return list(session.scalars(
        select(PushSubscription).where(PushSubscription.org_id == org_id, PushSubscription.customer_id == customer_id)
        .order_by(PushSubscription.id)
    ))  # fmt: skip


def delete_push_subscription(session: Session, *, org_id: int, customer_id: int, subscription_id: int) -> None:
    sub = session.scalar(select(PushSubscription).where(
        PushSubscription.org_id == org_id, PushSubscription.customer_id == customer_id,
        PushSubscription.id == subscription_id))  # fmt: skip
    if sub is None:
        raise NotFound(f"No push subscription {subscription_id}.", field="subscription_id")
    session.delete(sub)
    session.flush()
