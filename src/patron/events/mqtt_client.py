"""The MQTT client of the ingest worker: paho-mqtt with a faster read path and batched PUBACKs.

paho handles connecting, reconnecting, keep-alive, subscribing and sending. What it does per received
message is the cost at tens of thousands of messages a second: at least three ``recv`` calls per
packet, a ``select`` between packets, and an ``MQTTMessage`` plus a ``Properties`` object built for
every PUBLISH. :class:`FastClient` reads the socket in large chunks, frames every packet it finds,
hands each QoS 0/1 PUBLISH straight to one callback as ``(topic, payload, mid, qos)`` and gives every
other packet to paho's own handler. :meth:`FastClient.ack_many` queues the PUBACKs of a whole batch
as one write.

This leans on private parts of paho 2.x (``_sock_recv``, ``_packet_handle``, ``_in_packet``,
``_packet_queue``, ``_loop_rc_handle``); :func:`make_client` checks they are there and otherwise
returns the plain client, which delivers the same calls through ``on_message`` and ``ack``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.exception import MalformedPacket

from patron.core.errors import Invalid

log = logging.getLogger("patron.events.mqtt")

#: ``deliver(topic, payload, mid, qos)``: called on the network thread for each received PUBLISH
Deliver = Callable[[str, bytes, int, int], None]

_SUCCESS = paho.MQTTErrorCode.MQTT_ERR_SUCCESS
_PUBLISH = 0x30
_PUBACK = 0x40
_PUBACK_HEAD = bytes([_PUBACK, 2])
INVALID_TOPIC = "<topic not valid UTF-8>"


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None


def parse_url(url: str) -> BrokerAddress:
    """``mqtt://[user:pass@]host[:port]`` (``mqtts://`` for TLS) as its parts."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp", "mqtts", "ssl") or not parts.hostname:
        raise Invalid(
            f"PATRON_MQTT_URL must look like mqtt://[user:pass@]host[:port], not {url!r}.", field="mqtt_url"
        )
    tls = parts.scheme in ("mqtts", "ssl")
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise Invalid(f"PATRON_MQTT_URL has an invalid port: {url!r}.", field="mqtt_url") from None
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return BrokerAddress(parts.hostname, port, tls, username, password)


def _fresh_in_packet() -> dict:
    return {
        "command": 0,
        "have_remaining": 0,
        "remaining_count": [],
        "remaining_mult": 1,
        "remaining_length": 0,
        "packet": bytearray(b""),
        "to_process": 0,
        "pos": 0,
    }


class FastClient(paho.Client):
    """paho's MQTT v5 client with manual acknowledgements and the read path described above."""

    READ_SIZE = 256 * 1024

    def __init__(self, client_id: str, deliver: Deliver) -> None:
        super().__init__(
            paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5, manual_ack=True
        )
        self._deliver = deliver
        self._unread = b""  # the start of a packet whose rest has not arrived yet

    def reconnect(self) -> paho.MQTTErrorCode:
        self._unread = b""
        return super().reconnect()

    def loop_read(self, max_packets: int = 1) -> paho.MQTTErrorCode:
        if self._sock is None:
            return paho.MQTTErrorCode.MQTT_ERR_NO_CONN
        try:
            data = self._sock_recv(self.READ_SIZE)
        except BlockingIOError:
            return _SUCCESS
        except OSError as exc:
            log.warning("MQTT: reading from the broker failed: %s", exc)
            return self._loop_rc_handle(paho.MQTTErrorCode.MQTT_ERR_CONN_LOST)
        if not data:
            return self._loop_rc_handle(paho.MQTTErrorCode.MQTT_ERR_CONN_LOST)
        with self._msgtime_mutex:
            self._last_bytes_received = paho.time_func()
        buffer = self._unread + data if self._unread else data
        size, pos, rc = len(buffer), 0, _SUCCESS
        while pos + 2 <= size:
            command = buffer[pos]
            # the remaining length: one to four bytes, seven bits each
            length, shift, at, complete = 0, 0, pos + 1, False
            while at < size:
                byte = buffer[at]
                at += 1
                length |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    complete = True
                    break
                shift += 7
                if shift >= 28:
                    return self._loop_rc_handle(paho.MQTTErrorCode.MQTT_ERR_PROTOCOL)
            if not complete:
                break
            end = at + length
            if end > size:
                break
            if command & 0xF0 == _PUBLISH and command & 0x06 != 0x04:  # QoS 0 or 1
                rc = self._publish(command, buffer, at, end)
            else:
                rc = self._paho_packet(command, length, buffer[at:end])
            pos = end
            if rc != _SUCCESS or self._sock is None:
                break
        self._unread = buffer[pos:]
        return self._loop_rc_handle(rc) if rc != _SUCCESS else rc

    def _publish(self, command: int, buffer: bytes, start: int, end: int) -> paho.MQTTErrorCode:
        try:
            topic_end = start + 2 + (buffer[start] << 8 | buffer[start + 1])
            at = topic_end
            mid = 0
            qos = (command & 0x06) >> 1
            if qos:
                mid = buffer[at] << 8 | buffer[at + 1]
                at += 2
            length, shift = 0, 0  # MQTT v5: the properties (skipped; no topic aliases are asked for)
            while True:
                byte = buffer[at]
                at += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            at += length
            if at > end:
                return paho.MQTTErrorCode.MQTT_ERR_PROTOCOL
            try:
                topic = buffer[start + 2 : topic_end].decode()
            except UnicodeDecodeError:
                topic = INVALID_TOPIC
        except IndexError:
            return paho.MQTTErrorCode.MQTT_ERR_PROTOCOL
        try:
            self._deliver(topic, buffer[at:end], mid, qos)
        except Exception:
            log.exception("MQTT: handling a received message failed")
        return _SUCCESS

    def _paho_packet(self, command: int, length: int, body: bytes) -> paho.MQTTErrorCode:
        packet = _fresh_in_packet()
        packet.update(command=command, have_remaining=1, remaining_length=length, packet=bytearray(body))
        self._in_packet = packet
        try:
            rc = self._packet_handle()
        except MalformedPacket as exc:
            log.warning("MQTT: malformed packet from the broker: %s", exc)
            rc = paho.MQTTErrorCode.MQTT_ERR_PROTOCOL
        self._in_packet = _fresh_in_packet()
        return rc

    def ack_many(self, mids: list[int]) -> None:
        """PUBACK (QoS 1) each of ``mids`` in one write."""
        if mids:
            self._packet_queue(_PUBACK, b"".join(_PUBACK_HEAD + mid.to_bytes(2, "big") for mid in mids), 0, 0)


_PRIVATE = ("_sock_recv", "_packet_handle", "_packet_queue", "_loop_rc_handle", "_msgtime_mutex")


def fast_client_supported() -> bool:
    probe = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    return all(
        hasattr(probe, name) for name in (*_PRIVATE, "_in_packet", "_last_bytes_received")
    ) and hasattr(paho, "time_func")


_FAST = fast_client_supported()


class PlainClient(paho.Client):
    """The fallback: paho as it is, delivering through ``on_message`` and acknowledging one by one."""

    def __init__(self, client_id: str, deliver: Deliver) -> None:
        super().__init__(
            paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5, manual_ack=True
        )
        self._deliver = deliver
        self.on_message = self._handle_message

    def _handle_message(self, client, userdata, message) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = INVALID_TOPIC
        try:
            self._deliver(topic, message.payload, message.mid, message.qos)
        except Exception:
            log.exception("MQTT: handling a received message failed")

    def ack_many(self, mids: list[int]) -> None:
        for mid in mids:
            self.ack(mid, 1)


def make_client(client_id: str, deliver: Deliver, *, fast: bool = True) -> paho.Client:
    """An MQTT v5 client with manual acknowledgements that calls ``deliver`` for each message and has
    ``ack_many(mids)``: the fast one when this paho version allows, else the plain one."""
    return (FastClient if fast and _FAST else PlainClient)(client_id, deliver)
