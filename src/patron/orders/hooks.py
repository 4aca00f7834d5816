"""How other domains learn that an order was paid, without the orders domain importing them.

Each module named in :data:`ORDER_HOOK_MODULES` may define::

    order_paid(session, *, org_id, customer_id, order_id) -> int

called in the order's transaction when an order is placed as paid (or shipped, delivered) or moves to one
of those statuses from pending. Modules are resolved by import path when needed; a missing one is skipped.
"""

from __future__ import annotations

from importlib import import_module

from sqlalchemy.orm import Session

ORDER_HOOK_MODULES: tuple[str, ...] = ("patron.contests.referrals",)
#: statuses that mean the order was paid
PAID_STATUSES = frozenset({"paid", "shipped", "delivered"})


def order_paid_everywhere(
    session: Session, *, org_id: int, customer_id: int, order_id: int
) -> dict[str, int]:
    results: dict[str, int] = {}
    for module_path in ORDER_HOOK_MODULES:
        try:
            module = import_module(module_path)
        except ModuleNotFoundError as exc:
            if exc.name and module_path.startswith(exc.name):
                continue
            raise
        function = getattr(module, "order_paid", None)
        if callable(function):
            results[module_path] = int(function(session, org_id=org_id, customer_id=customer_id,
                                                order_id=order_id) or 0)  # fmt: skip
    return results
