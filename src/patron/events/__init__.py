"""Events: ingest over HTTP and MQTT, the durable append-only event store, and live enrichment."""
