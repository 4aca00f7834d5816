"""The delivery queues: the in-process worker started with the app, and the Redis queue with separate
workers (real Redis), two of them racing for the same message, which the SMTP server receives once."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from fastapi.testclient import TestClient

from patron.app import create_app
from patron.notify import queue as notify_queue
from patron.notify.delivery import deliver_message
from patron.notify.queue import InProcessQueue, RedisQueue
from patron.notify.worker import Worker

from .conftest import message, send, wait_until


def test_in_process_queue_hands_out_due_entries_in_time_order():
    q = InProcessQueue()
    now = time.time()
    q.put(3, due=now + 0.3)
    q.put(1)
    q.put(2, due=now + 0.1)
    assert q.get(1.0) == 1
    assert q.get(1.0) == 2
    assert q.get(0.01) is None  # 3 is not due yet
    assert q.get(1.0) == 3
    q.close()
    assert q.get(0.1) is None


def test_the_app_delivers_through_its_in_process_worker(settings, make_tenant, smtp_server):
    served = settings.model_copy(update={"scheduler": True, "scheduler_interval_seconds": 3600,
                                         "smtp_url": smtp_server.url, "notify_sweep_seconds": 3600})  # fmt: skip
    app = create_app(served)
    with TestClient(app) as client:
        assert isinstance(notify_queue.active_queue(), InProcessQueue)
        tenant = make_tenant("Acme", role="agent")
        customer = client.post("/api/v1/customers", json={"first_name": "Ada", "email": "ada@example.com"},
                               headers=tenant.headers).json()["id"]  # fmt: skip
        client.post(f"/api/v1/customers/{customer}/consents", headers=tenant.headers,
                    json={"channel": "email", "granted": True, "source": "web_form"})  # fmt: skip
        message_id = send(client, tenant, customer, "email").json()["id"]
        # announced on commit: no sweep needed (it runs once an hour here, after its first round at start)
        wait_until(lambda: len(smtp_server.received) == 1, what="the e-mail")
        wait_until(lambda: message(client, tenant, message_id)["status"] == "sent", what="status sent")
    assert notify_queue.active_queue() is None
    assert len(smtp_server.received) == 1


def test_a_message_is_announced_when_the_outer_transaction_commits_not_when_a_savepoint_is_released(
    db, tenant, make_customer, smtp_server, settings
):
    from patron.core.db import session_scope
    from patron.notify import service as notify_service

    mail_settings = settings.model_copy(update={"smtp_url": smtp_server.url})
    customer_id = make_customer(tenant, consents=("email",))
    announced = InProcessQueue()
    notify_queue.use_queue(announced)
    try:
        with session_scope(db) as session:
            message = notify_service.enqueue(session, org_id=tenant.org_id, customer_id=customer_id,
                                             channel="email", subject="Hello", body="Hi")  # fmt: skip
            with session.begin_nested():  # a later savepoint of the same job, released before the commit
                pass
            assert len(announced) == 0
            # what a worker would do with an early announcement: find nothing to claim yet (PostgreSQL)
            # or wait for the write lock (SQLite); so it is not announced
        assert announced.get(1.0) == message.id
        assert deliver_message(db, mail_settings, message.id).status == "sent"
    finally:
        notify_queue.use_queue(None)
        announced.close()
    assert len(smtp_server.received) == 1


@pytest.fixture
def redis_queue(redis_url):
    prefix = f"patron-test:{uuid.uuid4().hex[:12]}"
    queue = RedisQueue(redis_url, prefix=prefix)
    yield queue
    queue.redis.delete(queue.ready_key, queue.delayed_key)
    queue.close()


def test_redis_queue_keeps_delayed_entries_until_due(redis_queue):
    redis_queue.put(7, due=time.time() + 0.3)
    redis_queue.put(8)
    assert redis_queue.sizes() == (1, 1)
    assert redis_queue.get(1.0) == 8
    assert redis_queue.get(0.05) is None
    time.sleep(0.35)
    assert redis_queue.get(1.0) == 7
    assert redis_queue.sizes() == (0, 0)


def test_two_redis_workers_racing_on_the_same_message_send_it_once(
    client, db, tenant, make_customer, smtp_server, settings, redis_url, redis_queue
):
    worker_settings = settings.model_copy(update={"smtp_url": smtp_server.url, "queue_url": redis_url,
                                                  "queue_prefix": redis_queue.ready_key.rsplit(":", 1)[0]})  # fmt: skip
    customers = [make_customer(tenant, consents=("email",)) for _ in range(5)]
    ids = [send(client, tenant, c, "email", idempotency_key=f"k-{c}").json()["id"] for c in customers]
    for message_id in ids:  # every id three times: as after a lost acknowledgement and a sweep
        for _ in range(3):
            redis_queue.put(message_id)
    workers = [
        Worker(db, worker_settings, RedisQueue(redis_url, prefix=worker_settings.queue_prefix), threads=2,
               sweep=False, poll_seconds=0.2).start()
        for _ in range(2)
    ]
    try:
        wait_until(lambda: len(smtp_server.received) >= 5 and redis_queue.sizes() == (0, 0), what="five mails")
        time.sleep(0.3)
    finally:
        for worker in workers:
            worker.stop()
            worker.queue.close()
    assert sorted(rcpt[0] for rcpt, _mail in smtp_server.received) == sorted(
        message(client, tenant, i)["address"] for i in ids)
    assert len(smtp_server.received) == 5
    assert sum(w.delivered.get("sent", 0) for w in workers) == 5
    for message_id in ids:
        found = message(client, tenant, message_id)
        assert found["status"] == "sent" and found["attempts"] == 1


def test_threads_racing_on_one_message_claim_it_once(client, db, tenant, make_customer, smtp_server, settings):
    mail_settings = settings.model_copy(update={"smtp_url": smtp_server.url})
    customer_id = make_customer(tenant, consents=("email",))
    message_id = send(client, tenant, customer_id, "email").json()["id"]
    start = threading.Barrier(4)
    results: list = []

    def race() -> None:
        start.wait()
        results.append(deliver_message(db, mail_settings, message_id).status)

    threads = [threading.Thread(target=race) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=str) == [None, None, None, "sent"]
    assert len(smtp_server.received) == 1


def test_a_redis_worker_retries_a_failing_server_through_the_delayed_set(
    client, db, tenant, make_customer, smtp_server, settings, redis_url, redis_queue
):
    worker_settings = settings.model_copy(update={
        "smtp_url": smtp_server.url, "notify_retry_base_seconds": 0.2, "notify_retry_max_seconds": 0.4,
        "queue_url": redis_url, "queue_prefix": redis_queue.ready_key.rsplit(":", 1)[0],
    })  # fmt: skip
    customer_id = make_customer(tenant, consents=("email",))
    message_id = send(client, tenant, customer_id, "email").json()["id"]
    smtp_server.fail_next = 1
    worker = Worker(db, worker_settings, RedisQueue(redis_url, prefix=worker_settings.queue_prefix), threads=1,
                    sweep=True, poll_seconds=0.2)  # fmt: skip
    worker.start()  # its sweep finds the message (nothing announced it on Redis)
    try:
        wait_until(lambda: len(smtp_server.received) == 1, what="the retried e-mail")
    finally:
        worker.stop()
        worker.queue.close()
    done = message(client, tenant, message_id)
    assert (done["status"], done["attempts"]) == ("sent", 2) and smtp_server.refused == 1
