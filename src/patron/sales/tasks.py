"""Tasks with due dates and in-app reminders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.accounts import service as accounts_service
from patron.core.db import utcnow
from patron.core.errors import NotFound
from patron.sales.common import check_customer, check_user, require_values
from patron.sales.deals import get_deal_or_raise
from patron.sales.models import Task

REMINDER_BATCH = 500

# --- tasks ---------------------------------------------------------------------------------------


def get_task_or_raise(session: Session, *, org_id: int, task_id: int, field: str = "task_id") -> Task:
    task = session.scalar(select(Task).where(Task.org_id == org_id, Task.id == task_id))
    if task is None:
        raise NotFound(f"No task {task_id}.", field=field)
    return task


@dataclass(frozen=True)
class TaskFilter:
    assignee_id: int | None = None
    due_before: datetime | None = None
    done: bool | None = None
    overdue: bool | None = None
    customer_id: int | None = None
    deal_id: int | None = None


def list_tasks(
    session: Session,
    *,
    org_id: int,
    filters: TaskFilter | None = None,
    limit: int = 50,
    offset: int = 0,
    now: datetime | None = None,
) -> tuple[list[Task], int]:
    """Tasks, soonest due first (undated last)."""
    filters = filters or TaskFilter()
    now = now or utcnow()
    query = select(Task).where(Task.org_id == org_id)
    for name in ("assignee_id", "customer_id", "deal_id"):
        value = getattr(filters, name)
        if value is not None:
            query = query.where(getattr(Task, name) == value)
    if filters.due_before is not None:
        query = query.where(Task.due_at < filters.due_before)
    if filters.done is not None:
        query = query.where(Task.done_at.is_not(None) if filters.done else Task.done_at.is_(None))
    if filters.overdue is not None:
        late = (Task.done_at.is_(None)) & (Task.due_at < now)
        query = query.where(late if filters.overdue else ~late | Task.due_at.is_(None))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(
        query.order_by(Task.due_at.is_(None), Task.due_at, Task.id).limit(limit).offset(offset)
    )
    return list(items), total


def _check_task_links(session: Session, org_id: int, task_data: dict) -> None:
    if task_data.get("deal_id") is not None:
        deal = get_deal_or_raise(session, org_id=org_id, deal_id=task_data["deal_id"])
        if task_data.get("customer_id") is None and deal.customer_id is not None:
            task_data["customer_id"] = deal.customer_id
    check_customer(session, org_id, task_data.get("customer_id"))


def _notify_assignment(session: Session, task: Task, actor_user_id: int | None) -> None:
    if task.assignee_id is not None and task.assignee_id != actor_user_id:
        accounts_service.notify_user(
            session,
            org_id=task.org_id,
            user_id=task.assignee_id,
            kind="assignment",
            title=f"New task: {task.title}",
            link="/tasks",
        )


def create_task(session: Session, *, org_id: int, data: dict, actor_user_id: int | None = None) -> Task:
    """A new task; assigned to the caller unless ``assignee_id`` names someone else (who is notified)."""
    data = dict(data)
    if data.get("assignee_id") is None:
        data["assignee_id"] = actor_user_id
    else:
        check_user(session, org_id, data["assignee_id"], "assignee_id")
    _check_task_links(session, org_id, data)
    task = Task(org_id=org_id, created_by_id=actor_user_id, **data)
    session.add(task)
    session.flush()
    _notify_assignment(session, task, actor_user_id)
    return task


def update_task(
    session: Session, *, org_id: int, task_id: int, changes: dict, actor_user_id: int | None = None
) -> Task:
    task = get_task_or_raise(session, org_id=org_id, task_id=task_id)
    changes = dict(changes)
    require_values(changes, ("title", "notes", "done"))
    done = changes.pop("done", None)
    if "assignee_id" in changes:
        check_user(session, org_id, changes["assignee_id"], "assignee_id")
    if "deal_id" in changes or "customer_id" in changes:
        links = {
            "deal_id": changes.get("deal_id", task.deal_id),
            "customer_id": changes.get("customer_id", task.customer_id),
        }
        _check_task_links(session, org_id, links)
        changes.update(links)
    reassigned = "assignee_id" in changes and changes["assignee_id"] != task.assignee_id
    if "remind_at" in changes and changes["remind_at"] != task.remind_at:
        task.reminded_at = None
    for key, value in changes.items():
        setattr(task, key, value)
    if done is True and task.done_at is None:
        task.done_at = utcnow()
    elif done is False:
        task.done_at = None
    session.flush()
    if reassigned:
        _notify_assignment(session, task, actor_user_id)
    return task


def do_complete_task(session: Session, *, org_id: int, task_id: int) -> Task:
    """Mark a task done (again: no change)."""
    task = get_task_or_raise(session, org_id=org_id, task_id=task_id)
    if task.done_at is None:
        task.done_at = utcnow()
        session.flush()
    return task


def delete_task(session: Session, *, org_id: int, task_id: int) -> None:
    task = get_task_or_raise(session, org_id=org_id, task_id=task_id)
    session.delete(task)
    session.flush()


def send_due_reminders(session: Session, *, now: datetime) -> int:
    """Remind assignees of tasks whose ``remind_at`` has come (all organisations; run each minute).

    Each task is reminded once: ``reminded_at`` is set in the same transaction as the notification,
    so running again sends nothing new. Returns the number of reminders sent.
    """
    due = session.scalars(
        select(Task)
        .where(Task.remind_at <= now, Task.done_at.is_(None), Task.reminded_at.is_(None))
        .order_by(Task.remind_at, Task.id)
        .limit(REMINDER_BATCH)
        .with_for_update(skip_locked=True)
    )
    sent = 0
    for task in due:
        recipient = task.assignee_id if task.assignee_id is not None else task.created_by_id
        if recipient is not None:
            when = f"Due {task.due_at:%Y-%m-%d %H:%M} UTC." if task.due_at else "No due date."
            accounts_service.notify_user(
                session,
                org_id=task.org_id,
                user_id=recipient,
                kind="task_reminder",
                title=f"Reminder: {task.title}",
                body=when,
                link="/tasks",
            )
            sent += 1
        task.reminded_at = now
    session.flush()
    return sent
