"""Bearer tokens, roles and scopes, with real keys and signatures."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, FastAPI

from services.devtools.tokens import issue_dev_token, token_main
from services.runtime import problems
from services.runtime.auth import (
    ADMIN,
    DEV_KEY_FILE,
    READ,
    WRITE,
    DevKeyVerifier,
    JwksVerifier,
    Principal,
    TokenVerifier,
    dev_signing_key,
    ensure_can_act_for,
    require,
    verifier_from_settings,
)
from services.runtime.settings import Settings

ISS, AUD = "livskraft-dev", "livskraft"


def make_app(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI()
    problems.install(app)
    app.state.verifier = verifier

    @app.get("/read")
    def read(p: Annotated[Principal, Depends(require(READ))]) -> dict[str, Any]:
        return {"sub": p.subject, "role": p.role, "scopes": sorted(p.scopes)}

    @app.post("/write")
    def write(p: Annotated[Principal, Depends(require(WRITE))]) -> dict[str, str]:
        return {"sub": p.subject}

    @app.post("/admin")
    def admin(p: Annotated[Principal, Depends(require(ADMIN))]) -> dict[str, str]:
        return {"sub": p.subject}

    @app.post("/kommuner/{nr}")
    def act(nr: str, p: Annotated[Principal, Depends(require(WRITE))]) -> dict[str, str]:
        ensure_can_act_for(p, nr)
        return {"acted_for": nr}

    return app


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


Client = httpx.AsyncClient


def http(app: FastAPI) -> Client:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def client(data_dir: Path) -> AsyncIterator[Client]:
    async with http(make_app(DevKeyVerifier(data_dir, ISS, AUD))) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signed(data_dir: Path, **overrides: Any) -> str:
    """A token with chosen claims, signed by the dev key (to build tokens the issuer refuses to)."""
    now = datetime.now(UTC)
    claims = {
        "iss": ISS,
        "aud": AUD,
        "sub": "s",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "role": "staff",
        **overrides,
    }
    return jwt.encode(
        {k: v for k, v in claims.items() if v is not None}, dev_signing_key(data_dir), algorithm="ES256"
    )


def assert_problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["status"] == status
    return body


async def test_staff_token_passes_every_route(client: Client, data_dir: Path) -> None:
    token = issue_dev_token(data_dir, "staff")
    resp = await client.get("/read", headers=bearer(token))
    assert resp.status_code == 200
    assert resp.json() == {
        "sub": "dev-staff",
        "role": "staff",
        "scopes": sorted([READ, WRITE, ADMIN]),
    }
    for path in ("/write", "/admin", "/kommuner/0301", "/kommuner/5001"):
        assert (await client.post(path, headers=bearer(token))).status_code == 200


async def test_municipality_acts_for_its_own_kommune_only(client: Client, data_dir: Path) -> None:
    token = issue_dev_token(data_dir, "municipality", kommune="0301", subject="kari")
    principal = DevKeyVerifier(data_dir, ISS, AUD).verify(token)
    assert principal == Principal("kari", "municipality", "0301", frozenset({READ, WRITE}))
    assert principal.can_act_for("0301") and not principal.can_act_for("5001")
    assert not principal.is_staff
    assert (await client.post("/kommuner/0301", headers=bearer(token))).status_code == 200
    assert_problem(await client.post("/kommuner/5001", headers=bearer(token)), 403)
    assert_problem(await client.post("/admin", headers=bearer(token)), 403)


async def test_no_header_is_401_with_challenge(client: Client) -> None:
    resp = await client.get("/read")
    body = assert_problem(resp, 401)
    assert resp.headers["www-authenticate"] == "Bearer"
    assert body["title"] == "Unauthorized"


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda d: "not.a.jwt", id="garbage"),
        pytest.param(lambda d: signed(d, exp=datetime.now(UTC) - timedelta(minutes=5)), id="expired"),
        pytest.param(lambda d: signed(d, exp=None), id="no-exp"),
        pytest.param(lambda d: issue_dev_token(d, "staff", audience="someone-else"), id="audience"),
        pytest.param(lambda d: issue_dev_token(d, "staff", issuer="someone-else"), id="issuer"),
        pytest.param(lambda d: issue_dev_token(d.parent / "other", "staff"), id="other-key"),
        pytest.param(lambda d: signed(d, role="root"), id="bad-role"),
        pytest.param(lambda d: signed(d, role="municipality"), id="municipality-no-kommune"),
        pytest.param(lambda d: signed(d, role="municipality", kommune="301"), id="bad-kommune"),
        pytest.param(lambda d: signed(d, role="subscriber", scope=WRITE), id="subscriber-write"),
        pytest.param(
            lambda d: jwt.encode(
                {
                    "iss": ISS,
                    "aud": AUD,
                    "sub": "s",
                    "role": "staff",
                    "exp": datetime.now(UTC) + timedelta(minutes=5),
                },
                "an-hmac-secret-of-thirty-two-bytes",
                algorithm="HS256",
            ),
            id="hmac",
        ),
    ],
)
async def test_unacceptable_tokens_are_401(client: Client, data_dir: Path, make_token: Any) -> None:
    dev_signing_key(data_dir)
    token = make_token(data_dir)
    resp = await client.get("/read", headers=bearer(token))
    assert_problem(resp, 401)
    assert resp.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert token not in resp.text


async def test_expired_token_says_so(client: Client, data_dir: Path) -> None:
    token = signed(data_dir, exp=datetime.now(UTC) - timedelta(minutes=5))
    body = assert_problem(await client.get("/read", headers=bearer(token)), 401)
    assert body["detail"] == "The token has expired"


async def test_reader_may_not_write(client: Client, data_dir: Path) -> None:
    token = issue_dev_token(data_dir, "reader")
    assert (await client.get("/read", headers=bearer(token))).status_code == 200
    body = assert_problem(await client.post("/write", headers=bearer(token)), 403)
    assert body["title"] == "Forbidden" and WRITE in body["detail"]


async def test_subscriber_reads_only_what_it_was_granted(client: Client, data_dir: Path) -> None:
    granted = issue_dev_token(data_dir, "subscriber", scopes=[READ])
    assert (await client.get("/read", headers=bearer(granted))).json()["scopes"] == [READ]
    assert_problem(await client.post("/write", headers=bearer(granted)), 403)
    other = issue_dev_token(data_dir, "subscriber", scopes=["livskraft:events:registry"])
    assert_problem(await client.get("/read", headers=bearer(other)), 403)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"role": "root"},
        {"role": "municipality"},
        {"role": "municipality", "kommune": "\uff13\uff10\uff11\uff15"},  # fullwidth digits
        {"role": "staff", "kommune": "0301"},
        {"role": "reader", "ttl_minutes": 0},
        {"role": "subscriber"},
        {"role": "subscriber", "scopes": [WRITE]},
        {"role": "reader", "scopes": [ADMIN]},
    ],
)
def test_issue_dev_token_refuses_bad_combinations(data_dir: Path, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        issue_dev_token(data_dir, **kwargs)


def test_token_main_prints_a_verifiable_token_last(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(data_dir=data_dir, jwt_jwks_url=None)
    argv = ["--role", "municipality", "--kommune", "4601", "--ttl-minutes", "5"]
    code = token_main(argv, settings)
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and len(lines) == 2 and "4601" in lines[0]
    principal = verifier_from_settings(settings).verify(lines[-1])
    assert (principal.role, principal.kommune) == ("municipality", "4601")

    assert token_main(["--role", "municipality"], settings) == 2
    assert "kommune" in capsys.readouterr().err
    assert token_main(["--role", "root"], settings) == 2


def test_key_file_is_private_and_reused(data_dir: Path) -> None:
    first = issue_dev_token(data_dir, "staff")
    key_file = data_dir / DEV_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    pem = key_file.read_bytes()
    second = issue_dev_token(data_dir, "reader")
    assert key_file.read_bytes() == pem
    verifier = DevKeyVerifier(data_dir, ISS, AUD)
    assert verifier.verify(first).is_staff and verifier.verify(second).role == "reader"
    assert [p.name for p in data_dir.iterdir()] == [DEV_KEY_FILE]


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, rsa.RSAPrivateKey]]:
    """A JWKS served on loopback, as an identity provider would."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", key
    finally:
        server.shutdown()
        server.server_close()


async def test_jwks_verifier(jwks_server: tuple[str, rsa.RSAPrivateKey], tmp_path: Path) -> None:
    url, key = jwks_server
    issuer = "https://maskinporten.example/"
    verifier = verifier_from_settings(Settings(jwt_jwks_url=url, jwt_issuer=issuer))
    assert isinstance(verifier, JwksVerifier)
    now = datetime.now(UTC)
    claims = {
        "iss": issuer,
        "aud": AUD,
        "sub": "nav",
        "exp": now + timedelta(minutes=5),
        "role": "subscriber",
        "scope": f"{READ} livskraft:events:registry",
    }
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
    unknown_kid = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k2"})
    dev_token = issue_dev_token(tmp_path, "staff", issuer=issuer)

    assert verifier.verify(token).scopes == {READ, "livskraft:events:registry"}
    async with http(make_app(verifier)) as client:
        assert (await client.get("/read", headers=bearer(token))).status_code == 200
        assert_problem(await client.get("/read", headers=bearer(unknown_kid)), 401)
        assert_problem(await client.get("/read", headers=bearer(dev_token)), 401)


async def test_jwks_unreachable_is_503(tmp_path: Path) -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        port = closed.server_address[1]  # closed again before use: nothing listens there
    verifier = JwksVerifier(f"http://127.0.0.1:{port}/jwks", ISS, AUD)
    async with http(make_app(verifier)) as client:
        resp = await client.get("/read", headers=bearer(issue_dev_token(tmp_path, "staff")))
    assert_problem(resp, 503)


async def test_openapi_shows_the_bearer_scheme(client: Client) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert schema["paths"]["/read"]["get"]["security"] == [{"HTTPBearer": []}]
