"""Sales: pipelines and their stages, leads, deals and tasks. Other domains, the web app, the CLI and
jobs call sales through this module; it gathers the functions of :mod:`patron.sales.pipelines`,
:mod:`~patron.sales.deals`, :mod:`~patron.sales.leads` and :mod:`~patron.sales.tasks`, and holds the
hooks the customers domain calls on a merge, an erasure or a privacy export.

Every function takes the caller's ``org_id`` and filters on it; an id of another organisation
is answered exactly like an id that does not exist (:class:`NotFound`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core.audit import jsonable
from patron.core.reassign import reassign_customer_rows
from patron.sales.common import org_currency, weighted  # noqa: F401 - re-exported
from patron.sales.deals import (  # noqa: F401 - re-exported
    Board,
    BoardStage,
    BoardTotals,
    CurrencyTotal,
    DealFilter,
    create_deal,
    delete_deal,
    do_move_deal,
    get_deal_or_raise,
    list_deals,
    pipeline_board,
    update_deal,
)
from patron.sales.leads import (  # noqa: F401 - re-exported
    create_lead,
    delete_lead,
    do_convert_lead,
    get_lead_or_raise,
    list_leads,
    update_lead,
)
from patron.sales.models import Deal, Lead, Task
from patron.sales.pipelines import (  # noqa: F401 - re-exported
    DEFAULT_PIPELINE_NAME,
    DEFAULT_STAGES,
    create_pipeline,
    create_stage,
    delete_pipeline,
    delete_stage,
    ensure_default_pipeline,
    get_default_pipeline,
    get_pipeline_or_raise,
    get_stage_or_raise,
    list_pipelines,
    list_stages,
    reorder_stages,
    update_pipeline,
    update_stage,
)
from patron.sales.tasks import (  # noqa: F401 - re-exported
    REMINDER_BATCH,
    TaskFilter,
    create_task,
    delete_task,
    do_complete_task,
    get_task_or_raise,
    list_tasks,
    send_due_reminders,
    update_task,
)

# --- hooks the customers domain calls (merge, erase, export) -----------------------------------------


def reassign_customer(session: Session, *, org_id: int, from_customer_id: int, to_customer_id: int) -> int:
    """Move the deals, tasks and leads of one customer to another (duplicate merge). Returns rows moved."""
    return sum(
        reassign_customer_rows(session, model, org_id=org_id, from_customer_id=from_customer_id,
                               to_customer_id=to_customer_id)
        for model in (Deal, Task, Lead)
    )


def erase_customer(session: Session, *, org_id: int, customer_id: int) -> int:
    """Blank the personal text of the customer's tasks and leads; deals keep value, stage and dates but
    lose free text. Returns the number of rows changed."""
    changed = 0
    for task in session.scalars(select(Task).where(Task.org_id == org_id, Task.customer_id == customer_id)):
        task.title = "Erased"
        task.notes = ""
        changed += 1
    for lead in session.scalars(select(Lead).where(Lead.org_id == org_id, Lead.customer_id == customer_id)):
        lead.first_name = lead.last_name = lead.company = lead.notes = ""
        lead.email = lead.phone = None
        changed += 1
    for deal in session.scalars(select(Deal).where(Deal.org_id == org_id, Deal.customer_id == customer_id)):
        deal.title = f"Deal {deal.id}"
        deal.lost_reason = ""
        changed += 1
    session.flush()
    return changed


def _row(obj: Any) -> dict:
    return {column.key: jsonable(getattr(obj, column.key)) for column in obj.__table__.columns}


def export_customer(session: Session, *, org_id: int, customer_id: int) -> dict[str, list[dict]]:
    """Everything sales holds on one customer: ``{"deals": [...], "tasks": [...], "leads": [...]}``."""
    out: dict[str, list[dict]] = {}
    for key, model in (("deals", Deal), ("tasks", Task), ("leads", Lead)):
        rows = session.scalars(
            select(model).where(model.org_id == org_id, model.customer_id == customer_id).order_by(model.id)
        )
        out[key] = [_row(r) for r in rows]
    return out
