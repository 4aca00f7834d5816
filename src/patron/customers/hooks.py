"""How a merge, an erasure or a privacy export reaches records other domains keep about a customer.

Each module named in :data:`CUSTOMER_HOOK_MODULES` may define any of::

    reassign_customer(session, *, org_id, from_customer_id, to_customer_id) -> int
    erase_customer(session, *, org_id, customer_id) -> int
    export_customer(session, *, org_id, customer_id) -> dict[str, list[dict]]
    delete_customer(session, *, org_id, customer_id) -> int

``delete_customer`` is for records the database's cascades cannot reach (the event store): a deleted
profile takes them along.

They are resolved by import path when needed, so the customers domain imports none of them (no cycle)
and a module that does not exist (yet) is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib import import_module

from sqlalchemy.orm import Session

from patron.core.audit import jsonable

CUSTOMER_HOOK_MODULES: tuple[str, ...] = (
    "patron.interactions.service",
    "patron.tickets.service",
    "patron.sales.service",
    "patron.devices.service",
    "patron.orders.privacy",
    "patron.events.privacy",
    "patron.rules.privacy",
    "patron.surveys.service",
    "patron.notify.service",
    "patron.loyalty.service",
    "patron.contests.service",
    "patron.features.privacy",
    "patron.segments.service",
    "patron.predictions.service",
    "patron.campaigns.privacy",
)


def _domain(module_path: str) -> str:
    """``patron.tickets.service`` (or ``patron.events.privacy``) -> ``tickets`` (``events``): the key of the
    domain's part in reports and exports."""
    parts = module_path.split(".")
    return parts[-2] if parts[-1] in ("service", "privacy") and len(parts) > 1 else parts[-1]


def hooks(name: str) -> Iterator[tuple[str, Callable]]:
    """``(domain, function)`` for every hook module that defines ``name``."""
    for module_path in CUSTOMER_HOOK_MODULES:
        try:
            module = import_module(module_path)
        except ModuleNotFoundError as exc:
            if exc.name and module_path.startswith(exc.name):
                continue
            raise
        function = getattr(module, name, None)
        if callable(function):
            yield _domain(module_path), function


def reassign_everywhere(
    session: Session, *, org_id: int, from_customer_id: int, to_customer_id: int
) -> dict[str, int]:
    return {
        domain: int(
            fn(session, org_id=org_id, from_customer_id=from_customer_id, to_customer_id=to_customer_id) or 0
        )
        for domain, fn in hooks("reassign_customer")
    }


def erase_everywhere(session: Session, *, org_id: int, customer_id: int) -> dict[str, int]:
    return {
        domain: int(fn(session, org_id=org_id, customer_id=customer_id) or 0)
        for domain, fn in hooks("erase_customer")
    }


def export_everywhere(session: Session, *, org_id: int, customer_id: int) -> dict[str, dict[str, list[dict]]]:
    return {
        domain: jsonable(fn(session, org_id=org_id, customer_id=customer_id) or {})
        for domain, fn in hooks("export_customer")
    }
