"""Typed errors. Services raise these; the API, web and CLI boundaries render them."""

from __future__ import annotations


class PatronError(Exception):
    """Base error carrying a machine code, an HTTP status, a readable detail and the field at fault."""

    code = "error"
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, field: str | None = None, code: str | None = None,
                 status: int | None = None, errors: list[dict] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.errors = errors or []
        if code:
            self.code = code
        if status:
            self.status = status

    def to_problem(self) -> dict:
        body: dict = {
            "type": f"https://patron.example/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.field:
            body["field"] = self.field
        if self.errors:
            body["errors"] = self.errors
        return body


class Invalid(PatronError):
    code = "invalid"
    status = 422
    title = "Invalid input"


class NotFound(PatronError):
    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(PatronError):
    code = "conflict"
    status = 409
    title = "Conflict"


class Unauthenticated(PatronError):
    code = "unauthenticated"
    status = 401
    title = "Authentication required"


class PermissionDenied(PatronError):
    code = "forbidden"
    status = 403
    title = "Permission denied"


class PayloadTooLarge(PatronError):
    code = "payload_too_large"
    status = 413
    title = "Payload too large"
