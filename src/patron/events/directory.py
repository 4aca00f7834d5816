"""What ingest looks up in the records database, cached for a few seconds: keys, devices,
organisations by slug, customers by id or e-mail.

The devices service calls :func:`invalidate` whenever it changes a device (binding, key, status), so
this process sees the change at once; other processes see it when their cache entry expires
(``TTL_SECONDS``).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from patron.accounts.models import Organisation
from patron.core.db import utcnow
from patron.core.security import secret_hash
from patron.customers.models import Customer
from patron.devices.models import DEVICE_KEY_PREFIX, INGEST_KEY_PREFIX, Device, IngestKey
from patron.events.ingest import Credential, DeviceInfo

TTL_SECONDS = 5.0
NEGATIVE_TTL_SECONDS = 1.0
BULK_CHUNK = 500  # ids per IN (...) of a bulk look-up
INGEST_KEY_TOUCH_SECONDS = 60.0

_directories: weakref.WeakSet[Directory] = weakref.WeakSet()


def invalidate(device_id: int | None = None) -> None:
    """Forget cached facts about one device (or everything) in every directory of this process."""
    for directory in list(_directories):
        directory.forget(device_id)


class Directory:
    def __init__(self, factory: sessionmaker[Session], *, ttl: float = TTL_SECONDS) -> None:
        self.factory = factory
        self.ttl = ttl
        self._lock = threading.Lock()
        self._devices: dict[int, tuple[float, DeviceInfo | None]] = {}
        self._keys: dict[str, tuple[float, Credential | None]] = {}
        self._orgs: dict[str, tuple[float, int | None]] = {}
        self._key_touched: dict[int, float] = {}
        _directories.add(self)

    def forget(self, device_id: int | None = None) -> None:
        with self._lock:
            if device_id is None:
                self._devices.clear()
                self._keys.clear()
                self._orgs.clear()
            else:
                self._devices.pop(device_id, None)
                self._keys = {k: v for k, v in self._keys.items() if v[1] is None or v[1].device_id != device_id}

    def _fresh(self, entry: tuple[float, Any] | None) -> bool:
        return entry is not None and entry[0] > time.monotonic()

    def _expiry(self, value: Any) -> float:
        return time.monotonic() + (self.ttl if value is not None else NEGATIVE_TTL_SECONDS)

    def credential_for_key(self, secret: str) -> Credential | None:
        """The sender a device key (``pdk_…``) or ingest key (``pik_…``) stands for, or None."""
        if not isinstance(secret, str) or not secret.startswith((DEVICE_KEY_PREFIX + "_", INGEST_KEY_PREFIX + "_")):
            return None
        digest = secret_hash(secret)
        entry = self._keys.get(digest)
        if self._fresh(entry):
            credential = entry[1]
        else:
            credential = self._load_credential(digest, secret.startswith(DEVICE_KEY_PREFIX + "_"))
            with self._lock:
                self._keys[digest] = (self._expiry(credential), credential)
        if credential is not None and credential.ingest_key_id is not None:
            self._touch_ingest_key(credential.ingest_key_id)
        return credential

    def _load_credential(self, digest: str, device_key: bool) -> Credential | None:
        with self.factory() as session:
            if device_key:
                device = session.scalar(select(Device).where(Device.key_hash == digest))
                if device is None or device.key_revoked_at is not None:
                    return None
                return Credential(org_id=device.org_id, device_id=device.id)
            key = session.scalar(select(IngestKey).where(IngestKey.key_hash == digest))
            if key is None or key.revoked_at is not None:
                return None
            return Credential(org_id=key.org_id, ingest_key_id=key.id)

    def _touch_ingest_key(self, key_id: int) -> None:
        now = time.monotonic()
        if now - self._key_touched.get(key_id, -1e9) < INGEST_KEY_TOUCH_SECONDS:
            return
        self._key_touched[key_id] = now
        with self.factory() as session:
            key = session.get(IngestKey, key_id)
            if key is not None:
                key.last_used_at = utcnow()
                session.commit()

    def device(self, device_id: int | None) -> DeviceInfo | None:
        if device_id is None:
            return None
        entry = self._devices.get(device_id)
        if self._fresh(entry):
            return entry[1]
        with self.factory() as session:
            device = session.get(Device, device_id)
            info = (
                None
                if device is None
                else DeviceInfo(
                    id=device.id,
                    org_id=device.org_id,
                    customer_id=device.customer_id,
                    status=device.status,
                    key_hash=device.key_hash,
                    revoked=device.key_revoked_at is not None,
                )
            )
        with self._lock:
            self._devices[device_id] = (self._expiry(info), info)
        return info

    def devices(self, device_ids: Iterable[int]) -> dict[int, DeviceInfo | None]:
        """:meth:`device` for many at once: what is cached, and one query for the rest (a batch of
        events names hundreds of devices, and their entries expire together)."""
        now = time.monotonic()
        found: dict[int, DeviceInfo | None] = {}
        missing: list[int] = []
        for device_id in device_ids:
            entry = self._devices.get(device_id)
            if entry is not None and entry[0] > now:
                found[device_id] = entry[1]
            else:
                missing.append(device_id)
        if not missing:
            return found
        loaded: dict[int, DeviceInfo] = {}
        with self.factory() as session:
            for start in range(0, len(missing), BULK_CHUNK):
                rows = session.execute(
                    select(
                        Device.id,
                        Device.org_id,
                        Device.customer_id,
                        Device.status,
                        Device.key_hash,
                        Device.key_revoked_at,
                    ).where(Device.id.in_(missing[start : start + BULK_CHUNK]))
                ).all()
                for row in rows:
                    loaded[row.id] = DeviceInfo(
                        id=row.id,
                        org_id=row.org_id,
                        customer_id=row.customer_id,
                        status=row.status,
                        key_hash=row.key_hash,
                        revoked=row.key_revoked_at is not None,
                    )
        with self._lock:
            for device_id in missing:
                info = loaded.get(device_id)
                self._devices[device_id] = (self._expiry(info), info)
                found[device_id] = info
        return found

    def credentials(self, secrets: Iterable[str]) -> dict[str, Credential | None]:
        """:meth:`credential_for_key` for many keys at once, with one query per kind for the keys
        not cached."""
        now = time.monotonic()
        found: dict[str, Credential | None] = {}
        missing: dict[str, str] = {}  # digest -> secret
        for secret in secrets:
            if not isinstance(secret, str) or not secret.startswith(
                (DEVICE_KEY_PREFIX + "_", INGEST_KEY_PREFIX + "_")
            ):
                found[secret] = None
                continue
            digest = secret_hash(secret)
            entry = self._keys.get(digest)
            if entry is not None and entry[0] > now:
                found[secret] = entry[1]
            else:
                missing[digest] = secret
        if missing:
            device_digests = [
                d for d, secret in missing.items() if secret.startswith(DEVICE_KEY_PREFIX + "_")
            ]
            ingest_digests = [
                d for d, secret in missing.items() if not secret.startswith(DEVICE_KEY_PREFIX + "_")
            ]
            loaded: dict[str, Credential] = {}
            with self.factory() as session:
                for start in range(0, len(device_digests), BULK_CHUNK):
                    for row in session.execute(
                        select(Device.id, Device.org_id, Device.key_hash).where(
                            Device.key_hash.in_(device_digests[start : start + BULK_CHUNK]),
                            Device.key_revoked_at.is_(None),
                        )
                    ):
                        loaded[row.key_hash] = Credential(org_id=row.org_id, device_id=row.id)
                for start in range(0, len(ingest_digests), BULK_CHUNK):
                    for row in session.execute(
                        select(IngestKey.id, IngestKey.org_id, IngestKey.key_hash).where(
                            IngestKey.key_hash.in_(ingest_digests[start : start + BULK_CHUNK]),
                            IngestKey.revoked_at.is_(None),
                        )
                    ):
                        loaded[row.key_hash] = Credential(org_id=row.org_id, ingest_key_id=row.id)
            with self._lock:
                for digest, secret in missing.items():
                    credential = loaded.get(digest)
                    self._keys[digest] = (self._expiry(credential), credential)
                    found[secret] = credential
        for credential in set(found.values()):
            if credential is not None and credential.ingest_key_id is not None:
                self._touch_ingest_key(credential.ingest_key_id)
        return found

    def org_id_for_slug(self, slug: str) -> int | None:
        entry = self._orgs.get(slug)
        if self._fresh(entry):
            return entry[1]
        with self.factory() as session:
            org_id = session.scalar(select(Organisation.id).where(Organisation.slug == slug))
        with self._lock:
            self._orgs[slug] = (self._expiry(org_id), org_id)
        return org_id

    def customers(self, org_id: int, refs: set[Any]) -> dict[Any, int]:
        """Customer references (Patron ids or e-mail addresses) mapped to ids, for those that exist
        in the organisation and are neither erased nor merged away."""
        ids = {ref for ref in refs if isinstance(ref, int) and not isinstance(ref, bool) and 0 < ref < 2**31}
        emails = {ref.strip().lower() for ref in refs if isinstance(ref, str) and ref.strip()}
        if not ids and not emails:
            return {}
        found: dict[Any, int] = {}
        with self.factory() as session:
            conditions = []
            if ids:
                conditions.append(Customer.id.in_(ids))
            if emails:
                conditions.append(Customer.email.in_(emails))
            rows = session.execute(
                select(Customer.id, Customer.email).where(
                    Customer.org_id == org_id,
                    Customer.erased_at.is_(None),
                    Customer.merged_into_id.is_(None),
                    or_(*conditions),
                )
            ).all()
        for customer_id, email in rows:
            if customer_id in ids:
                found[customer_id] = customer_id
            if email and email.lower() in emails:
                found[email.lower()] = customer_id
        for ref in refs:
            if isinstance(ref, str) and ref.strip().lower() in found:
                found[ref] = found[ref.strip().lower()]
        return found
