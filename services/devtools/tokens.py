"""Development tokens and `livskraft token`: signed by the local development key, which only a
service in development mode accepts (`services.runtime.auth.DevKeyVerifier`)."""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from services.runtime.auth import (
    DEV_ALGORITHM,
    DEV_KEY_FILE,
    KOMMUNENUMMER,
    ROLE_SCOPES,
    ROLES,
    SUBSCRIBER,
    SUBSCRIBER_FORBIDDEN,
    dev_signing_key,
)
from services.runtime.settings import Settings


def issue_dev_token(
    data_dir: Path | str,
    role: str,
    kommune: str | None = None,
    subject: str | None = None,
    ttl_minutes: int = 60,
    issuer: str = "livskraft-dev",
    audience: str = "livskraft",
    scopes: Iterable[str] | None = None,
    networks: Iterable[str] | None = None,
) -> str:
    """A token signed by the local development key. ValueError for an impossible combination."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "municipality":
        if kommune is None or not KOMMUNENUMMER.fullmatch(kommune):
            raise ValueError("the municipality role needs --kommune with four digits")
    elif kommune is not None:
        raise ValueError(f"only the municipality role has a kommune, not {role}")
    led = [str(uuid.UUID(str(n))) for n in networks or ()]  # ValueError for a non-id
    if role == "leader" and not led:
        raise ValueError("the leader role needs --network (a network id; repeatable)")
    if role != "leader" and led:
        raise ValueError(f"only the leader role has networks, not {role}")
    if ttl_minutes <= 0:
        raise ValueError("ttl_minutes must be positive")
    if role == SUBSCRIBER:
        granted = sorted(set(scopes or ()))
        if not granted or set(granted) & SUBSCRIBER_FORBIDDEN:
            raise ValueError("a subscriber needs at least one --scope, and may only read")
    elif scopes:
        raise ValueError(f"the {role} role's scopes are fixed; --scope is for subscribers")
    else:
        granted = sorted(ROLE_SCOPES[role])
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject or f"dev-{role}" + (f"-{kommune}" if kommune else ""),
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=ttl_minutes),
        "jti": uuid.uuid4().hex,
        "role": role,
        "scope": " ".join(granted),
    }
    if kommune is not None:
        claims["kommune"] = kommune
    if led:
        claims["networks"] = led
    return jwt.encode(claims, dev_signing_key(data_dir), algorithm=DEV_ALGORITHM)


def token_main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    """`livskraft token`: print a one-line description, then the token on the last line."""
    parser = argparse.ArgumentParser(
        prog="livskraft token", description="Issue a development token signed by the local key."
    )
    parser.add_argument("--role", required=True, choices=ROLES)
    parser.add_argument("--kommune", help="four-digit kommunenummer (municipality role only)")
    parser.add_argument("--subject", help="the token's sub claim")
    parser.add_argument("--ttl-minutes", type=int, default=60)
    parser.add_argument(
        "--scope", action="append", dest="scopes", help="a scope granted (subscriber; repeatable)"
    )
    parser.add_argument(
        "--network", action="append", dest="networks", help="a network the leader leads (repeatable)"
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help or a usage error
        return exc.code if isinstance(exc.code, int) else 2
    settings = settings or Settings()
    if settings.jwt_jwks_url:
        print(
            "warning: LIVSKRAFT_JWT_JWKS_URL is set, so services will refuse development tokens",
            file=sys.stderr,
        )
    try:
        token = issue_dev_token(
            settings.data_dir,
            args.role,
            kommune=args.kommune,
            subject=args.subject,
            ttl_minutes=args.ttl_minutes,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            scopes=args.scopes,
            networks=args.networks,
        )
    except ValueError as exc:
        print(f"livskraft token: error: {exc}", file=sys.stderr)
        return 2
    claims = jwt.decode(token, options={"verify_signature": False})
    expires = datetime.fromtimestamp(claims["exp"], UTC).isoformat(timespec="seconds")
    who = f"role={args.role}" + (f" kommune={args.kommune}" if args.kommune else "")
    key_file = Path(settings.data_dir) / DEV_KEY_FILE
    print(
        f"Development token for {who} sub={claims['sub']} scope={claims['scope']!r} "
        f"expires {expires} (key {key_file})"
    )
    print(token)
    return 0
