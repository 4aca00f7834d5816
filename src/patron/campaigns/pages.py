"""Campaign pages: the list, the builder, one campaign (audience count, preview for sample customers,
launch and pause), the results with the funnel per variant, and the calendar of sends."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import Response

from patron.accounts import service as accounts_service
from patron.campaigns import audience as audience_module
from patron.campaigns import results as campaign_results
from patron.campaigns import sending
from patron.campaigns import service as campaigns_service
from patron.campaigns.models import CONVERSION_KINDS, KINDS, RECURRENCES
from patron.campaigns.schedule import next_occurrence, zone_or_raise
from patron.core.api import SessionDep
from patron.core.errors import PatronError
from patron.notify.models import CHANNELS
from patron.web.common import CsrfForm, FormInput, Pager, Permitted, attempt, redirect, render

router = APIRouter()
PAGE = 50
STATUS_TONES = {
    "draft": "neutral",
    "scheduled": "info",
    "launching": "info",
    "running": "ok",
    "paused": "warn",
    "done": "neutral",
}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DEFAULTS = {
    "kind": "one_off", "channels": ["email"], "audience.kind": "all", "holdout_percent": "10",
    "conversion.kind": "order", "conversion.window_hours": "72", "trigger.cooldown_hours": "24",
    "trigger.days_before": "0",
    "recurrence.every": "weekly", "recurrence.time": "09:00", "recurrence.weekday": "0",
    "variants[0].name": "A", "variants[1].name": "B",
    "variants[0].subject": "{{ first_name }}, something for you",
    "variants[0].body": "Hi {{ first_name }},\n\nyou have {{ points }} points. "
                        "{% if recommended_products %}Picked for you: {{ recommended_products | join(', ') }}.{% endif %}",
}  # fmt: skip


@router.get("/campaigns")
def campaign_list(
    request: Request,
    viewer: Permitted("campaigns.read"),
    session: SessionDep,
    status: Annotated[str | None, Query(max_length=10)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    filters = campaigns_service.CampaignFilter(status=status if status in STATUS_TONES else None)
    items, total = campaigns_service.list_campaigns(session, org_id=viewer.org_id, filters=filters, limit=PAGE,
                                                    offset=offset)  # fmt: skip
    return render(request, "campaigns/list.html", {
        "campaigns": items, "pager": Pager.of(request, total=total, limit=PAGE, offset=offset), "filters": filters,
        "statuses": tuple(STATUS_TONES), "tones": STATUS_TONES,
    })  # fmt: skip


def _builder(
    request: Request, session, viewer, *, form: FormInput | None = None, status_code: int = 200
) -> Response:
    values = form.values if form else dict(DEFAULTS)
    if form is not None and isinstance(values.get("channels"), str):
        values["channels"] = [values["channels"]]
    org = accounts_service.get_organisation(session, org_id=viewer.org_id)
    values.setdefault("timezone", org.timezone if org is not None else "UTC")
    return render(request, "campaigns/builder.html", {
        "values": values, "errors": form.errors if form else {}, "kinds": KINDS, "channels": CHANNELS,
        "recurrences": RECURRENCES, "weekdays": list(enumerate(WEEKDAYS)),
        "max_days_before": campaigns_service.MAX_DAYS_BEFORE,
    }, status_code=status_code)  # fmt: skip


@router.get("/campaigns/new")
def campaign_builder(request: Request, viewer: Permitted("campaigns.write"), session: SessionDep) -> Response:
    return _builder(request, session, viewer)


def _values(form: FormInput) -> dict[str, Any]:
    """The builder's fields as the service takes them (the service checks them all)."""
    kind = form.choice("kind", KINDS, label="Kind", required=True)
    timezone = form.text("timezone", label="Time zone", max_length=64) or "UTC"
    getter = getattr(form.data, "getlist", None)
    channels = [c for c in (getter("channels") if getter else [form.raw("channels")]) if c]
    audience: dict[str, Any] = {
        "kind": form.choice("audience.kind", ("all", "filter", "segment"), label="Audience")
    }
    if audience["kind"] == "filter":
        audience["filter"] = {"tags": form.many("audience.filter.tags", label="Tags", max_items=20),
                              "country": form.optional("audience.filter.country", label="Country", max_length=2)}  # fmt: skip
    elif audience["kind"] == "segment":
        audience["segment_id"] = form.integer(
            "audience.segment_id", label="Segment", minimum=1, maximum=2**31 - 1
        )
    variants = []
    for i in (0, 1):
        body = form.text(f"variants[{i}].body", label="Body", max_length=10_000)
        if i == 0 or body:
            variants.append({"name": form.text(f"variants[{i}].name", label="Name", max_length=40),
                             "subject": form.text(f"variants[{i}].subject", label="Subject", max_length=200),
                             "body": body, "weight": 1})  # fmt: skip
    cost = form.decimal("cost", label="Cost per message", minimum=Decimal("0"))
    values: dict[str, Any] = {
        "name": form.text("name", label="Name", max_length=120, required=True),
        "description": form.text("description", label="Description", max_length=2000),
        "kind": kind, "channels": channels, "audience": audience, "timezone": timezone,
        "send_at": form.moment("send_at", label="Send at", timezone=timezone),
        "holdout_percent": form.integer("holdout_percent", label="Hold-out", minimum=0, maximum=50) or 0,
        "budget": form.decimal("budget", label="Budget", minimum=Decimal("0")),
        "costs": {channel: cost for channel in channels if channel in CHANNELS} if cost is not None else {},
        "conversion": _conversion(form),
        "variants": variants,
    }  # fmt: skip
    if kind == "recurring":
        values["recurrence"] = {
            "every": form.choice("recurrence.every", RECURRENCES, label="Every"),
            "time": form.text("recurrence.time", label="Time", max_length=5),
            "weekday": form.integer("recurrence.weekday", label="Weekday", minimum=0, maximum=6),
            "day": form.integer("recurrence.day", label="Day", minimum=1, maximum=28),
        }  # fmt: skip
    if kind == "triggered":
        trigger = form.text("trigger.name", label="Trigger", max_length=120)
        shop = form.optional("trigger.shop", label="Shop", max_length=120)
        conditions: dict[str, Any] = {"shop": shop} if shop else {}
        if trigger == campaigns_service.BIRTHDAY:
            conditions = {"days_before": form.integer("trigger.days_before", label="Days before", minimum=0,
                                                      maximum=campaigns_service.MAX_DAYS_BEFORE) or 0}  # fmt: skip
        values["trigger"] = {"name": trigger, "conditions": conditions,
                             "cooldown_hours": form.integer("trigger.cooldown_hours", label="Cooldown", minimum=0,
                                                            maximum=24 * 365) or 0}  # fmt: skip
    return values


_NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?$")


def _where_value(text: str) -> Any:
    """A typed ``where`` value from the builder: true/false and numbers as such, text in quotes or as it is."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    if _NUMBER_RE.match(text):
        return float(text) if "." in text else int(text)
    return text


def _conversion(form: FormInput) -> dict[str, Any]:
    """The builder's conversion: an order, a visit (a trigger's name) or an app event (its type, the props it
    must have as ``key=value, ...`` and the prop giving its value)."""
    kind = form.choice("conversion.kind", CONVERSION_KINDS, label="Conversion") or "order"
    conversion: dict[str, Any] = {
        "kind": kind,
        "window_hours": form.integer("conversion.window_hours", label="Window", minimum=1, maximum=24 * 90) or 72,
    }  # fmt: skip
    if kind == "visit":
        conversion["name"] = form.optional("conversion.name", label="Visit trigger", max_length=120)
    elif kind == "event":
        conversion["type"] = form.text("conversion.type", label="Event type", max_length=64, required=True)
        conversion["value_prop"] = form.optional("conversion.value_prop", label="Value prop", max_length=64)
        where: dict[str, Any] = {}
        for part in form.text("conversion.where", label="Event props", max_length=1000).split(","):
            if not part.strip():
                continue
            key, equals, value = part.partition("=")
            if not equals or not key.strip():
                form.fail("conversion.where", "Event props are written key=value, separated by commas.")
                break
            where[key.strip()] = _where_value(value.strip())
        conversion["where"] = where
    return conversion


@router.post("/campaigns/new")
def create_campaign(request: Request, viewer: Permitted("campaigns.write"), form: CsrfForm,
                    session: SessionDep) -> Response:  # fmt: skip
    values = _values(form)
    if form.ok:
        campaign = attempt(session, form, lambda: campaigns_service.create_campaign(
            session, org_id=viewer.org_id, values=values, created_by_id=viewer.user_id))  # fmt: skip
        if campaign is not None:
            return redirect(request, f"/campaigns/{campaign.id}", flash="Campaign saved as a draft.")
    return _builder(request, session, viewer, form=form, status_code=422)


@router.get("/campaigns/calendar")
def campaign_calendar(
    request: Request,
    viewer: Permitted("campaigns.read"),
    session: SessionDep,
    month: Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")] = None,
) -> Response:
    """A month of sends: scheduled one-offs and each occurrence of running recurring campaigns."""
    today = datetime.now(UTC).date()
    first = date.fromisoformat(f"{month}-01") if month else today.replace(day=1)
    days_in = calendar.monthrange(first.year, first.month)[1]
    start = datetime(first.year, first.month, 1, tzinfo=UTC) - timedelta(days=1)
    end = start + timedelta(days=days_in + 2)
    sends: dict[date, list[dict]] = {}
    items, _ = campaigns_service.list_campaigns(session, org_id=viewer.org_id, limit=500)
    for campaign in items:
        moments: list[datetime] = []
        if campaign.kind == "one_off" and campaign.send_at is not None:
            moments = [campaign.send_at]
        elif (
            campaign.kind == "recurring"
            and campaign.recurrence
            and campaign.status in ("running", "draft", "paused")
        ):
            tz = zone_or_raise(campaign.timezone)
            moment = next_occurrence(campaign.recurrence, tz, start)
            while moment < end:
                moments.append(moment)
                moment = next_occurrence(campaign.recurrence, tz, moment)
        for moment in moments:
            local = moment.astimezone(zone_or_raise(campaign.timezone))
            if (local.year, local.month) == (first.year, first.month):
                sends.setdefault(local.date(), []).append(
                    {"campaign": campaign, "time": local.strftime("%H:%M")}
                )
    weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month)
    previous = (first - timedelta(days=1)).replace(day=1)
    following = (first + timedelta(days=days_in)).replace(day=1)
    return render(request, "campaigns/calendar.html", {
        "weeks": weeks, "month": first, "sends": sends, "today": today, "tones": STATUS_TONES,
        "previous": previous.strftime("%Y-%m"), "following": following.strftime("%Y-%m"), "weekdays": WEEKDAYS,
    })  # fmt: skip


@router.get("/campaigns/{campaign_id}")
def campaign_detail(request: Request, campaign_id: int, viewer: Permitted("campaigns.read"),
                    session: SessionDep) -> Response:  # fmt: skip
    campaign = campaigns_service.get_campaign_or_raise(session, org_id=viewer.org_id, campaign_id=campaign_id)
    preview_error = None
    try:
        count = audience_module.count(session, org_id=viewer.org_id, audience=campaign.audience,
                                      channels=list(campaign.channels))  # fmt: skip
    except PatronError as exc:  # a segment that is gone, or segments not installed
        count = audience_module.AudienceCount(total=0, reachable=0, by_channel={})
        preview_error = f"{exc.field}: {exc.detail}"
    try:
        previews = sending.preview(session, campaign=campaign, size=3,
                                   trigger_data={"shop": "Shop Mitte"} if campaign.kind == "triggered" else None)  # fmt: skip
    except PatronError as exc:
        previews, preview_error = [], preview_error or f"{exc.field}: {exc.detail}"
    return render(request, "campaigns/detail.html", {
        "campaign": campaign, "variants": campaigns_service.list_variants(session, campaign=campaign),
        "count": count, "previews": previews, "preview_error": preview_error, "tones": STATUS_TONES,
        "weekdays": WEEKDAYS, "launch_progress": sending.launched_recipients(session, campaign=campaign)
        if campaign.status == "launching" else None,
    })  # fmt: skip


@router.post("/campaigns/{campaign_id}/launch")
def launch(request: Request, campaign_id: int, viewer: Permitted("campaigns.launch"), form: CsrfForm,
           session: SessionDep, background: BackgroundTasks) -> Response:  # fmt: skip
    campaign = campaigns_service.get_campaign_or_raise(session, org_id=viewer.org_id, campaign_id=campaign_id)
    threshold = request.app.state.settings.campaign_background_from
    outcome = attempt(session, form, lambda: sending.do_launch_campaign(session, campaign=campaign,
                      background=sending.sends_in_background(session, campaign=campaign, threshold=threshold)))  # fmt: skip
    if outcome is None:
        return redirect(request, f"/campaigns/{campaign_id}", flash=form.errors.get("form", "Not launched."),
                        kind="error")  # fmt: skip
    if campaign.status == "launching":
        session.commit()  # the background launch must see the campaign launching
        background.add_task(sending.finish_launch, request.app.state.sessionmaker, org_id=campaign.org_id,
                            campaign_id=campaign.id)  # fmt: skip
        return redirect(request, f"/campaigns/{campaign_id}",
                        flash="Launching: the messages are being queued in the background.")  # fmt: skip
    return redirect(request, f"/campaigns/{campaign_id}",
                    flash=f"Launched: {campaign.status}; {outcome.queued} messages queued.")  # fmt: skip


@router.post("/campaigns/{campaign_id}/pause")
def pause(request: Request, campaign_id: int, viewer: Permitted("campaigns.launch"), form: CsrfForm,
          session: SessionDep) -> Response:  # fmt: skip
    campaign = campaigns_service.get_campaign_or_raise(session, org_id=viewer.org_id, campaign_id=campaign_id)
    done = attempt(session, form, lambda: sending.do_pause_campaign(session, campaign=campaign))
    if done is None:
        return redirect(request, f"/campaigns/{campaign_id}", flash=form.errors.get("form", "Not paused."),
                        kind="error")  # fmt: skip
    return redirect(request, f"/campaigns/{campaign_id}", flash="Paused.")


@router.get("/campaigns/{campaign_id}/results")
def results_page(request: Request, campaign_id: int, viewer: Permitted("campaigns.read"),
                 session: SessionDep) -> Response:  # fmt: skip
    campaign = campaigns_service.get_campaign_or_raise(session, org_id=viewer.org_id, campaign_id=campaign_id)
    store = request.app.state.events.store if campaign.conversion.get("kind") == "event" else None
    found = campaign_results.campaign_results(session, campaign=campaign, store=store)
    widest = max([g.assigned for g in found.groups] or [1]) or 1
    steps = ("assigned", "sent", "delivered", "opened", "clicked", "converted")
    return render(request, "campaigns/results.html", {
        "campaign": campaign, "results": found, "steps": steps, "widest": widest, "tones": STATUS_TONES,
    })  # fmt: skip
