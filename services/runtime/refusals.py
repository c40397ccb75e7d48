"""A refusal of the rules, and how a command handler answers one: the one definition every service's
domain raises and every service's handlers turn into a problem.

`Refused` is plain Python, so a `domain.py` stays free of I/O and web frameworks; `command` wraps a
command handler so that a refusal becomes an RFC 9457 problem naming its field (the unit of work has
rolled the transaction back by then): 422 "Invalid request" when the input is wrong, 409 "Refused"
when the state forbids the command, 403 "Forbidden" when the caller may not, 404 when what it names
does not exist.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
_TITLES = {409: "Refused", 403: "Forbidden"}


class Refused(ValueError):
    """A command the rules refuse. `status` 422: the input is wrong; 409: the state forbids it;
    403: the caller may not."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.status = field, message, status


def problem_of(refusal: Refused) -> Exception:
    """The problem that answers `refusal`, naming its field."""
    from .problems import Problem, field_error  # the web side, kept out of what a domain imports

    if refusal.status == 404:  # nothing of that name: no field is at fault
        return Problem(404, "Not Found", refusal.message)
    problem = field_error(refusal.field, refusal.message, refusal.status)
    problem.title = _TITLES.get(refusal.status, problem.title)
    return problem


def command(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Answer a refusal of the rules as a problem naming its field."""

    @functools.wraps(handler)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await handler(*args, **kwargs)
        except Refused as exc:
            raise problem_of(exc) from None

    return run
