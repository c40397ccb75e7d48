"""Settings from the environment (pydantic-settings). Unset Kafka or database: embedded defaults."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

from aiokafka.helpers import create_ssl_context
from pydantic import AliasChoices, Field, SecretStr
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

    # notify: webhooks to other agencies' systems (Standard Webhooks; services/notify/)
    webhook_timeout_s: float = 15.0
    """How long a subscriber's endpoint may take to answer one delivery."""
    webhook_retry_base_s: float = 5.0
    webhook_retry_factor: float = 4.0
    webhook_retry_max_s: float = 6 * 3600.0
    """Attempt n+1 waits base * factor**(n-1) seconds after attempt n, at most max, +- the jitter;
    e-mail retries follow the same schedule."""
    webhook_retry_jitter: float = 0.2
    webhook_retry_window_s: float = 24 * 3600.0
    """A delivery not accepted within this time of its first attempt has failed (NotificationFailed)."""
    webhook_secret_overlap_s: float = 24 * 3600.0
    """After a rotation the previous signing secret still signs deliveries for this long."""
    webhook_workers: int = 4
    webhook_batch_size: int = 100
    webhook_poll_interval_s: float = 1.0
    webhook_order_wait_s: float = 5.0
    """An aggregate's event n waits at most this long for its event n-1 to reach notify (the two
    travel on different topics) before it is delivered anyway."""
    allow_loopback_webhooks: bool | None = None
    """Endpoints on loopback over plain http: unset means yes in development and no in production,
    where true is refused at start-up."""

    # notify: e-mail over SMTP, with contact addresses looked up in the registry
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_sender: str = "Livskraftige kommuner <ikke-svar@livskraft.ks.no>"
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_s: float = 10.0
    registry_url: str = "http://127.0.0.1:8001"
    registry_token_file: Path | None = None
    """notify's bearer token for the registry, re-read on every use (a rotated secret); unset in
    development: notify signs a development token for itself."""
    reminder_interval_s: float = 60.0
    """How often notify looks for reminders due (and at once when its calendar moves on a day)."""

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
