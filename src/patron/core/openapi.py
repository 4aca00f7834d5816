"""OpenAPI: every field described.

Schemas describe the fields whose meaning is particular to them. The many fields that mean the same
thing everywhere (``id``, ``created_at``, ``customer_id``...) get their description from one glossary
here, so the published API documents every field without repeating the same sentence in fifty schemas.
A test fails when a field has neither.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

_WHEN = "(UTC, ISO 8601)"

GLOSSARY: dict[str, str] = {
    # identity and ownership
    "id": "Identifier of the record, unique within Patron.",
    "org_id": "Organisation (tenant) the record belongs to.",
    "customer_id": "The customer this record is about.",
    "user_id": "The staff member (user) concerned.",
    "owner_id": "Staff member who owns the record; null when unassigned.",
    "assignee_id": "Staff member the work is assigned to; null when unassigned.",
    "created_by_id": "Staff member who created the record.",
    "recorded_by_id": "Staff member who recorded the change; null for the customer or a system.",
    "actor_user_id": "Staff member who did it; null for API keys, jobs and the system.",
    "actor_api_key_id": "API key that did it, when a machine did.",
    "deal_id": "The deal this record is linked to.",
    "lead_id": "The lead this record came from.",
    "ticket_id": "The ticket this record belongs to.",
    "pipeline_id": "The sales pipeline.",
    "stage_id": "The pipeline stage.",
    "entity_id": "Identifier of the record the entry is about.",
    "ref_id": "Identifier of the record the entry points at (see ref_type).",
    "duplicate_id": "The customer to merge into the survivor; it disappears from lists afterwards.",
    "survivor": "The customer that remains after the merge.",
    # time
    "created_at": f"When the record was created {_WHEN}.",
    "updated_at": f"When the record last changed {_WHEN}.",
    "at": f"When it happened {_WHEN}.",
    "occurred_at": f"When it happened {_WHEN}; timezone-aware.",
    "recorded_at": f"When the change was recorded {_WHEN}.",
    "closed_at": f"When it was closed {_WHEN}; null while open.",
    "resolved_at": f"When it was resolved {_WHEN}; null until then.",
    "escalated_at": f"When it was escalated to a manager {_WHEN}; null if never.",
    "first_response_breached_at": f"When the first-response target was missed {_WHEN}; null if met or pending.",
    "resolution_breached_at": f"When the resolution target was missed {_WHEN}; null if met or pending.",
    "done_at": f"When the task was completed {_WHEN}; null while open.",
    "due_at": f"When it is due {_WHEN}.",
    "remind_at": f"When to remind the assignee {_WHEN}.",
    "read_at": f"When it was read {_WHEN}; null while unread.",
    "revoked_at": f"When it was revoked {_WHEN}; null while valid.",
    "last_used_at": f"When it was last used {_WHEN}, to the minute.",
    "last_login_at": f"Last successful sign-in {_WHEN}.",
    "last_visited_at": f"Last recorded visit {_WHEN}.",
    "expected_close": "Expected close date (YYYY-MM-DD).",
    "start": f"Start of the period {_WHEN}, included.",
    "end": f"End of the period {_WHEN}, excluded.",
    "period": "Length of each bucket: week or month.",
    # people and profile
    "first_name": "Given name.",
    "last_name": "Family name.",
    "full_name": "Name shown in the app.",
    "email": "E-mail address (stored lower-cased).",
    "phone": "Phone number in international form (+ and digits).",
    "birth_year": "Year of birth (used for age bands in segmentation).",
    "gender": "Gender: female, male, diverse or undisclosed.",
    "education": "Highest education: primary, secondary, vocational, bachelor, master or doctorate.",
    "occupation": "Occupation, free text.",
    "income_band": "Income band: low, lower_middle, middle, upper_middle or high.",
    "lifestyle_tags": "Lifestyle descriptors used by segmentation, e.g. eco-conscious, commuter.",
    "preferences": "The customer's stated preferences, as key/value pairs.",
    "attributes": "Custom attributes, typed by the organisation's attribute definitions.",
    "tags": "Labels for filtering and segments (lower-cased).",
    "tag": "A label (lower-cased).",
    "city": "City of residence.",
    "country": "Country, ISO 3166-1 alpha-2 code.",
    "timezone": "IANA time zone, e.g. Europe/Berlin.",
    "company": "Company name.",
    "address": "Postal address, free text.",
    "latitude": "Latitude in decimal degrees (-90 to 90).",
    "longitude": "Longitude in decimal degrees (-180 to 180).",
    "visit_count": "How many visits have been recorded at this place.",
    "place": "The saved place.",
    "label": "Short human-readable label.",
    "is_active": "False when the user is deactivated and can no longer sign in.",
    "role": "Role: owner, admin, manager, agent, analyst or viewer.",
    "organisation": "The caller's organisation.",
    # records
    "name": "Name shown in the app.",
    "title": "Short title.",
    "subject": "Subject line.",
    "description": "Longer description, free text.",
    "body": "Text of the message or note.",
    "notes": "Free-text notes.",
    "note": "Free-text note about the change.",
    "comment": "Free-text comment.",
    "satisfaction_comment": "The customer's comment with their satisfaction score.",
    "summary": "One-line summary.",
    "kind": "Kind of record; the allowed values are listed in the schema.",
    "type": "Type; the allowed values are listed in the schema.",
    "key": "Machine name (lower-case letters, digits and underscores).",
    "status": "Current status; the allowed values are listed in the schema.",
    "priority": "Priority: low, normal, high or urgent.",
    "category": "Category, free text chosen by the organisation (e.g. billing, driver).",
    "channel": "Channel it came through or applies to.",
    "direction": "inbound (from the customer), outbound (to the customer) or internal.",
    "outcome": "Result of the interaction, free text (e.g. resolved, callback).",
    "duration_seconds": "Length of a call or meeting in seconds.",
    "source": "Where the change came from (e.g. app, web form, import, agent).",
    "method": "How it was captured (e.g. checkbox, double opt-in, verbal).",
    "granted": "True when the customer has opted in on this channel.",
    "value": "The value.",
    "currency": "ISO 4217 currency code.",
    "probability": "Chance of winning a deal at this stage, in percent.",
    "position": "Order of the stage within its pipeline (0 first).",
    "lost_reason": "Why the deal was lost.",
    "business_hours": "Count only business hours towards the SLA targets.",
    "business_start_hour": "Start of the working day (hour, 0-23) in the organisation's time zone.",
    "business_end_hour": "End of the working day (hour, 1-24) in the organisation's time zone.",
    "business_days": "Working days as digits, Monday = 0 (e.g. 01234).",
    "first_response_minutes": "Target minutes from creation to the first public reply.",
    "resolution_minutes": "Target minutes from creation to resolution.",
    "data": "Details as key/value pairs.",
    "dry_run": "Validate and report without writing anything.",
    # collections and counts
    "items": "The records on this page.",
    "total": "Number of records matching, over all pages.",
    "count": "Number of records.",
    "customers": "Customers.",
    "interactions": "Number of interactions logged.",
    "tasks_completed": "Number of tasks completed.",
    "tickets_resolved": "Number of tickets resolved.",
    "deals_won": "Number of deals won.",
    "deals_won_value": "Total value of deals won, in the organisation's currency.",
    "deals_lost": "Number of deals lost.",
    "open_count": "Number of open deals.",
    "won_count": "Number of won deals.",
    "won_value": "Total value of won deals.",
    "lost_count": "Number of lost deals.",
    "lost_value": "Total value of lost deals.",
    "total_value": "Total value.",
    "totals": "Totals over the whole board.",
    "stages": "The pipeline's stages, in order.",
    "pipeline_name": "Name of the pipeline.",
    "created": "Number of records created.",
    "updated": "Number of records updated.",
    "rejected_count": "Number of rows rejected.",
    "reason": "Why it was rejected.",
    "lead": "The lead.",
    "detail": "Human-readable explanation.",
    # auth forms and validation errors (generated by the framework)
    "username": "Your e-mail address.",
    "password": "Your password.",
    "grant_type": "OAuth2 grant type; only 'password' is supported.",
    "scope": "OAuth2 scopes (ignored: permissions follow the user's role).",
    "client_id": "OAuth2 client id (not used).",
    "client_secret": "OAuth2 client secret (not used).",
    "token_type": "Always 'bearer'.",
    "loc": "Where the error is: the path to the offending field.",
    "msg": "What is wrong.",
    "input": "The value that was sent.",
    "ctx": "Extra details about the error.",
}


def describe_fields(spec: dict) -> dict:
    """Fill in each schema property that has no description from the glossary (in place)."""
    for schema in spec.get("components", {}).get("schemas", {}).values():
        for name, prop in schema.get("properties", {}).items():
            if "description" not in prop and name in GLOSSARY:
                prop["description"] = GLOSSARY[name]
    return spec


def install(app: FastAPI) -> None:
    def openapi() -> dict:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, description=app.description,
                               routes=app.routes, tags=app.openapi_tags)
            app.openapi_schema = describe_fields(spec)
        return app.openapi_schema

    app.openapi = openapi
