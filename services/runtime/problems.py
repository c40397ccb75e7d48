"""RFC 9457 problem details: every error answer of every API has this shape.

What no handler answered is answered by `FaultBarrier`, once: a fault of the moment (the database
restarting, a lost connection, a timeout, Kafka out of reach: `faults.is_transient`) as a 503 with
`Retry-After`, logged once as a warning and counted in `livskraft_http_transient_faults_total`;
anything else, a bug, as a 500, logged once with its traceback. The barrier sits inside Starlette's
`ServerErrorMiddleware`, which would log the exception a second time through the server ("Exception
in ASGI application") because it raises again after answering; nothing reaches it any more.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import faults, metrics

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_S = 1
"""What a 503 asks the client to wait, in seconds: a restarting database is back within about one."""
log = logging.getLogger(__name__)


class FieldError(BaseModel):
    field: str
    message: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details, as every error answer carries them."""

    type: str = "about:blank"
    title: str
    status: int
    instance: str
    detail: str | None = None
    errors: list[FieldError] = []


_DESCRIPTIONS = {
    400: "Bad request",
    401: "No valid bearer token",
    403: "Not allowed for this token",
    404: "Not found",
    409: "Refused in the current state",
    422: "Invalid input; `errors` name the fields",
    503: "A fault of the moment: retry after `Retry-After` seconds (with the same Idempotency-Key)",
}
RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "model": ProblemDetails,
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
    }
    for status, description in _DESCRIPTIONS.items()
}
"""The error answers every operation may give, for the OpenAPI document."""


class Problem(Exception):
    """Raise to answer with a problem. `errors` name the fields at fault: [{"field", "message"}]."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type_: str = "about:blank",
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.type = status, title, detail, type_
        self.errors = errors or []
        self.headers = headers

    def body(self, instance: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "instance": instance,
        }
        if self.detail:
            body["detail"] = self.detail
        if self.errors:
            body["errors"] = self.errors
        return body


class Replayed(Exception):
    """A retried command whose idempotency key was answered before: answer the same again."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"replayed answer ({status})")
        self.status, self.body = status, body


def field_error(field: str, message: str, status: int = 422) -> Problem:
    """A refusal that names the one field at fault."""
    return Problem(
        status, "Invalid request", f"{field}: {message}", errors=[{"field": field, "message": message}]
    )


def unavailable() -> Problem:
    """The answer to a transient fault: 503, retry after a moment, safely with the same key."""
    return Problem(
        503,
        "Service Unavailable",
        "A fault of the moment (the database or the message broker did not answer); try again in a "
        "moment. A command sent with an Idempotency-Key is safe to retry with the same key: if it "
        "was done, the first answer is given again, and nothing is done twice.",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


class ProblemResponse(JSONResponse):
    """problem+json written in ASCII (JSON escapes): a refusal that quotes the input back stays
    answerable whatever the input held, a lone surrogate included (UTF-8 cannot carry one)."""

    media_type = PROBLEM_JSON

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _response(problem: Problem, request: Request) -> JSONResponse:
    headers = dict(problem.headers or {})
    if problem.status == 503:
        headers.setdefault("Retry-After", str(RETRY_AFTER_S))
    return ProblemResponse(
        problem.body(request.url.path),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers or None,
    )


class FaultBarrier:
    """Pure ASGI middleware: answers every exception that no handler answered, and logs it once.

    Transient (`faults.is_transient`): 503 with `Retry-After`, a warning naming the fault (the
    log line carries the request's trace id), `livskraft_http_transient_faults_total` counted.
    Anything else: 500, logged once with its traceback, `livskraft_http_unexpected_errors_total`.
    Nothing is raised on, so the server does not log it again. If the answer had already begun
    when the exception came, it is only logged: the connection ends there."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            request = Request(scope)
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            if faults.is_transient(exc):
                metrics.HTTP_TRANSIENT_FAULTS.labels(self.service, route).inc()
                log.warning(
                    "transient fault answering %s %s, answered 503: %s",
                    request.method,
                    request.url.path,
                    faults.describe(exc),
                )
                problem = unavailable()
            else:
                metrics.HTTP_UNEXPECTED_ERRORS.labels(self.service, route).inc()
                log.error("unexpected error answering %s %s", request.method, request.url.path, exc_info=exc)
                problem = Problem(500, "Internal Server Error", "The error is logged")
            if not started:
                await _response(problem, request)(scope, receive, send)


def install(app: FastAPI, service: str | None = None) -> None:
    """The problem answers, and the `FaultBarrier` (install before other middleware, so that they
    see its answers: it is then the innermost)."""
    settings = getattr(app.state, "settings", None)
    app.add_middleware(FaultBarrier, service=service or getattr(settings, "service", None) or app.title)

    @app.exception_handler(Replayed)
    async def _replayed(request: Request, exc: Replayed) -> Response:
        """A retried command: the first answer again (IETF httpapi Idempotency-Key draft)."""
        return Response(
            exc.body,
            status_code=exc.status,
            media_type="application/json",
            headers={"Idempotent-Replayed": "true"},
        )

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return _response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            if err.get("type") == "json_invalid":
                loc = ["body"]  # the body is not JSON at all
            elif loc and loc[0] in ("body", "query", "path", "header"):
                loc = loc[1:] if len(loc) > 1 else loc
            errors.append({"field": ".".join(loc) or "body", "message": str(err.get("msg", ""))})
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        problem = Problem(422, "Invalid request", detail, errors=errors)
        return _response(problem, request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        """Last resort, for an exception in a middleware outside the barrier (Starlette's
        ServerErrorMiddleware calls this, then raises it on to the server)."""
        if faults.is_transient(exc):
            return _response(unavailable(), request)
        return _response(Problem(500, "Internal Server Error", "The error is logged"), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        problem = Problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))
        return _response(problem, request)
