"""Transient faults: failures of the moment, which a retry gets past, told apart from bugs.

The database restarting or failing over, a connection lost or refused, a pool or query timeout,
Kafka or another service out of reach: none of these says anything about the request, and the
same request a moment later succeeds. An HTTP request that meets one is answered 503 with
`Retry-After` (`services.runtime.problems`), never 500; a 500 is kept for bugs.

`is_transient(exc)` decides. An exception counts as transient when it, or the exception it was
raised `from`, is one of:
- asyncpg's connection errors (class 08), operator intervention (57: admin or crash shutdown,
  cannot connect now, query cancelled by a timeout), insufficient resources (53: too many
  connections) and transaction rollbacks (40: deadlock, serialization failure);
- asyncpg's `InterfaceError` about a closed connection or a closed or closing pool (not its
  subclasses: `DataError` is a bug of ours), and its `InternalClientError` "cannot switch to
  state", a connection whose protocol state was lost with the connection (seen when a pooled
  connection is reset on release just as PostgreSQL restarts);
- `TimeoutError` (asyncio's too), and the socket errors: `ConnectionError` (broken pipe, reset,
  refused, aborted), `socket.gaierror`; any other `OSError` only if the database driver, Kafka
  client or HTTP client raised it (a missing Unix socket while PostgreSQL restarts), not our code;
- aiokafka's retriable errors and its timeouts;
- httpx's network errors and timeouts (another service out of reach).
An exception group is transient when every exception in it is.
"""

from __future__ import annotations

import socket
from types import TracebackType

import asyncpg
import httpx
from aiokafka import errors as kafka_errors

_POSTGRES = (
    asyncpg.PostgresConnectionError,  # 08: connection lost, does not exist, failure
    asyncpg.exceptions.OperatorInterventionError,  # 57: admin/crash shutdown, cannot connect now, cancelled
    asyncpg.exceptions.InsufficientResourcesError,  # 53: too many connections, out of memory, disk full
    asyncpg.exceptions.TransactionRollbackError,  # 40: deadlock, serialization failure
)
_KAFKA = (
    kafka_errors.KafkaConnectionError,
    kafka_errors.KafkaTimeoutError,
    kafka_errors.KafkaUnavailableError,
    kafka_errors.NoBrokersAvailable,
)
_HTTP = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_SOCKET = (TimeoutError, ConnectionError, socket.gaierror)
_TRANSIENT = _POSTGRES + _SOCKET + _KAFKA + _HTTP
_DRIVERS = frozenset({"asyncpg", "aiokafka", "httpx", "httpcore"})
"""Clients whose OSErrors are about their connection (to the database, Kafka, another service)."""


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` is a failure of the moment, which the same request gets past later."""
    if isinstance(exc, BaseExceptionGroup):
        return all(is_transient(e) for e in exc.exceptions)
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _transient_itself(current):
            return True
        current = current.__cause__
    return False


def _transient_itself(exc: BaseException) -> bool:
    if isinstance(exc, _TRANSIENT):
        return True
    if type(exc) is asyncpg.InterfaceError:  # not DataError and the like: those are bugs
        message = str(exc)
        return "closed" in message or "closing" in message
    if type(exc) is asyncpg.exceptions.InternalClientError:
        # The protocol's state lost with its connection: releasing a connection the server has
        # just dropped fails to reset it ("cannot switch to state 15; another operation (2) is
        # in progress"), after the command's commit had gone through.
        return str(exc).startswith("cannot switch to state")
    if isinstance(exc, kafka_errors.KafkaError):
        return bool(getattr(exc, "retriable", False))
    if isinstance(exc, OSError):
        return _raised_in_driver(exc.__traceback__)
    return False


def _raised_in_driver(tb: TracebackType | None) -> bool:
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if isinstance(module, str) and module.split(".", 1)[0] in _DRIVERS:
            return True
        tb = tb.tb_next
    return False


def describe(exc: BaseException) -> str:
    """One line naming the fault for the log: its type and message, without a traceback.
    (Driver messages name servers and states, never request data.)"""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(e) for e in exc.exceptions)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
