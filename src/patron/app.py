"""The FastAPI application factory."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from importlib import import_module

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from patron import __version__
from patron.core import openapi
from patron.core.api import BodyLimitMiddleware, install_error_handlers
from patron.core.config import Settings, get_settings
from patron.core.db import engine_for, make_sessionmaker
from patron.core.migrate import upgrade
from patron.events.runtime import EventRuntime

log = logging.getLogger("patron")

#: routers of each domain, mounted in this order (module path, attribute)
ROUTERS = (
    "patron.accounts.api",
    "patron.customers.api",
    "patron.interactions.api",
    "patron.tickets.api",
    "patron.sales.api",
    "patron.orders.api",
    "patron.events.api",
    "patron.devices.api",
    "patron.events.query_api",
    "patron.events.signals_api",
    "patron.rules.api",
    "patron.notify.api",
    "patron.loyalty.api",
    "patron.segments.api",
    "patron.campaigns.api",
    "patron.surveys.api",
    "patron.contests.api",
    "patron.predictions.api",
    "patron.web.pages",
)

API_DESCRIPTION = """
Patron's REST API. Authenticate with `POST /api/v1/auth/token` (OAuth2 password flow, the
`username` is your e-mail) and send `Authorization: Bearer <token>`, or send an organisation
API key the same way. Every error is `application/problem+json` with `status`, `code`,
`detail` and, where one field is at fault, `field`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = engine_for(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.auto_migrate:
            upgrade(engine)
        app.state.events.start()
        mqtt = None
        if settings.mqtt_url:
            from patron.events.mqtt import MqttIngest

            mqtt = MqttIngest(app.state.events)
            mqtt.start()
        scheduler = None
        if settings.scheduler:
            from patron.jobs.scheduler import Scheduler

            scheduler = Scheduler(app.state.sessionmaker, interval=settings.scheduler_interval_seconds)
            scheduler.start()
        app.state.ready = True
        try:
            yield
        finally:
            app.state.ready = False
            if scheduler is not None:
                scheduler.stop()
            if mqtt is not None:
                mqtt.stop()
            app.state.events.stop()
            engine.dispose()

    app = FastAPI(title="Patron", version=__version__, description=API_DESCRIPTION, lifespan=lifespan,
                  openapi_url="/api/v1/openapi.json", docs_url="/api/docs", redoc_url=None)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.events = EventRuntime(settings, app.state.sessionmaker, processing=settings.events_processing)
    app.state.ready = False
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    install_error_handlers(app)

    @app.get("/healthz", tags=["system"], summary="Ready check")
    def healthz() -> dict:
        """200 when the app has started and the database answers; 503 otherwise."""
        from fastapi.responses import JSONResponse

        if not app.state.ready:
            return JSONResponse({"status": "starting"}, status_code=503)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    for module_path in ROUTERS:
        module = import_module(module_path)
        app.include_router(module.router)
    openapi.install(app)
    from patron.web.common import STATIC_DIR

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
