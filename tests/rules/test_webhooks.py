"""Webhook actions post the firing as JSON to a real local HTTP server, off the engine's thread."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, dict, dict]] = []

    def do_POST(self):  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).received.append((self.path, dict(self.headers), json.loads(body)))
        status = 503 if self.path == "/down" else 204
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def receiver():
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", Receiver.received
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_webhook_receives_the_firing_as_json(
    tenant, new_customer, new_device, send, make_rule, firings, engine, receiver
):
    url, received = receiver
    customer_id = new_customer(tenant.org_id)
    taxi = new_device(tenant.org_id, customer_id)
    rule = make_rule(
        tenant,
        {
            "when": {"event_types": ["crash"]},
            "actions": [
                {"type": "webhook", "url": f"{url}/hooks/crash"},
                {"type": "webhook", "url": f"{url}/down"},
                {"type": "webhook", "url": f"http://127.0.0.1:{closed_port()}/nobody"},
            ],
        },
        name="Crash alert",
    )
    send(taxi, {"id": "crash-1", "type": "crash", "props": {"g": 7.5}})
    assert engine.drain(timeout=20)

    (firing,) = firings(rule["id"])
    by_path = {path: (headers, body) for path, headers, body in received}
    headers, body = by_path["/hooks/crash"]
    assert headers["content-type"] == "application/json"
    assert body["firing_id"] == firing.id
    assert body["rule"] == {"id": rule["id"], "name": "Crash alert"}
    assert body["customer_id"] == customer_id and body["device_id"] == taxi.id
    assert body["event"]["id"] == "crash-1" and body["event"]["props"] == {"g": 7.5}
    assert body["reason"] == "crash event"
    sent, down, refused = firing.actions
    assert sent == {"type": "webhook", "url": f"{url}/hooks/crash", "status": "sent", "status_code": 204}
    assert down["status"] == "failed" and down["status_code"] == 503
    assert refused["status"] == "error" and "ConnectError" in refused["error"]
