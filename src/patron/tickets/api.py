"""HTTP API of the tickets domain."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["tickets"])
