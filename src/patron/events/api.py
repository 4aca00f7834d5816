"""HTTP ingest: ``POST /ingest/v1/events``, authorised by a device key or an organisation ingest key."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from patron.core.errors import Unauthenticated

router = APIRouter(tags=["ingest"])

KEY_HEADER = "x-patron-key"


class IngestEvent(BaseModel):
    """One event as a device or gateway sends it."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, max_length=128, description="The sender's id of this event; "
                           "an id already stored is not stored again (safe resends).")
    device_id: int | None = Field(None, description="Patron id of the device; implied by a device key.")
    customer: int | str | None = Field(None, description="With an ingest key: the customer's Patron id "
                                       "or e-mail, when the event is not about one device.")
    type: str = Field(..., max_length=64, description="What happened: `telemetry`, `trip.end`, `fault`...")
    ts: str | float | None = Field(None, description="When it happened: ISO 8601 (UTC if no zone) or "
                                   "seconds since the epoch; default the time of arrival.")
    props: dict[str, Any] | None = Field(None, description="Anything else, as an object; `lat`/`lon` in it "
                                         "are the event's position.")


class Rejected(BaseModel):
    index: int = Field(..., description="Position of the refused event in the body (0-based).")
    reason: str = Field(..., description="Why it was refused, starting with the field at fault.")


class IngestResponse(BaseModel):
    accepted: int = Field(..., description="Events now durably stored (a resent, already stored id counts).")
    rejected: list[Rejected] = Field(..., description="Refused events; each is also kept as a dead letter.")


def _secret(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get(KEY_HEADER)


@router.post(
    "/ingest/v1/events",
    summary="Send device events",
    response_model=IngestResponse,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A JSON array of events (or one event), or NDJSON with one event per line.",
            "content": {
                "application/json": {"schema": {"type": "array", "items": IngestEvent.model_json_schema()}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        }
    },
    responses={401: {"description": "Missing, unknown or revoked key."},
               413: {"description": "Body larger than the limit."},
               422: {"description": "The body is not a JSON array, object or NDJSON."}},
)
async def ingest_events(request: Request) -> Response:
    """Store events durably and answer `{"accepted", "rejected"}` once they are. Authorise with
    `Authorization: Bearer <device key or ingest key>` (or the `X-Patron-Key` header). Each event is
    checked on its own: a bad one is refused with its index and reason, the rest are stored."""
    runtime = request.app.state.events
    secret = _secret(request)
    credential = await run_in_threadpool(runtime.authenticate, secret)
    if credential is None:
        raise Unauthenticated("Send a device key or an organisation ingest key as a Bearer token.",
                              field="authorization")
    body = await request.body()
    result = await run_in_threadpool(
        runtime.ingest_body, body, request.headers.get("content-type"), credential=credential, source="http"
    )
    return Response(orjson.dumps(result.as_dict()), media_type="application/json")
