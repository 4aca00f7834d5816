"""Customer hooks of the campaigns domain: a merge moves the duplicate's assignments and conversions to
the survivor, an erasure deletes them, the privacy export lists them."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from patron.campaigns.models import CampaignConversion, CampaignRecipient
from patron.core import audit
from patron.core.reassign import reassign_customer_rows

RECIPIENT_EXPORT_FIELDS = (
    "campaign_id",
    "occurrence",
    "holdout",
    "channel",
    "message_id",
    "skipped",
    "assigned_at",
)
CONVERSION_EXPORT_FIELDS = ("campaign_id", "kind", "source_id", "value", "converted_at")


def reassign_customer(session: Session, *, org_id: int, from_customer_id: int, to_customer_id: int) -> int:
    """Move a merged duplicate's assignments and conversions to the survivor; where both were in the same
    occurrence of a campaign the survivor's assignment stays and the duplicate's goes."""
    survivor = select(CampaignRecipient.campaign_id, CampaignRecipient.occurrence).where(
        CampaignRecipient.org_id == org_id, CampaignRecipient.customer_id == to_customer_id
    )
    clashes = [(c, o) for c, o in session.execute(survivor)]
    for campaign_id, occurrence in clashes:
        session.execute(delete(CampaignRecipient).where(
            CampaignRecipient.org_id == org_id, CampaignRecipient.customer_id == from_customer_id,
            CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.occurrence == occurrence))  # fmt: skip
    return sum(reassign_customer_rows(session, model, org_id=org_id, from_customer_id=from_customer_id,
                                      to_customer_id=to_customer_id) for model in (CampaignRecipient, CampaignConversion))  # fmt: skip


def erase_customer(session: Session, *, org_id: int, customer_id: int) -> int:
    """Delete the customer's assignments and conversions (the campaign's counts lose them)."""
    gone = session.execute(delete(CampaignConversion).where(
        CampaignConversion.org_id == org_id, CampaignConversion.customer_id == customer_id)).rowcount or 0  # fmt: skip
    gone += session.execute(delete(CampaignRecipient).where(
        CampaignRecipient.org_id == org_id, CampaignRecipient.customer_id == customer_id)).rowcount or 0  # fmt: skip
    audit.record(session, action="erase", entity="campaign_recipients", org_id=org_id,
                 after={"customer_id": customer_id, "rows": gone})  # fmt: skip
    return gone


def export_customer(session: Session, *, org_id: int, customer_id: int) -> dict[str, list[dict]]:
    """The campaigns the customer was taken into and their attributed conversions."""
    recipients = session.scalars(select(CampaignRecipient).where(
        CampaignRecipient.org_id == org_id, CampaignRecipient.customer_id == customer_id).order_by(CampaignRecipient.id))  # fmt: skip
    conversions = session.scalars(select(CampaignConversion).where(
        CampaignConversion.org_id == org_id, CampaignConversion.customer_id == customer_id).order_by(CampaignConversion.id))  # fmt: skip
    return {
        "campaign_recipients": [
            {f: audit.jsonable(getattr(r, f)) for f in RECIPIENT_EXPORT_FIELDS} for r in recipients
        ],
        "campaign_conversions": [
            {f: audit.jsonable(getattr(c, f)) for f in CONVERSION_EXPORT_FIELDS} for c in conversions
        ],
    }
