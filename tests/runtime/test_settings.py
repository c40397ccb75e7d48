"""Settings that production depends on: Kafka TLS, and no development keys in production."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.registry.app import create_app
from services.runtime.settings import Settings


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "registry")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "user.crt", folder / "user.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def test_kafka_tls_settings_become_an_ssl_context(tmp_path, monkeypatch):
    cert, key = _self_signed(tmp_path)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9093")
    monkeypatch.setenv("LIVSKRAFT_KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("LIVSKRAFT_KAFKA_SSL_CAFILE", str(cert))
    monkeypatch.setenv("LIVSKRAFT_KAFKA_SSL_CERTFILE", str(cert))
    monkeypatch.setenv("LIVSKRAFT_KAFKA_SSL_KEYFILE", str(key))
    options = Settings().kafka_options()
    assert options["bootstrap_servers"] == "kafka:9093"
    assert options["security_protocol"] == "SSL"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED


def test_plaintext_by_default(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    assert Settings().kafka_options() == {"bootstrap_servers": "127.0.0.1:9092"}


def test_production_refuses_to_start_without_a_jwks_url(tmp_path):
    settings = Settings(
        database_url="postgresql://db/x",
        kafka_bootstrap_servers="kafka:9092",
        environment="production",
        data_dir=tmp_path,
    )
    with pytest.raises(RuntimeError, match="JWKS"):
        create_app(settings)
    create_app(settings.model_copy(update={"jwt_jwks_url": "https://idp.example/jwks"}))


async def test_a_background_task_that_dies_makes_the_service_unhealthy(tmp_path):
    import asyncio

    import httpx

    from services.runtime.app import _stopped

    app = create_app(
        Settings(database_url="postgresql://db/x", kafka_bootstrap_servers="k:9092", data_dir=tmp_path)
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")

    async def relay() -> None:
        raise RuntimeError("lost the database for good")

    assert (await client.get("/healthz")).status_code == 200
    task = asyncio.create_task(relay(), name="registry-relay")
    await asyncio.gather(task, return_exceptions=True)
    _stopped(app, task)
    answer = await client.get("/healthz")
    assert answer.status_code == 503
    assert "registry-relay stopped: RuntimeError('lost the database for good')" in answer.json()["reason"]
