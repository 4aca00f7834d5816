"""HTTP plumbing shared by every router: the session dependency, pagination, problem+json errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patron.core.config import Settings
from patron.core.errors import Conflict, Invalid, PatronError, PayloadTooLarge

log = logging.getLogger("patron")
PROBLEM = "application/problem+json"
T = TypeVar("T")


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; committed when the route returns, rolled back on any error."""
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


class Schema(BaseModel):
    """Base of every API schema: reads ORM objects, rejects unknown fields on input."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")


class Page(BaseModel, Generic[T]):
    """A page of results: ``items``, the ``total`` that match, and the window asked for."""

    items: list[T]
    total: int = Field(description="Number of items matching the filters, over all pages.")
    limit: int = Field(description="Largest number of items in one page.")
    offset: int = Field(description="Number of matching items skipped before this page.")


class PageParams(BaseModel):
    limit: int
    offset: int


async def page_params(
    limit: Annotated[int, Query(ge=1, le=500, description="Items per page (1-500).")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]


def problem(status: int, title: str, detail: str, *, code: str, field: str | None = None,
            errors: list[dict] | None = None) -> JSONResponse:
    body: dict = {"type": f"https://patron.example/problems/{code}", "title": title, "status": status,
                  "detail": detail, "code": code}
    if field:
        body["field"] = field
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _field_of(loc: tuple | list) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie", "form")]
    return ".".join(parts) or (str(loc[0]) if loc else "body")


#: Name of the ``app.state`` attribute holding the web app's error page renderer. The web package registers
#: a callable ``(request, *, status, title, detail, field, headers) -> Response`` there; errors on paths
#: outside ``/api/`` are then shown as a readable page (or a redirect to the login page) instead of JSON.
HTML_ERROR_RENDERER = "html_error_renderer"
PageRenderer = Callable[..., Response]


def _page_renderer(request: Request) -> PageRenderer | None:
    if request.url.path.startswith(("/api/", "/ingest/")) or request.url.path == "/healthz":
        return None
    return getattr(request.app.state, HTML_ERROR_RENDERER, None)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PatronError)
    async def _patron_error(request: Request, exc: PatronError) -> Response:
        renderer = _page_renderer(request)
        if renderer is not None:
            return renderer(request, status=exc.status, title=exc.title, detail=exc.detail, field=exc.field)
        return JSONResponse(exc.to_problem(), status_code=exc.status, media_type=PROBLEM)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = []
        for err in exc.errors():
            errors.append({"field": _field_of(err.get("loc", ())), "message": err.get("msg", ""),
                           "type": err.get("type", "")})
        renderer = _page_renderer(request)
        if any(e["type"] == "json_invalid" for e in errors):
            if renderer is not None:
                return renderer(request, status=400, title="Malformed request",
                                detail="The request body could not be read.", field="body")
            return problem(400, "Malformed JSON", "The request body is not valid JSON.", code="malformed_json",
                           field="body", errors=errors)
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        if renderer is not None:
            return renderer(request, status=422, title="Invalid input",
                            detail=f"{first['field']}: {first['message']}", field=first["field"])
        return problem(422, "Invalid input", f"{first['field']}: {first['message']}", code="invalid",
                       field=first["field"], errors=errors)

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> Response:
        # The database refused a value the schemas let through (a number beyond the column's range).
        log.info("data error: %s", exc.orig)
        err = Invalid("A value is out of the range the database can store (ids are at most 2147483647).")
        renderer = _page_renderer(request)
        if renderer is not None:
            return renderer(request, status=422, title=err.title, detail=err.detail, field=None)
        return JSONResponse(err.to_problem(), status_code=422, media_type=PROBLEM)

    @app.exception_handler(IntegrityError)
    async def _integrity_error(request: Request, exc: IntegrityError) -> Response:
        log.info("integrity error: %s", exc.orig)
        err = Conflict("The change conflicts with existing data (a unique value is already taken).")
        renderer = _page_renderer(request)
        if renderer is not None:
            return renderer(request, status=409, title=err.title, detail=err.detail, field=None)
        return JSONResponse(err.to_problem(), status_code=409, media_type=PROBLEM)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "Not found", 405: "Method not allowed", 401: "Authentication required"}
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}.get(exc.status_code, "error")
        renderer = _page_renderer(request)
        if renderer is not None:
            return renderer(request, status=exc.status_code, title=titles.get(exc.status_code, "Error"),
                            detail=str(exc.detail), field=None, headers=exc.headers)
        response = problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail), code=code)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        renderer = _page_renderer(request)
        if renderer is not None:
            return renderer(request, status=500, title="Internal error",
                            detail="Something went wrong on our side; it has been logged.", field=None)
        return problem(500, "Internal error", "Something went wrong on our side; it has been logged.",
                       code="internal")


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, before they are read into memory."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise PayloadTooLarge(f"The request body is larger than {self.max_bytes} bytes.",
                                          field="body")
            return message

        await self.app(scope, limited_receive, send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(PayloadTooLarge(f"The request body is larger than {self.max_bytes} bytes.",
                                          field="body").to_problem()).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", PROBLEM.encode()), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
