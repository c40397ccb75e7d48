"""Every error answer is problem+json that any client can read, whatever the request held."""

from __future__ import annotations

import json

import httpx
from fastapi import FastAPI

from services.runtime import problems
from services.runtime.inputs import Body


class Named(Body):
    name: str


def app_that_quotes_input_back() -> FastAPI:
    app = FastAPI()
    problems.install(app)

    @app.post("/things")
    async def create(body: Named) -> dict[str, str]:
        raise problems.field_error("name", f"{body.name!s} is taken", status=409)

    return app


async def test_a_refusal_that_quotes_a_lone_surrogate_back_is_a_problem_not_a_500():
    app = app_that_quotes_input_back()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        # "\ud800" is valid JSON text, but a lone surrogate, which UTF-8 cannot carry.
        answer = await client.post(
            "/things", content=b'{"name": "Kari\\ud800"}', headers={"content-type": "application/json"}
        )
    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    answer.content.decode("ascii")  # written with JSON escapes: readable by any client
    problem = json.loads(answer.content)
    assert problem["errors"] == [{"field": "name", "message": "Kari\ud800 is taken"}]
