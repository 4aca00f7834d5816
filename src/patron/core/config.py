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
