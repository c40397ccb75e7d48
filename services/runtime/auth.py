"""Who may do what: bearer JWTs with a role, scopes and a municipality claim.

Roles (claim `role`):
- `staff`: KS programme staff, acts on everything;
- `municipality`: a municipality's contact, acts for its own kommunenummer only (claim `kommune`);
- `reader`: reads everything, changes nothing;
- `leader`: a network leader (prosessveileder), plans the gatherings of the networks it leads
  only: claim `networks`, a non-empty list of network ids (UUIDs);
- `subscriber`: another agency's system, reads only what it was granted (claim `scope`).

A role's scopes are fixed (ROLE_SCOPES); only a subscriber's come from the token's `scope` claim
(space separated, or `scp`), and never include write or admin.
In development tokens are signed by a local key in `<data_dir>/dev-signing-key.pem` and issued by
`livskraft token`; in production the keys come from the identity provider's JWKS URL.
Tokens are never logged.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.runtime.problems import Problem
from services.runtime.settings import Settings

log = logging.getLogger(__name__)

READ, WRITE, ADMIN = "livskraft:read", "livskraft:write", "livskraft:admin"
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "staff": frozenset({READ, WRITE, ADMIN}),
    "municipality": frozenset({READ, WRITE}),
    "reader": frozenset({READ}),
    "leader": frozenset({READ, WRITE}),  # writes only for the networks in its `networks` claim
}
SUBSCRIBER = "subscriber"
ROLES = (*ROLE_SCOPES, SUBSCRIBER)
SUBSCRIBER_FORBIDDEN = frozenset({WRITE, ADMIN})
"""A subscriber only reads: a token granting it these is refused."""

DEV_KEY_FILE = "dev-signing-key.pem"
DEV_ALGORITHM = "ES256"
ALGORITHMS = ["RS256", "ES256"]
"""Asymmetric only: never `none` or HMAC, so a public key can never be used as an HMAC secret."""
LEEWAY_S = 30
KOMMUNENUMMER = re.compile(r"[0-9]{4}")


class InvalidClaims(ValueError):
    """A correctly signed token whose claims do not make a valid principal."""


@dataclass(frozen=True)
class Principal:
    subject: str
    role: str
    kommune: str | None
    scopes: frozenset[str]
    networks: frozenset[uuid.UUID] = frozenset()
    """A leader's networks (claim `networks`); empty for every other role."""

    @property
    def is_staff(self) -> bool:
        return self.role == "staff"

    def can_act_for(self, kommunenummer: str) -> bool:
        """Staff act for every municipality, a municipality's contact for its own only."""
        if self.is_staff:
            return True
        return self.role == "municipality" and self.kommune == kommunenummer

    def can_plan_for(self, network_id: uuid.UUID) -> bool:
        """Staff plan every network's gatherings, a network leader those of its own networks."""
        return self.is_staff or (self.role == "leader" and network_id in self.networks)


def ensure_can_act_for(principal: Principal, kommunenummer: str) -> None:
    """Raise 403 unless `principal` may act for `kommunenummer`."""
    if not principal.can_act_for(kommunenummer):
        raise Problem(403, "Forbidden", f"Not allowed to act for municipality {kommunenummer}")


def _scopes(claims: Mapping[str, Any]) -> frozenset[str] | None:
    raw = claims.get("scope", claims.get("scp"))
    if raw is None:
        return None
    if isinstance(raw, str):
        return frozenset(raw.split())
    if isinstance(raw, list) and all(isinstance(s, str) for s in raw):
        return frozenset(raw)
    raise InvalidClaims("scope must be a string or a list of strings")


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """The principal a verified token's claims describe; InvalidClaims if they are inconsistent."""
    subject = claims.get("sub") or claims.get("client_id")
    if not isinstance(subject, str) or not subject:
        raise InvalidClaims("the token has no subject")
    role = claims.get("role")
    if role not in ROLES:
        raise InvalidClaims("the token has no valid role")
    if role == SUBSCRIBER:
        scopes = _scopes(claims)
        if not scopes:
            raise InvalidClaims("a subscriber token must grant scopes")
        if scopes & SUBSCRIBER_FORBIDDEN:
            raise InvalidClaims("a subscriber may only read")
    else:
        scopes = ROLE_SCOPES[role]
    kommune = None
    if role == "municipality":
        kommune = claims.get("kommune")
        if not isinstance(kommune, str) or not KOMMUNENUMMER.fullmatch(kommune):
            raise InvalidClaims("a municipality token needs a four-digit kommune")
    networks: frozenset[uuid.UUID] = frozenset()
    if role == "leader":
        networks = _networks(claims.get("networks"))
    return Principal(subject=subject, role=role, kommune=kommune, scopes=scopes, networks=networks)


def _networks(raw: Any) -> frozenset[uuid.UUID]:
    """A leader's `networks` claim: a non-empty list of network ids."""
    if not isinstance(raw, list) or not raw or not all(isinstance(n, str) for n in raw):
        raise InvalidClaims("a leader token needs `networks`: a non-empty list of network ids")
    try:
        return frozenset(uuid.UUID(n) for n in raw)
    except ValueError:
        raise InvalidClaims("`networks` must hold network ids (UUIDs)") from None


# Verifying tokens


class TokenVerifier(Protocol):
    def verify(self, token: str) -> Principal:
        """The token's principal; raises jwt.PyJWTError or InvalidClaims if it is not acceptable."""
        ...


def _decode(token: str, key: Any, issuer: str, audience: str) -> Principal:
    claims = jwt.decode(
        token,
        key,
        algorithms=ALGORITHMS,
        issuer=issuer,
        audience=audience,
        leeway=LEEWAY_S,
        options={"require": ["exp", "iss", "aud"]},
    )
    return principal_from_claims(claims)


def dev_signing_key(data_dir: Path | str) -> ec.EllipticCurvePrivateKey:
    """The local signing key, created on first use (P-256, file mode 0600, never replaced)."""
    path = Path(data_dir) / DEV_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Write a private temporary file, then link it into place: a concurrent first use
        # sees either no file or a whole one, and only one key ever wins.
        tmp = path.with_name(f".{DEV_KEY_FILE}.{uuid.uuid4().hex}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} does not hold an EC private key")
    return key


class DevKeyVerifier:
    """Verifies tokens signed by the local development key."""

    def __init__(self, data_dir: Path | str, issuer: str, audience: str) -> None:
        self.data_dir, self.issuer, self.audience = Path(data_dir), issuer, audience
        self._public_key: ec.EllipticCurvePublicKey | None = None

    def verify(self, token: str) -> Principal:
        if self._public_key is None:
            self._public_key = dev_signing_key(self.data_dir).public_key()
        return _decode(token, self._public_key, self.issuer, self.audience)


class JwksVerifier:
    """Verifies tokens against an identity provider's JWKS (Maskinporten, ID-porten, Entra ID).

    Keys are cached and refetched when a token names an unknown `kid`. The fetch blocks, so
    call `verify` from a worker thread (the `require` dependency does)."""

    def __init__(self, jwks_url: str, issuer: str, audience: str) -> None:
        self.issuer, self.audience = issuer, audience
        self._client = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=5)

    def verify(self, token: str) -> Principal:
        key = self._client.get_signing_key_from_jwt(token)
        return _decode(token, key.key, self.issuer, self.audience)


def verifier_from_settings(settings: Settings) -> TokenVerifier:
    if settings.jwt_jwks_url:
        return JwksVerifier(settings.jwt_jwks_url, settings.jwt_issuer, settings.jwt_audience)
    return DevKeyVerifier(settings.data_dir, settings.jwt_issuer, settings.jwt_audience)


# FastAPI dependencies

_bearer = HTTPBearer(auto_error=False, description="A JWT from the identity provider")


def _unauthorized(detail: str, *, invalid: bool = True) -> Problem:
    challenge = 'Bearer error="invalid_token"' if invalid else "Bearer"
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": challenge})


def require(*scopes: str) -> Callable[..., Principal]:
    """A dependency giving the request's principal; 401 without a valid token, 403 without
    every one of `scopes`. The app's verifier is `app.state.verifier`."""
    needed = frozenset(scopes)

    # A plain `def`: FastAPI runs it in a worker thread, where a JWKS fetch may block.
    def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None:
            raise _unauthorized("A bearer token is required", invalid=False)
        verifier: TokenVerifier | None = getattr(request.app.state, "verifier", None)
        if verifier is None:
            raise RuntimeError("app.state.verifier is not set")
        try:
            principal = verifier.verify(credentials.credentials)
        except jwt.PyJWKClientConnectionError as exc:
            log.warning("cannot fetch signing keys: %s", exc)
            raise Problem(503, "Service Unavailable", "Cannot check tokens just now") from None
        except jwt.ExpiredSignatureError:
            raise _unauthorized("The token has expired") from None
        except (jwt.PyJWTError, InvalidClaims) as exc:
            log.info("bearer token refused: %s", exc)
            raise _unauthorized(f"The token is not valid: {exc}") from None
        missing = needed - principal.scopes
        if missing:
            raise Problem(403, "Forbidden", f"Missing scope: {' '.join(sorted(missing))}")
        return principal

    return dependency
