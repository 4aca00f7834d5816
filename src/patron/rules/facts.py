"""What rules may ask about an event's device and customer, looked up in the records database.

Device facts change rarely and are cached for ``DEVICE_TTL_SECONDS`` across batches. Customer facts
(profile, tags, consents, signals, segments) are cached for one batch only, and each part is read the first
time a condition or template asks for it, so an event that fails its cheap conditions costs no query. The
segments of a batch's customers are read in one query the first time any of them is asked for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.customers import service as customers_service
from patron.customers.models import Customer
from patron.devices.models import Device
from patron.events.models import CustomerSignals
from patron.rules.conditions import CUSTOMER_FIELDS
from patron.rules.conditions import SIGNAL_FIELDS as CONDITION_SIGNAL_FIELDS

DEVICE_TTL_SECONDS = 30.0
# what a rule can read of a customer and their signals (the condition fields, plus what they reach into)
PROFILE_FIELDS = (
    *(name for name in CUSTOMER_FIELDS if name not in ("id", "name", "tags", "segments")),
    "attributes",
    "preferences",
)
SIGNAL_FIELDS = (*CONDITION_SIGNAL_FIELDS, "usage_by_type")


@dataclass(frozen=True)
class DeviceFacts:
    id: int
    org_id: int
    type: str
    name: str
    model: str
    firmware: str
    status: str
    health: str
    attributes: dict
    customer_id: int | None


class CustomerFacts:
    """One customer as rules see it; ``tags``, ``consents`` and ``signals`` are read on first use."""

    def __init__(self, session: Session, org_id: int, customer: Any, owner: Facts | None = None) -> None:
        self._session = session
        self._owner = owner
        self.org_id = org_id
        self.id: int = customer.id
        self.profile: dict[str, Any] = {name: getattr(customer, name) for name in PROFILE_FIELDS}
        self.profile["id"] = customer.id
        self.profile["name"] = customers_service.display_name(customer)
        self._tags: list[str] | None = None
        self._consents: dict[str, bool] | None = None
        self._signals: dict[str, Any] | None | bool = False
        self._segments: list[int | str] | None = None

    @property
    def tags(self) -> list[str]:
        if self._tags is None:
            self._tags = customers_service.tags_for(
                self._session, org_id=self.org_id, customer_ids=[self.id]
            )[self.id]
        return self._tags

    @property
    def consents(self) -> dict[str, bool]:
        if self._consents is None:
            summaries = customers_service.consent_summaries(
                self._session, org_id=self.org_id, customer_ids=[self.id]
            )
            self._consents = summaries.get(self.id, {})
        return self._consents

    @property
    def segments(self) -> list[int | str]:
        """The ids and names of the segments the customer is in now (so ``contains`` takes either)."""
        if self._segments is None:
            if self._owner is not None:
                self._segments = self._owner.segments_of(self.org_id, self.id)
            else:
                found = _segments_of(self._session, self.org_id, [self.id]).get(self.id, [])
                self._segments = [part for segment in found for part in segment]
        return self._segments

    @property
    def signals(self) -> dict[str, Any] | None:
        if self._signals is False:
            # derived attributes kept by the events domain's enrichment (read only here)
            row = self._session.get(CustomerSignals, self.id)
            self._signals = (
                None
                if row is None or row.org_id != self.org_id
                else {name: getattr(row, name) for name in SIGNAL_FIELDS}
            )
        return self._signals  # type: ignore[return-value]


def _segments_of(session: Session, org_id: int, customer_ids: list[int]) -> dict[int, list[tuple[int, str]]]:
    from patron.segments import service as segments_service  # the segments domain is optional to rules

    return segments_service.current_segments(session, org_id=org_id, customer_ids=customer_ids)


class Facts:
    """Look-ups for one evaluator. Call :meth:`begin` with the batch's session and :meth:`end` after."""

    def __init__(self, session: Session | None = None, *, device_ttl: float = DEVICE_TTL_SECONDS) -> None:
        self.session = session
        self.device_ttl = device_ttl
        self._devices: dict[int, tuple[float, DeviceFacts | None]] = {}
        self._customers: dict[tuple[int, int], CustomerFacts | None] = {}
        self._segments: dict[tuple[int, int], list[int | str]] = {}
        self._batch: Callable[[], Iterable[tuple[int, int | None]]] | None = None
        self._checked_at = time.monotonic()

    def begin(self, session: Session) -> None:
        self.session = session
        self._customers = {}
        self._segments = {}
        self._batch = None
        self._checked_at = time.monotonic()

    def end(self) -> None:
        self.session = None
        self._customers = {}
        self._segments = {}
        self._batch = None

    # --- devices ----------------------------------------------------------------------------------
    def prefetch_devices(self, device_ids: set[int]) -> None:
        """Load the devices not cached (or expired) in one query."""
        now = time.monotonic()
        wanted = [i for i in device_ids if i is not None and not self._fresh(i, now)]
        if not wanted or self.session is None:
            return
        found: dict[int, DeviceFacts] = {}
        for start in range(0, len(wanted), 500):
            rows = self.session.execute(
                select(
                    Device.id,
                    Device.org_id,
                    Device.type,
                    Device.name,
                    Device.model,
                    Device.firmware,
                    Device.status,
                    Device.health,
                    Device.attributes,
                    Device.customer_id,
                ).where(Device.id.in_(wanted[start : start + 500]))
            )
            for row in rows:
                found[row.id] = DeviceFacts(*row)
        expires = now + self.device_ttl
        for device_id in wanted:
            self._devices[device_id] = (expires, found.get(device_id))

    def _fresh(self, device_id: int, now: float) -> bool:
        entry = self._devices.get(device_id)
        return entry is not None and entry[0] > now

    def device(self, device_id: int | None) -> DeviceFacts | None:
        if device_id is None:
            return None
        entry = self._devices.get(device_id)
        if entry is None or entry[0] <= self._checked_at:  # prefetched this batch: no clock read
            if not self._fresh(device_id, time.monotonic()):
                self.prefetch_devices({device_id})
            entry = self._devices.get(device_id)
        return entry[1] if entry is not None else None

    def forget_devices(self) -> None:
        self._devices.clear()

    # --- customers --------------------------------------------------------------------------------
    def customer(self, org_id: int, customer_id: int | None) -> CustomerFacts | None:
        """The customer of that organisation, or None when gone, merged away or erased."""
        if customer_id is None or self.session is None:
            return None
        key = (org_id, customer_id)
        if key not in self._customers:
            with self.session.no_autoflush:  # the engine flushes its batch itself, once
                row = customers_service.get_customer(self.session, org_id=org_id, customer_id=customer_id)
            self._customers[key] = (
                None
                if row is None or row.erased_at is not None
                else CustomerFacts(self.session, org_id, row, self)
            )
        return self._customers[key]

    def prefetch_customers(self, wanted: set[tuple[int, int]]) -> None:
        """Load the ``(org_id, customer_id)`` pairs not cached this batch, one query per organisation
        (and 500 ids): a firing then costs no look-up of its own. The same answer as :meth:`customer`:
        gone, merged away or erased is None."""
        if self.session is None:
            return
        by_org: dict[int, list[int]] = {}
        for org_id, customer_id in wanted:
            if customer_id is not None and (org_id, customer_id) not in self._customers:
                by_org.setdefault(org_id, []).append(customer_id)
        for org_id, ids in by_org.items():
            ids.sort()
            found: dict[int, Customer] = {}
            with self.session.no_autoflush:
                for start in range(0, len(ids), 500):
                    rows = self.session.scalars(
                        select(Customer).where(
                            Customer.org_id == org_id, Customer.id.in_(ids[start : start + 500])
                        )
                    )
                    found.update((row.id, row) for row in rows)
            for customer_id in ids:
                row = found.get(customer_id)
                gone = row is None or row.merged_into_id is not None or row.erased_at is not None
                self._customers[(org_id, customer_id)] = (
                    None if gone else CustomerFacts(self.session, org_id, row, self)
                )

    # --- segments -----------------------------------------------------------------------------------
    def expect_customers(self, pairs: Callable[[], Iterable[tuple[int, int | None]]]) -> None:
        """Tell the look-ups which ``(org_id, customer_id)`` the batch holds (called only if needed), so
        the first ``customer.segments`` asked for reads the segments of all of them in one query."""
        self._batch = pairs

    def segments_of(self, org_id: int, customer_id: int) -> list[int | str]:
        """Ids and names of the customer's segments now, read with the rest of the batch's customers."""
        key = (org_id, customer_id)
        if key not in self._segments and self.session is not None:
            pairs = set(self._batch()) if self._batch is not None else set()
            wanted = sorted({cid for org, cid in pairs if org == org_id and cid is not None
                             and (org, cid) not in self._segments} | {customer_id})  # fmt: skip
            with self.session.no_autoflush:
                found = _segments_of(self.session, org_id, wanted)
            for cid in wanted:
                self._segments[(org_id, cid)] = [part for segment in found.get(cid, []) for part in segment]
        return self._segments.get(key, [])

    def forget_customer(self, org_id: int, customer_id: int) -> None:
        """Drop what is cached of a customer an action has just changed."""
        self._customers.pop((org_id, customer_id), None)
