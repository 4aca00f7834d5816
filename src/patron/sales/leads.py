"""Leads: the people and companies not yet customers, and their conversion into a customer and a deal."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from patron.core.errors import Conflict, Invalid, NotFound
from patron.customers import service as customers_service
from patron.sales.common import check_user, like_pattern, require_values
from patron.sales.deals import create_deal
from patron.sales.models import Deal, Lead

# --- leads ---------------------------------------------------------------------------------------


def get_lead_or_raise(session: Session, *, org_id: int, lead_id: int, field: str = "lead_id") -> Lead:
    lead = session.scalar(select(Lead).where(Lead.org_id == org_id, Lead.id == lead_id))
    if lead is None:
        raise NotFound(f"No lead {lead_id}.", field=field)
    return lead


def list_leads(
    session: Session,
    *,
    org_id: int,
    status: str | None = None,
    owner_id: int | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Lead], int]:
    query = select(Lead).where(Lead.org_id == org_id)
    if status:
        query = query.where(Lead.status == status)
    if owner_id is not None:
        query = query.where(Lead.owner_id == owner_id)
    if q:
        pattern = like_pattern(q.strip())
        query = query.where(
            or_(
                *(
                    column.ilike(pattern, escape="\\")
                    for column in (Lead.first_name, Lead.last_name, Lead.company, Lead.email)
                )
            )
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(query.order_by(Lead.id.desc()).limit(limit).offset(offset))
    return list(items), total


def _check_lead_identity(lead: Lead) -> None:
    if not (lead.first_name or lead.last_name or lead.company or lead.email or lead.phone):
        raise Invalid("A lead needs a name, a company, an e-mail or a phone number.", field="last_name")


def create_lead(session: Session, *, org_id: int, data: dict) -> Lead:
    if data.get("status") == "converted":
        raise Invalid("A lead becomes converted through the convert action.", field="status")
    check_user(session, org_id, data.get("owner_id"), "owner_id")
    lead = Lead(org_id=org_id, **data)
    _check_lead_identity(lead)
    session.add(lead)
    session.flush()
    return lead


def update_lead(session: Session, *, org_id: int, lead_id: int, changes: dict) -> Lead:
    lead = get_lead_or_raise(session, org_id=org_id, lead_id=lead_id)
    require_values(changes, ("first_name", "last_name", "company", "source", "notes", "status"))
    if "status" in changes and changes["status"] != lead.status:
        if changes["status"] == "converted":
            raise Invalid("A lead becomes converted through the convert action.", field="status")
        if lead.status == "converted":
            raise Conflict("A converted lead keeps its status.", field="status")
    if "owner_id" in changes:
        check_user(session, org_id, changes["owner_id"], "owner_id")
    for key, value in changes.items():
        setattr(lead, key, value)
    _check_lead_identity(lead)
    session.flush()
    return lead


def delete_lead(session: Session, *, org_id: int, lead_id: int) -> None:
    lead = get_lead_or_raise(session, org_id=org_id, lead_id=lead_id)
    session.delete(lead)
    session.flush()


def _customer_data_from_lead(lead: Lead) -> dict:
    """The customer profile a lead becomes; a lead known only by its company is named after it."""
    data: dict[str, Any] = {"first_name": lead.first_name, "last_name": lead.last_name}
    if lead.email:
        data["email"] = lead.email
    if lead.phone:
        data["phone"] = lead.phone
    if not any(data.values()):
        data["last_name"] = lead.company[:100]
    if lead.owner_id is not None:
        data["owner_id"] = lead.owner_id
    return data


def do_convert_lead(
    session: Session,
    *,
    org_id: int,
    lead_id: int,
    customer_id: int | None = None,
    deal: dict | None = None,
    actor_user_id: int | None = None,
) -> tuple[Lead, int, Deal | None]:
    """Turn a lead into a customer (a new one, or ``customer_id``) and optionally a deal.

    Returns ``(lead, customer_id, deal)``; the lead ends ``converted`` with ``customer_id`` set.
    """
    lead = get_lead_or_raise(session, org_id=org_id, lead_id=lead_id)
    if lead.status == "converted":
        raise Conflict(f"Lead {lead.id} is already converted (customer {lead.customer_id}).", field="lead_id")
    if customer_id is not None:
        customer = customers_service.get_writable_customer_or_raise(
            session, org_id=org_id, customer_id=customer_id
        )
    else:
        customer = customers_service.create_customer(
            session, org_id=org_id, data=_customer_data_from_lead(lead), actor_user_id=actor_user_id
        )
    lead.status = "converted"
    lead.customer_id = customer.id
    session.flush()
    customers_service.record_timeline(
        session,
        org_id=org_id,
        customer_id=customer.id,
        kind="lead.converted",
        summary=f"Lead converted{' from ' + lead.company if lead.company else ''}",
        ref_type="lead",
        ref_id=lead.id,
        data={"source": lead.source},
        actor_user_id=actor_user_id,
    )
    created = None
    if deal is not None:
        deal_data = {
            **deal,
            "customer_id": customer.id,
            "lead_id": lead.id,
            "owner_id": lead.owner_id if lead.owner_id is not None else actor_user_id,
        }
        created = create_deal(
            session, org_id=org_id, data=deal_data, actor_user_id=actor_user_id, field_prefix="deal."
        )
    return lead, customer.id, created
