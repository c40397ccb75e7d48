"""Settings from the environment (pydantic-settings). Unset Kafka or database: embedded defaults."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

from aiokafka.helpers import create_ssl_context
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
    kafka_security_protocol: Literal["PLAINTEXT", "SSL"] = "PLAINTEXT"
    """SSL: mutual TLS with the files below (Strimzi's cluster CA and the service's KafkaUser)."""
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None

    environment: Literal["development", "production"] = "development"
    """production: refuse to start without a JWKS URL (no development signing key)."""

    http_host: str = "127.0.0.1"
    http_port: int = 8001
    data_dir: Path = Path(".livskraft")
    """Where `livskraft dev` keeps its database, signing key and dev.json."""

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

    def kafka_options(self) -> dict[str, Any]:
        """Connection options for every aiokafka client: bootstrap servers, and TLS when set."""
        options: dict[str, Any] = {"bootstrap_servers": self.kafka_bootstrap_servers}
        if self.kafka_security_protocol == "SSL":
            options["security_protocol"] = "SSL"
            options["ssl_context"] = create_ssl_context(
                cafile=self.kafka_ssl_cafile, certfile=self.kafka_ssl_certfile, keyfile=self.kafka_ssl_keyfile
            )
        return options

    @property
    def consumer_group(self) -> str:
        return self.consumer_group_id or f"livskraft.{self.service}"
