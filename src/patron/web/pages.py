"""Server-rendered web app: every page router, and the error pages for paths outside ``/api/``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from patron.campaigns import pages as campaign_pages
from patron.core.api import HTML_ERROR_RENDERER
from patron.web import (
    admin_pages,
    auth_pages,
    contest_pages,
    customer_pages,
    dashboard_pages,
    device_pages,
    loyalty_pages,
    order_pages,
    sales_pages,
    segment_pages,
    survey_pages,
    ticket_pages,
)
from patron.web.common import render_error_page


@asynccontextmanager
async def web_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Register the readable error pages (and the login redirect) for the web app's paths."""
    setattr(app.state, HTML_ERROR_RENDERER, render_error_page)
    yield


router = APIRouter(include_in_schema=False, lifespan=web_lifespan)
for module in (auth_pages, dashboard_pages, customer_pages, ticket_pages, sales_pages, device_pages, order_pages,
               survey_pages,
               loyalty_pages,
               contest_pages,
               survey_pages, segment_pages,
               admin_pages):
    router.include_router(module.router)
router.include_router(campaign_pages.router)
