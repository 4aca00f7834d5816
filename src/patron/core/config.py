"""Settings: one pydantic-settings class, read from ``PATRON_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob Patron has. Each field is read from ``PATRON_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="PATRON_", extra="ignore")

    data_dir: Path = Field(Path(".patron"), description="Directory for the embedded stores (SQLite file).")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the records database; default is SQLite in the data directory. "
        "A postgresql:// URL switches to PostgreSQL.",
    )
    access_token_minutes: int = Field(60 * 12, ge=1, description="Lifetime of API access tokens.")
    session_minutes: int = Field(60 * 24 * 7, ge=1, description="Lifetime of a web login.")
    secure_cookies: bool = Field(False, description="Mark the session cookie Secure (set behind HTTPS).")
    max_body_bytes: int = Field(20 * 1024 * 1024, ge=1024, description="Largest request body accepted.")
    scheduler: bool = Field(True, description="Run background jobs (SLA checks, reminders) inside `patron serve`.")
    scheduler_interval_seconds: float = Field(60.0, gt=0)
    campaign_background_from: int = Field(
        2000, ge=0, description="A one-off campaign launched to at least this many customers is sent in the "
        "background: the launch answers 202 at once and the campaign shows `launching` until it is done.",
    )
    auto_migrate: bool = Field(True, description="Apply database migrations when the app starts.")
    events_url: str | None = Field(
        None,
        description="Where device events are stored: a DuckDB file (`duckdb:///path/events.duckdb` or a path); "
        "default `events.duckdb` in the data directory.",
    )
    events_memory_limit: str = Field("1GB", description="Memory DuckDB may use for the event store.")
    events_processing: bool = Field(
        True, description="Run event processing (live enrichment, real-time rules) in this process."
    )
    ingest_max_event_bytes: int = Field(64 * 1024, ge=256, description="Largest `props` of one event, as JSON.")
    ingest_max_events: int = Field(50_000, ge=1, description="Most events in one HTTP ingest request.")
    mqtt_url: str | None = Field(
        None, description="MQTT broker to take device events from (`mqtt://user:pass@host:1883`); unset: HTTP only."
    )
    mqtt_topic_prefix: str = Field("patron", description="First level of the device topics `<prefix>/<org>/devices/<id>/events`.")
    mqtt_shared_group: str | None = Field(
        "patron-ingest",
        description="MQTT v5 shared-subscription group, so several `patron ingest` workers split the load; "
        "empty for a plain subscription.",
    )
    mqtt_client_id: str | None = Field(None, description="MQTT client id of this worker (default: generated).")
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="Address customers reach this server at; the base of unsubscribe, tracking and push links.",
    )
    queue_url: str | None = Field(
        None,
        description="Message delivery queue: unset runs an in-process queue inside `patron serve`; "
        "`redis://host:6379/0` uses Redis, served by separate `patron notify worker` processes.",
    )
    queue_prefix: str = Field("patron:notify", description="Prefix of the Redis keys of the delivery queue.")
    notify_worker_threads: int = Field(2, ge=1, le=64, description="Delivery threads of one worker.")
    notify_max_attempts: int = Field(5, ge=1, le=50, description="Attempts per message before it is failed.")
    notify_retry_base_seconds: float = Field(
        30.0, gt=0, description="First retry delay; doubles per attempt, with random jitter."
    )
    notify_retry_max_seconds: float = Field(3600.0, gt=0, description="Longest delay between two attempts.")
    notify_sweep_seconds: float = Field(
        15.0, gt=0, description="How often a worker looks in the database for due messages the queue missed."
    )
    smtp_url: str | None = Field(
        None,
        description="Outgoing mail server: `smtp://user:pass@host:587?starttls=true`, `smtps://...` for "
        "implicit TLS; unset: e-mail messages fail with `no_smtp`. Secret: set it in the environment only.",
    )
    smtp_timeout_seconds: float = Field(20.0, gt=0, description="Timeout of one SMTP conversation.")
    mail_from: str = Field("Patron <noreply@patron.invalid>", description="From address of outgoing e-mail.")
    vapid_private_key: str | None = Field(
        None,
        description="Web Push VAPID private key (base64url P-256 scalar, from `patron notify vapid-keys`). "
        "Secret: set it in the environment only.",
    )
    vapid_subject: str = Field(
        "mailto:admin@patron.invalid", description="Contact (mailto: or https:) sent to push services with VAPID."
    )
    push_ttl_seconds: int = Field(
        86_400, ge=0, le=2_419_200, description="How long a push service keeps an undelivered notification."
    )
    sms_webhook_url: str | None = Field(
        None, description="SMS gateway webhook receiving `{to, body, message_id}` as a signed JSON POST."
    )
    sms_webhook_secret: str | None = Field(
        None,
        description="Shared secret of the HMAC-SHA256 signatures on SMS gateway requests and delivery reports. "
        "Secret: set it in the environment only.",
    )
    notify_http_timeout_seconds: float = Field(10.0, gt=0, description="Timeout of push and SMS requests.")

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str | None) -> str | None:
        if value and value.startswith(("postgresql://", "postgres://")):
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        return value

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'patron.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
