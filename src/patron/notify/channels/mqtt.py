"""A message to the customer's connected devices: an MQTT publish (QoS 1) on each active device's
command topic ``<prefix>/<org>/devices/<id>/commands``."""

from __future__ import annotations

import json
import ssl
import threading
import uuid

import paho.mqtt.client as paho

from patron.core.config import Settings
from patron.events.mqtt_client import parse_url
from patron.notify.channels import Job, Outcome


def command_topic(*, prefix: str, org_slug: str, device_id: int) -> str:
    return f"{prefix}/{org_slug}/devices/{device_id}/commands"


def payload(job: Job) -> bytes:
    return json.dumps({"type": "message", "message_id": job.message_id, "subject": job.subject,
                       "body": job.body, "data": job.data}, ensure_ascii=False).encode()


def send(job: Job, settings: Settings) -> Outcome:
    if not settings.mqtt_url:
        return Outcome("failed", reason="not_configured", error="PATRON_MQTT_URL is not set.")
    topics: list[str] = job.target
    address = parse_url(settings.mqtt_url)
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"patron-notify-{uuid.uuid4().hex[:12]}",
                         protocol=paho.MQTTv5)
    if address.username:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        client.tls_set_context(ssl.create_default_context())
    connected = threading.Event()
    client.on_connect = lambda *_args: connected.set()
    timeout = settings.notify_http_timeout_seconds
    try:
        client.connect(address.host, address.port, keepalive=30)
        client.loop_start()
        if not connected.wait(timeout):
            return Outcome("retry", error="MQTT broker did not accept the connection in time.")
        body = payload(job)
        infos = [client.publish(topic, body, qos=1) for topic in topics]
        for info in infos:
            info.wait_for_publish(timeout)
            if not info.is_published():
                return Outcome("retry", error="MQTT broker did not acknowledge the publish in time.")
    except (OSError, ValueError, RuntimeError) as exc:
        return Outcome("retry", error=f"MQTT: {exc.__class__.__name__}: {exc}"[:500])
    finally:
        client.disconnect()
        client.loop_stop()
    return Outcome("sent", address=f"{len(topics)} device(s)")
