"""Settings from the environment (pydantic-settings). Unset Kafka or database: embedded defaults."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting a service reads. Names are env vars, `LIVSKRAFT_` first unless said."""

    model_config = SettingsConfigDict(env_prefix="LIVSKRAFT_", extra="ignore")

    service: str = "registry"
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "LIVSKRAFT_DATABASE_URL")
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "LIVSKRAFT_KAFKA_BOOTSTRAP_SERVERS"),
    )
    http_host: str = "127.0.0.1"
    http_port: int = 8001
    data_dir: Path = Path(".livskraft")
    """Where `livskraft dev` keeps its database, signing key and dev.json."""

    topic_partitions: int = 3
    """Partitions for topics the embedded cluster creates (a real cluster's topics come from deploy/)."""

    # The outbox relay
    relay_batch_size: int = 500
    relay_poll_interval_s: float = 1.0
    """The fallback poll when no NOTIFY arrives; NOTIFY wakes the relay at once."""

    # Consumers
    consumer_group_id: str | None = None
    """The Kafka consumer group; unset: `livskraft.<service>`."""
    consumer_batch_size: int = 500
    consumer_fetch_max_wait_ms: int = 10

    # Identity: a JWKS URL in production, a local signing key in development
    jwt_jwks_url: str | None = None
    jwt_issuer: str = "livskraft-dev"
    jwt_audience: str = "livskraft"

    today: date | None = None
    """Start the service's calendar on this day (demos and tests); unset: the real date."""

    klass_api_url: str | None = None
    """SSB KLASS, for the registry's municipality import; unset: SSB's own address."""

    log_level: str = "INFO"

    @property
    def consumer_group(self) -> str:
        return self.consumer_group_id or f"livskraft.{self.service}"
