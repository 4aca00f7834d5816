"""HTTP API of the sales domain."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["sales"])
