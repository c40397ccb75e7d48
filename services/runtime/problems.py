"""RFC 9457 problem details: every error answer of every API has this shape."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
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


def _response(problem: Problem, request: Request) -> JSONResponse:
    return JSONResponse(
        problem.body(request.url.path),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


def install(app: FastAPI) -> None:
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
        log.exception("unexpected error answering %s %s", request.method, request.url.path)
        return _response(Problem(500, "Internal Server Error", "The error is logged"), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        problem = Problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))
        return _response(problem, request)
