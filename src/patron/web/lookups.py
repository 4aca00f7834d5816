"""Small read helpers shared by pages: the staff and customers a page mentions (service calls only)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from patron.accounts import service as accounts_service
from patron.accounts.models import User
from patron.customers import service as customers_service


def staff_by_id(session: Session, *, org_id: int) -> dict[int, User]:
    """Every user of the organisation by id (owners of customers, assignees, authors)."""
    return {user.id: user for user in accounts_service.list_users(session, org_id=org_id)}


def customer_names(session: Session, *, org_id: int, ids: Iterable[int | None]) -> dict[int, str]:
    """Display names of the given customers of the organisation (other organisations' ids are left out)."""
    wanted = [i for i in dict.fromkeys(ids) if i]
    if not wanted:
        return {}
    return customers_service.customer_names(session, org_id=org_id, customer_ids=wanted)
