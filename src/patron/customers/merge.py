"""Merging two profiles of the same person into one.

Everything the duplicate holds moves to the survivor: identities, tags, the consent ledger, places (a
place within 150 m of one the survivor already has adds its visits to it), timeline entries, and the
records other domains keep (through their ``reassign_customer`` hooks). The survivor's empty profile
fields are filled from the duplicate's. The duplicate row is kept as a tombstone with ``merged_into_id``
set: it disappears from lists, search, lookups and exports, and reading it by id answers 404 naming the
survivor. Erasing the survivor erases its tombstones too.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from patron.core import audit
from patron.core.errors import Conflict, Invalid
from patron.customers import hooks
from patron.customers.base import display_name, get_customer_or_raise, get_writable_customer_or_raise, in_org
from patron.customers.models import ConsentRecord, Customer, CustomerTag, Identity, Place, TimelineEntry
from patron.customers.places import VISIT_RADIUS_M, haversine_m
from patron.customers.timeline import record_timeline

FILLED_FROM_DUPLICATE = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "birth_year",
    "gender",
    "education",
    "occupation",
    "income_band",
    "city",
    "country",
    "timezone",
    "owner_id",
)


@dataclass(frozen=True)
class MergeResult:
    survivor: Customer
    duplicate_id: int
    moved: dict[str, int]
    filled: list[str]


def _move(session: Session, model: type, *, org_id: int, from_id: int, to_id: int) -> int:
    result = session.execute(
        update(model)
        .where(in_org(model.org_id, org_id), model.customer_id == from_id)
        .values(customer_id=to_id)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def _merge_tags(session: Session, *, org_id: int, survivor_id: int, duplicate_id: int) -> int:
    def tags_of(customer_id: int) -> set[str]:
        return set(
            session.scalars(
                select(CustomerTag.tag).where(
                    in_org(CustomerTag.org_id, org_id), CustomerTag.customer_id == customer_id
                )
            )
        )

    new = tags_of(duplicate_id) - tags_of(survivor_id)
    session.execute(
        delete(CustomerTag)
        .where(in_org(CustomerTag.org_id, org_id), CustomerTag.customer_id == duplicate_id)
        .execution_options(synchronize_session=False)
    )
    for tag in sorted(new):
        session.add(CustomerTag(org_id=org_id, customer_id=survivor_id, tag=tag))
    return len(new)


def _merge_places(session: Session, *, org_id: int, survivor_id: int, duplicate_id: int) -> int:
    def places_of(customer_id: int) -> list[Place]:
        return list(
            session.scalars(
                select(Place).where(in_org(Place.org_id, org_id), Place.customer_id == customer_id)
            )
        )

    kept = places_of(survivor_id)
    moved = 0
    for place in places_of(duplicate_id):
        near = [
            p
            for p in kept
            if haversine_m(p.latitude, p.longitude, place.latitude, place.longitude) <= VISIT_RADIUS_M
        ]
        if near:
            target = near[0]
            target.visit_count = (target.visit_count or 0) + (place.visit_count or 0)
            if place.last_visited_at and (
                target.last_visited_at is None or place.last_visited_at > target.last_visited_at
            ):
                target.last_visited_at = place.last_visited_at
            if not target.address and place.address:
                target.address = place.address
            session.delete(place)
        else:
            place.customer_id = survivor_id
            kept.append(place)
        moved += 1
    return moved


def _fill_profile(survivor: Customer, duplicate: Customer) -> list[str]:
    filled = []
    for name in FILLED_FROM_DUPLICATE:
        if getattr(survivor, name) in (None, "") and getattr(duplicate, name) not in (None, ""):
            setattr(survivor, name, getattr(duplicate, name))
            filled.append(name)
    # a birth date comes over only if it agrees with the survivor's birth year (or there is none)
    if (
        survivor.birth_date is None
        and duplicate.birth_date is not None
        and survivor.birth_year in (None, duplicate.birth_date.year)
    ):
        survivor.birth_date = duplicate.birth_date
        filled.append("birth_date")
        if survivor.birth_year is None:
            survivor.birth_year = duplicate.birth_date.year
            filled.append("birth_year")
    lifestyle = list(dict.fromkeys([*(survivor.lifestyle_tags or []), *(duplicate.lifestyle_tags or [])]))
    if lifestyle != (survivor.lifestyle_tags or []):
        survivor.lifestyle_tags = lifestyle
        filled.append("lifestyle_tags")
    for name in ("preferences", "attributes"):
        combined = {**(getattr(duplicate, name) or {}), **(getattr(survivor, name) or {})}
        if combined != (getattr(survivor, name) or {}):
            setattr(survivor, name, combined)
            filled.append(name)
    return filled


def do_merge_customers(
    session: Session, *, org_id: int, survivor_id: int, duplicate_id: int, actor_user_id: int | None = None
) -> MergeResult:
    """Fold ``duplicate_id`` into ``survivor_id`` (see the module docstring); audited as ``customers.merge``."""
    if survivor_id == duplicate_id:
        raise Invalid("A customer cannot be merged into itself.", field="duplicate_id")
    survivor = get_writable_customer_or_raise(session, org_id=org_id, customer_id=survivor_id)
    duplicate = get_customer_or_raise(session, org_id=org_id, customer_id=duplicate_id, field="duplicate_id")
    if duplicate.erased_at is not None:
        raise Conflict(
            f"Customer {duplicate_id} was erased; there is nothing left to merge.", field="duplicate_id"
        )
    duplicate_name = display_name(duplicate)
    filled = _fill_profile(survivor, duplicate)
    session.flush()
    moved = {
        "identities": _move(session, Identity, org_id=org_id, from_id=duplicate_id, to_id=survivor_id),
        "tags": _merge_tags(session, org_id=org_id, survivor_id=survivor_id, duplicate_id=duplicate_id),
        "consent_records": _move(
            session, ConsentRecord, org_id=org_id, from_id=duplicate_id, to_id=survivor_id
        ),
        "places": _merge_places(session, org_id=org_id, survivor_id=survivor_id, duplicate_id=duplicate_id),
        "timeline_entries": _move(
            session, TimelineEntry, org_id=org_id, from_id=duplicate_id, to_id=survivor_id
        ),
    }
    session.execute(
        update(Customer)
        .where(Customer.org_id == org_id, Customer.merged_into_id == duplicate_id)
        .values(merged_into_id=survivor_id)
        .execution_options(synchronize_session=False)
    )
    for domain, count in hooks.reassign_everywhere(
        session, org_id=org_id, from_customer_id=duplicate_id, to_customer_id=survivor_id
    ).items():
        moved[domain] = count
    duplicate.merged_into_id = survivor_id
    session.flush()
    record_timeline(
        session,
        org_id=org_id,
        customer_id=survivor_id,
        kind="customer.merged",
        summary=f"Merged duplicate profile {duplicate_name} (customer {duplicate_id}) into this one",
        ref_type="customer",
        ref_id=duplicate_id,
        data={"duplicate_id": duplicate_id, "moved": moved, "filled": filled},
        actor_user_id=actor_user_id,
    )
    audit.record(
        session,
        action="customers.merge",
        entity="customers",
        entity_id=survivor_id,
        org_id=org_id,
        before={"duplicate_id": duplicate_id},
        after={"survivor_id": survivor_id, "moved": moved, "filled": filled},
    )
    session.flush()
    return MergeResult(survivor=survivor, duplicate_id=duplicate_id, moved=moved, filled=filled)
