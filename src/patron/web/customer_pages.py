"""Customer pages: the searchable list, the new/edit profile form, and the 360° page with its actions."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from patron.core.api import SessionDep
from patron.core.errors import PatronError
from patron.customers import places as customer_places
from patron.customers import service as customers_service
from patron.customers.models import (
    CONSENT_CHANNELS,
    EDUCATION_LEVELS,
    GENDERS,
    IDENTITY_TYPES,
    INCOME_BANDS,
)
from patron.devices import service as devices_service
from patron.events import signals as event_signals
from patron.interactions import service as interactions_service
from patron.interactions.models import DIRECTIONS, INTERACTION_KINDS
from patron.orders import service as orders_service
from patron.orders.pricing import format_money
from patron.predictions import pages as predictions_pages
from patron.sales import service as sales_service
from patron.tickets import service as tickets_service
from patron.tickets.models import KINDS as TICKET_KINDS
from patron.tickets.models import PRIORITIES
from patron.web import loyalty_pages
from patron.web.common import (
    CsrfForm,
    FormInput,
    Pager,
    Permitted,
    Viewer,
    attempt,
    redirect,
    render,
)
from patron.web.lookups import staff_by_id
from patron.web.ticket_pages import PRIORITY_TONES, STATUS_TONES, staff_who_take_tickets

router = APIRouter(prefix="/customers")

LIST_PAGE = 25
TIMELINE_PAGE = 30
TICKET_CHANNELS = ("phone", "email", "web", "app", "chat", "in_person", "social", "device")
CATEGORY_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
CONSENT_SOURCE = "staff_web"
CONSENT_METHOD = "recorded_by_staff"
CHANNEL_LABELS = {
    "email": "E-mail",
    "sms": "SMS",
    "push": "Push",
    "in_app": "In-app",
    "phone": "Phone calls",
    "data_processing": "Data processing",
}
#: profile fields of the new/edit form (the e-mail and phone also become identities)
TEXT_FIELDS = (
    ("first_name", "First name", 100),
    ("last_name", "Last name", 100),
    ("email", "E-mail", 254),
    ("phone", "Phone", 40),
    ("occupation", "Occupation", 100),
    ("city", "City", 100),
    ("country", "Country (2 letters)", 2),
    ("timezone", "Time zone", 64),
)


def _owner_options(people: dict) -> list[tuple[int, str]]:
    return [(u.id, u.full_name or u.email) for u in people.values() if u.is_active and u.role != "viewer"]


# --- the list -------------------------------------------------------------------------------------------------


@router.get("")
def customer_list(
    request: Request,
    viewer: Permitted("customers.read"),
    session: SessionDep,
    q: Annotated[str, Query(max_length=200)] = "",
    tag: Annotated[str, Query(max_length=60)] = "",
    income_band: Annotated[str, Query(max_length=20)] = "",
    owner: Annotated[str, Query(max_length=12)] = "",
    sort: Annotated[str, Query(max_length=20)] = "name",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    """Search by name, e-mail, phone or any identity; filter by tag, income band and owner."""
    owner_id = viewer.user_id if owner == "me" else (int(owner) if owner.isdigit() else None)
    filters = customers_service.CustomerFilters(
        q=q.strip() or None,
        tags=[tag] if tag else [],
        income_band=income_band or None,
        owner_id=owner_id,
        sort=sort if sort in ("name", "-created_at", "-updated_at") else "name",
    )
    error = None
    try:
        customers, total = customers_service.search_customers(
            session, org_id=viewer.org_id, filters=filters, limit=LIST_PAGE, offset=offset
        )
    except PatronError as exc:
        if exc.status != 422:
            raise
        customers, total, error = [], 0, exc.detail
    people = staff_by_id(session, org_id=viewer.org_id)
    return render(
        request,
        "customers/list.html",
        {
            "customers": customers,
            "tags": customers_service.tags_for(
                session, org_id=viewer.org_id, customer_ids=[c.id for c in customers]
            ),
            "tag_counts": customers_service.list_tag_counts(session, org_id=viewer.org_id, limit=100),
            "pager": Pager.of(request, total=total, limit=LIST_PAGE, offset=offset),
            "people": people,
            "owner_options": _owner_options(people),
            "income_bands": INCOME_BANDS,
            "filters": {"q": q, "tag": tag, "income_band": income_band, "owner": owner, "sort": filters.sort},
            "search_error": error,
            "display_name": customers_service.display_name,
        },
    )


# --- the profile form ---------------------------------------------------------------------------------------


def _attribute_value(form: FormInput, definition) -> Any:
    """A custom attribute from its form field, typed; None when left empty."""
    name = f"attr.{definition.key}"
    label = definition.label or definition.key
    if definition.type == "integer":
        return form.integer(name, label=label, minimum=-(2**53), maximum=2**53)
    if definition.type == "number":
        number = form.decimal(name, label=label, maximum=Decimal("1e300"))
        return float(number) if number is not None else None
    if definition.type == "boolean":
        choice = form.choice(name, ("yes", "no"), label=label)
        return None if choice is None else choice == "yes"
    if definition.type == "date":
        day = form.day(name, label=label)
        return day.isoformat() if day else None
    return form.text(name, label=label, max_length=1000) or None


def _profile_from_form(form: FormInput, definitions: list, *, editing: bool) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, label, limit in TEXT_FIELDS:
        value = form.text(name, label=label, max_length=limit)
        data[name] = value or (None if name not in ("first_name", "last_name") else "")
    data["birth_year"] = form.integer(
        "birth_year", label="Birth year", minimum=1900, maximum=datetime.now(UTC).year
    )
    data["birth_date"] = form.day("birth_date", label="Birth date")
    if data["birth_date"] is not None:
        del data["birth_year"]  # the year is the date's
    data["gender"] = form.choice("gender", GENDERS, label="Gender")
    data["education"] = form.choice("education", EDUCATION_LEVELS, label="Education")
    data["income_band"] = form.choice("income_band", INCOME_BANDS, label="Income band")
    data["owner_id"] = form.integer("owner_id", label="Owner", minimum=1, maximum=2**31 - 1)
    data["lifestyle_tags"] = form.many("lifestyle_tags", label="Lifestyle", max_items=30, max_length=40)
    data["tags"] = form.many("tags", label="Tags", max_items=50, max_length=60)
    attributes = {d.key: _attribute_value(form, d) for d in definitions}
    if editing:
        data["attributes"] = attributes  # None removes a value
    else:
        data["attributes"] = {k: v for k, v in attributes.items() if v is not None}
    return data


def _profile_values(customer, tags: list[str], definitions: list) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(customer, name) or "" for name, _, _ in TEXT_FIELDS}
    for name in ("birth_year", "birth_date", "gender", "education", "income_band", "owner_id"):
        value = getattr(customer, name)
        values[name] = "" if value is None else str(value)
    values["lifestyle_tags"] = ", ".join(customer.lifestyle_tags or [])
    values["tags"] = ", ".join(tags)
    for d in definitions:
        value = (customer.attributes or {}).get(d.key)
        if isinstance(value, bool):
            value = "yes" if value else "no"
        values[f"attr.{d.key}"] = "" if value is None else str(value)
    return values


def _form_page(
    request: Request,
    session,
    viewer: Viewer,
    *,
    customer=None,
    form: FormInput | None = None,
    values: dict | None = None,
    status_code: int = 200,
) -> Response:
    people = staff_by_id(session, org_id=viewer.org_id)
    return render(
        request,
        "customers/form.html",
        {
            "customer": customer,
            "definitions": customers_service.list_attribute_definitions(session, org_id=viewer.org_id),
            "owner_options": _owner_options(people),
            "genders": GENDERS,
            "education_levels": EDUCATION_LEVELS,
            "income_bands": INCOME_BANDS,
            "text_fields": TEXT_FIELDS,
            "errors": form.errors if form else {},
            "values": form.values if form else (values or {"owner_id": str(viewer.user_id)}),
            "display_name": customers_service.display_name,
        },
        status_code=status_code,
    )


@router.get("/new")
def new_customer_form(
    request: Request, viewer: Permitted("customers.write"), session: SessionDep
) -> Response:
    return _form_page(request, session, viewer)


@router.post("/new")
def create_customer(
    request: Request, viewer: Permitted("customers.write"), form: CsrfForm, session: SessionDep
) -> Response:
    definitions = customers_service.list_attribute_definitions(session, org_id=viewer.org_id)
    data = _profile_from_form(form, definitions, editing=False)
    if form.ok:
        customer = attempt(
            session,
            form,
            lambda: customers_service.create_customer(
                session, org_id=viewer.org_id, data=data, actor_user_id=viewer.user_id
            ),
        )
        if customer is not None:
            name = customers_service.display_name(customer)
            return redirect(request, f"/customers/{customer.id}", flash=f"Customer {name} created.")
    return _form_page(request, session, viewer, form=form, status_code=422)


@router.get("/{customer_id}/edit")
def edit_customer_form(
    request: Request, customer_id: int, viewer: Permitted("customers.write"), session: SessionDep
) -> Response:
    customer = customers_service.get_writable_customer_or_raise(
        session, org_id=viewer.org_id, customer_id=customer_id
    )
    definitions = customers_service.list_attribute_definitions(session, org_id=viewer.org_id)
    tags = customers_service.tags_for(session, org_id=viewer.org_id, customer_ids=[customer.id])[customer.id]
    return _form_page(
        request, session, viewer, customer=customer, values=_profile_values(customer, tags, definitions)
    )


@router.post("/{customer_id}/edit")
def update_customer(
    request: Request,
    customer_id: int,
    viewer: Permitted("customers.write"),
    form: CsrfForm,
    session: SessionDep,
) -> Response:
    customer = customers_service.get_writable_customer_or_raise(
        session, org_id=viewer.org_id, customer_id=customer_id
    )
    definitions = customers_service.list_attribute_definitions(session, org_id=viewer.org_id)
    changes = _profile_from_form(form, definitions, editing=True)
    if form.ok:
        done = attempt(
            session,
            form,
            lambda: customers_service.update_customer(
                session,
                org_id=viewer.org_id,
                customer_id=customer.id,
                changes=changes,
                actor_user_id=viewer.user_id,
            ),
        )
        if done is not None:
            return redirect(request, f"/customers/{customer_id}", flash="Profile saved.")
    customer = customers_service.get_customer_or_raise(session, org_id=viewer.org_id, customer_id=customer_id)
    return _form_page(request, session, viewer, customer=customer, form=form, status_code=422)


# --- the 360° page --------------------------------------------------------------------------------------------


def _page_360(
    request: Request,
    session,
    viewer: Viewer,
    customer_id: int,
    *,
    before: str | None = None,
    form: FormInput | None = None,
    form_name: str = "",
    status_code: int = 200,
) -> Response:
    org_id = viewer.org_id
    customer = customers_service.get_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    people = staff_by_id(session, org_id=org_id)
    now = datetime.now(UTC)
    context: dict[str, Any] = {
        "customer": customer,
        "name": customers_service.display_name(customer),
        "tags": customers_service.tags_for(session, org_id=org_id, customer_ids=[customer.id])[customer.id],
        "definitions": {
            d.key: d for d in customers_service.list_attribute_definitions(session, org_id=org_id)
        },
        "identities": customers_service.list_identities(session, org_id=org_id, customer_id=customer.id),
        "consents": customers_service.current_consents(session, org_id=org_id, customer_id=customer.id),
        "places": customer_places.list_places(session, org_id=org_id, customer_id=customer.id),
        "devices": (
            devices_service.list_customer_devices(session, org_id=org_id, customer_id=customer.id)
            if viewer.can("devices.read")
            else []
        ),
        "orders": (
            orders_service.list_orders(
                session, org_id=org_id, filters=orders_service.OrderFilter(customer_id=customer.id), limit=5
            )[0]
            if viewer.can("orders.read")
            else []
        ),
        "order_summary": (
            orders_service.customer_order_summary(session, org_id=org_id, customer_id=customer.id)
            if viewer.can("orders.read")
            else None
        ),
        "amount": format_money,
        "signals": event_signals.get_signals(session, org_id=org_id, customer_id=customer.id),
        "timeline": customers_service.list_timeline(
            session, org_id=org_id, customer_id=customer.id, before=before or None, limit=TIMELINE_PAGE
        ),
        "people": people,
        "now": now,
        "writable": customer.erased_at is None,
        "form_name": form_name,
        "errors": form.errors if form else {},
        "values": form.values if form else {},
        "channel_labels": CHANNEL_LABELS,
        "identity_types": IDENTITY_TYPES,
        "interaction_kinds": INTERACTION_KINDS,
        "directions": DIRECTIONS,
        "ticket_kinds": TICKET_KINDS,
        "ticket_channels": TICKET_CHANNELS,
        "priorities": PRIORITIES,
        "priority_tones": PRIORITY_TONES,
        "status_tones": STATUS_TONES,
        "assignee_options": [(u.id, u.full_name or u.email) for u in staff_who_take_tickets(people)],
        "tickets": [],
        "tickets_total": 0,
        "snapshots": {},
        "deals": [],
        "deals_total": 0,
        "stages": {},
        "interactions": [],
        "interactions_total": 0,
        "tasks": [],
        "loyalty": loyalty_pages.customer_panel(session, org_id=org_id, customer_id=customer.id)
        if viewer.can("loyalty.read") else None,
    }
    if viewer.can("tickets.read"):
        context["tickets"], context["tickets_total"] = tickets_service.list_tickets(
            session,
            org_id=org_id,
            filters=tickets_service.TicketFilter(customer_id=customer.id, sort="-created"),
            limit=10,
            now=now,
        )
        context["snapshots"] = {t.id: tickets_service.sla_snapshot(t, now=now) for t in context["tickets"]}
    if viewer.can("sales.read"):
        context["deals"], context["deals_total"] = sales_service.list_deals(
            session, org_id=org_id, filters=sales_service.DealFilter(customer_id=customer.id), limit=10
        )
        context["stages"] = {
            s.id: s for _, stages in sales_service.list_pipelines(session, org_id=org_id) for s in stages
        }
        context["tasks"], _ = sales_service.list_tasks(
            session,
            org_id=org_id,
            filters=sales_service.TaskFilter(customer_id=customer.id, done=False),
            limit=10,
        )
    if viewer.can("interactions.read"):
        context["interactions"], context["interactions_total"] = interactions_service.list_interactions(
            session,
            org_id=org_id,
            filters=interactions_service.InteractionFilter(customer_id=customer.id),
            limit=10,
        )
    context["predictions"] = predictions_pages.panel_context(session, viewer=viewer, customer_id=customer.id)
    return render(request, "customers/detail.html", context, status_code=status_code)


@router.get("/{customer_id}")
def customer_360(
    request: Request,
    customer_id: int,
    viewer: Permitted("customers.read"),
    session: SessionDep,
    before: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    return _page_360(request, session, viewer, customer_id, before=before)


@router.post("/{customer_id}/consents")
def record_consent(
    request: Request,
    customer_id: int,
    viewer: Permitted("customers.write"),
    form: CsrfForm,
    session: SessionDep,
) -> Response:
    """Grant or revoke consent on one channel; the change goes to the ledger with this staff member."""
    channel = form.choice("channel", CONSENT_CHANNELS, label="Channel", required=True)
    granted = form.choice("granted", ("1", "0"), label="Consent", required=True)
    note = form.text("note", label="Note", max_length=500)
    if form.ok and channel and granted:
        done = attempt(
            session,
            form,
            lambda: customers_service.do_record_consent(
                session,
                org_id=viewer.org_id,
                customer_id=customer_id,
                channel=channel,
                granted=granted == "1",
                source=CONSENT_SOURCE,
                method=CONSENT_METHOD,
                note=note,
                actor_user_id=viewer.user_id,
            ),
        )
        if done is not None:
            verb = "granted" if granted == "1" else "revoked"
            label = CHANNEL_LABELS.get(channel, channel)
            return redirect(request, f"/customers/{customer_id}#consents", flash=f"{label} consent {verb}.")
    return _page_360(request, session, viewer, customer_id, form=form, form_name="consent", status_code=422)


@router.post("/{customer_id}/identities")
def add_identity(
    request: Request,
    customer_id: int,
    viewer: Permitted("customers.write"),
    form: CsrfForm,
    session: SessionDep,
) -> Response:
    kind = form.choice("type", IDENTITY_TYPES, label="Type", required=True)
    value = form.text("value", label="Value", max_length=254, required=True)
    if form.ok and kind:
        done = attempt(
            session,
            form,
            lambda: customers_service.create_identity(
                session,
                org_id=viewer.org_id,
                customer_id=customer_id,
                type=kind,
                value=value,
                actor_user_id=viewer.user_id,
            ),
        )
        if done is not None:
            return redirect(request, f"/customers/{customer_id}#identities", flash="Identity added.")
    return _page_360(request, session, viewer, customer_id, form=form, form_name="identity", status_code=422)


@router.post("/{customer_id}/identities/{identity_id}/delete")
def remove_identity(
    request: Request,
    customer_id: int,
    identity_id: int,
    viewer: Permitted("customers.write"),
    form: CsrfForm,
    session: SessionDep,
) -> Response:
    done = attempt(
        session,
        form,
        lambda: (
            customers_service.delete_identity(
                session,
                org_id=viewer.org_id,
                customer_id=customer_id,
                identity_id=identity_id,
                actor_user_id=viewer.user_id,
            )
            or True
        ),
    )
    if done is None:
        return redirect(
            request,
            f"/customers/{customer_id}#identities",
            kind="error",
            flash="; ".join(form.errors.values()),
        )
    return redirect(request, f"/customers/{customer_id}#identities", flash="Identity removed.")


@router.post("/{customer_id}/interactions")
def log_interaction(
    request: Request,
    customer_id: int,
    viewer: Permitted("interactions.write"),
    form: CsrfForm,
    session: SessionDep,
) -> Response:
    kind = form.choice("kind", INTERACTION_KINDS, label="Kind", required=True)
    direction = form.choice("direction", DIRECTIONS, label="Direction", required=True)
    subject = form.text("subject", label="Subject", max_length=300)
    body = form.text("body", label="Notes", max_length=20_000)
    outcome = form.text("outcome", label="Outcome", max_length=60)
    minutes = form.integer("duration_minutes", label="Duration (minutes)", minimum=0, maximum=24 * 60)
    occurred_at = form.moment("occurred_at", label="When", timezone=viewer.timezone)
    if occurred_at and occurred_at > datetime.now(UTC):
        form.fail("occurred_at", "When cannot be in the future.")
    if form.ok and kind and direction:
        done = attempt(
            session,
            form,
            lambda: interactions_service.create_interaction(
                session,
                org_id=viewer.org_id,
                customer_id=customer_id,
                kind=kind,
                direction=direction,
                subject=subject,
                body=body,
                outcome=outcome,
                duration_seconds=minutes * 60 if minutes is not None else None,
                occurred_at=occurred_at,
                actor_user_id=viewer.user_id,
            ),
        )
        if done is not None:
            return redirect(request, f"/customers/{customer_id}#timeline", flash="Interaction logged.")
    return _page_360(
        request, session, viewer, customer_id, form=form, form_name="interaction", status_code=422
    )


@router.post("/{customer_id}/tickets")
def open_ticket(
    request: Request,
    customer_id: int,
    viewer: Permitted("tickets.write"),
    form: CsrfForm,
    session: SessionDep,
) -> Response:
    """Open a ticket for this customer; it is acknowledged at once and shows on this page and in the queue."""
    subject = form.text("subject", label="Subject", max_length=300, required=True)
    kind = form.choice("kind", TICKET_KINDS, label="Kind", required=True)
    priority = form.choice("priority", PRIORITIES, label="Priority", required=True)
    channel = form.choice("channel", TICKET_CHANNELS, label="Channel") or "phone"
    category = (
        re.sub(r"\s+", "_", form.text("category", label="Category", max_length=60).lower()) or "general"
    )
    if not CATEGORY_RE.match(category):
        form.fail("category", "Category: use letters, digits, dashes or underscores (e.g. billing).")
    description = form.text("description", label="Description", max_length=20_000)
    assignee_id = form.integer("assignee_id", label="Assignee", minimum=1, maximum=2**31 - 1)
    if form.ok and kind and priority:
        ticket = attempt(
            session,
            form,
            lambda: tickets_service.create_ticket(
                session,
                org_id=viewer.org_id,
                customer_id=customer_id,
                subject=subject,
                kind=kind,
                priority=priority,
                description=description,
                category=category,
                channel=channel,
                assignee_id=assignee_id,
                actor_user_id=viewer.user_id,
            ),
        )
        if ticket is not None:
            return redirect(
                request,
                f"/customers/{customer_id}#tickets",
                flash=f"Ticket #{ticket.number} opened and acknowledged.",
            )
    return _page_360(request, session, viewer, customer_id, form=form, form_name="ticket", status_code=422)
