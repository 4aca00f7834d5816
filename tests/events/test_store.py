"""The DuckDB event store on its own: de-duplication, durability across reopen, sequence numbers."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from patron.events.store import EventBatch, EventStore, micros


def _batch(ids, *, org_id=1, customer_id=7):
    batch = EventBatch()
    now = micros(datetime.now(UTC))
    for i, event_id in enumerate(ids):
        props = {"n": i}
        batch.add(
            org_id=org_id,
            id=event_id,
            device_id=3,
            customer_id=customer_id,
            type="telemetry",
            ts=now + i,
            received_at=now,
            source="http",
            lat=None,
            lon=None,
            props_json=orjson.dumps(props).decode(),
            props=props,
        )
    return batch


def test_ids_are_stored_once_within_a_batch_across_batches_and_after_reopening(tmp_path):
    path = str(tmp_path / "events.duckdb")
    store = EventStore(path)
    assert store.append(_batch(["a", "b", "a"])).count == 2
    assert store.append(_batch(["b", "c"])).count == 1
    assert store.append(_batch(["a"], org_id=2)).count == 1  # ids are per organisation
    store.close()
    store = EventStore(path)
    assert store.append(_batch(["a", "c", "d"])).count == 1
    assert store.query("SELECT count(*) FROM events")[0][0] == 5
    assert [e.id for e in store.events_after(0)] == ["a", "b", "c", "a", "d"]
    store.close()


def test_sequence_numbers_are_never_reused_after_the_newest_events_are_deleted(tmp_path):
    path = str(tmp_path / "events.duckdb")
    store = EventStore(path)
    store.append(_batch(["a", "b"], customer_id=1))
    store.append(_batch(["c", "d"], customer_id=2))
    assert store.last_seq == 4
    assert store.delete_customer_events(org_id=1, customer_id=2) == 2
    store.close()
    store = EventStore(path)  # the highest stored seq is now 2, but 3 and 4 were handed out
    appended = store.append(_batch(["e"], customer_id=1))
    assert appended.seq_start == 5
    # an erased event's id may be sent again and is stored again
    assert store.append(_batch(["c"], customer_id=1)).count == 1
    store.close()


def test_deleting_an_organisation_removes_its_events_and_dead_letters_only(tmp_path):
    from patron.events.store import DeadLetter

    store = EventStore(str(tmp_path / "events.duckdb"))
    store.append(_batch(["a"], org_id=1))
    store.append(_batch(["a"], org_id=2))
    store.add_dead_letters(
        [DeadLetter(reason="x", source="http", org_id=1), DeadLetter(reason="y", source="http", org_id=2)]
    )
    assert store.delete_events(org_id=1) == 1
    assert store.query("SELECT org_id FROM events") == [(2,)]
    assert store.query("SELECT org_id FROM dead_letters") == [(2,)]
    store.close()


def test_the_duplicate_index_is_exact_behind_its_filter_as_it_grows():
    import numpy as np

    from patron.events.store import KeyIndex

    rng = np.random.default_rng(7)
    stored = rng.integers(0, 2**64 - 1, size=300_000, dtype=np.uint64)
    index = KeyIndex(stored[:1000])
    bits_at_start = len(index._bits) * 8
    for start in range(1000, len(stored), 10_000):  # the filter is rebuilt larger on the way
        index.add(stored[start : start + 10_000])
    assert len(index) == len(stored)
    assert len(index._bits) * 8 > bits_at_start
    fresh = rng.integers(0, 2**64 - 1, size=50_000, dtype=np.uint64)
    fresh = fresh[~np.isin(fresh, stored)]
    probe = np.concatenate([stored[rng.integers(0, len(stored), 5000)], fresh])
    found = index.contains(probe)
    assert found[:5000].all()
    assert not found[5000:].any()  # filter false positives are settled by the sorted runs
    assert 0 < index._maybe(fresh).mean() < 0.05  # the filter lets through only a few new keys


def test_the_store_knows_which_customers_have_events_so_timeline_reads_skip_the_others(tmp_path):
    from patron.events import queries

    path = str(tmp_path / "events.duckdb")
    store = EventStore(path)
    store.append(_batch(["a", "b"], org_id=1, customer_id=7))
    store.append(_batch(["c"], org_id=1, customer_id=None))  # about a device only
    store.append(_batch(["d"], org_id=2, customer_id=8))

    def has(org_id, customer_id):
        return store.may_have_customer_events(org_id=org_id, customer_id=customer_id)

    assert has(1, 7) and has(2, 8)
    assert not has(1, 8) and not has(2, 7) and not has(1, 9)  # the same id in another organisation is not mixed up
    assert queries.timeline_events(store, org_id=1, customer_id=8, before=None, limit=10) == []
    assert len(queries.timeline_events(store, org_id=1, customer_id=7, before=None, limit=10)) == 2

    assert store.reassign_customer(org_id=1, from_customer_id=7, to_customer_id=9) == 2  # a merge moves them
    assert has(1, 9)
    assert len(queries.timeline_events(store, org_id=1, customer_id=9, before=None, limit=10)) == 2
    store.close()

    store = EventStore(path)  # learnt again from the stored rows when the store opens
    assert has(1, 9) and has(2, 8)
    assert not has(1, 7)
    store.close()
