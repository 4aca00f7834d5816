"""HTTP API of the interactions domain."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["interactions"])
