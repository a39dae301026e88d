"""The router's side of the invocation history: one record per trigger that resolved to an endpoint.

The router calls `record` once it knows the outcome, with its access record of the request (which names the
endpoint and its account only once the request resolved to an endpoint the caller may call: anything refused
before that, such as a missing token or an unknown path, is never recorded, so anonymous traffic cannot write
into a tenant's history).

One PutItem, synchronously, before the response goes back. A deferred or batched write would save the
request's time only by running after the function returned, and Lambda freezes an environment between
invocations: the record could wait for the next request, so "readable within 2 seconds" would not hold.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from httpendpoint.core import settings
from httpendpoint.core.errors import Unavailable
from httpendpoint.core.masking import mask_secrets
from httpendpoint.core.observability import logger
from httpendpoint.stores import invocation_store
from httpendpoint.stores.invocation_store import Invocation

# The key of the access record that carries the handler's output to `record` (never to the metrics line).
OUTPUT = "output"
# A record keeps the last this many characters of the output, and of the error.
OUTPUT_LIMIT = 4096
# The service's own error answers are small; a larger body is a handler's and is not parsed.
ERROR_BODY_LIMIT = 8192


def output_of(outcome: dict[str, Any]) -> str:
    """The handler's stdout and stderr as the sandbox reported them, then the traceback of a failure."""
    output = str(outcome.get("logs") or "")
    traceback = outcome.get("traceback")
    if traceback:
        output += ("" if not output or output.endswith("\n") else "\n") + str(traceback)
    return output


def record(access: dict[str, Any], response: dict[str, Any], started: float, secrets: Iterable[str]) -> None:
    """Write the trigger's record, if it resolved to an endpoint and the history is on.

    `access` is the router's access record (request_id, method, endpoint_id, account, and the output under
    `OUTPUT`, which is taken out of it here); `started` the trigger's `time.perf_counter()` at arrival;
    `secrets` the endpoint's secret values, masked in the output and the error before either is cut.
    A failed write is logged, never the caller's problem: the response stands.
    """
    output = str(access.pop(OUTPUT, ""))
    endpoint_id, account = access.get("endpoint_id"), access.get("account")
    if not endpoint_id or not account or not settings.invocation_history():
        return
    elapsed = time.perf_counter() - started
    values = tuple(secrets)
    error = error_of(response)
    invocation = Invocation(
        request_id=str(access.get("request_id", "")),
        time=iso_time(time.time() - elapsed),
        method=str(access.get("method", "")),
        status=int(response["statusCode"]),
        duration_ms=round(elapsed * 1000, 1),
        error=None if error is None else _masked_tail(error, values),
        output=_masked_tail(output, values),
    )
    try:
        invocation_store.put(str(account), str(endpoint_id), invocation)
    except Unavailable as exc:
        logger.warning("invocation not recorded", extra={**access, "detail": exc.message})


def _masked_tail(text: str, values: tuple[str, ...]) -> str:
    # Masked first: a cut through a secret would leave a piece of it.
    return (mask_secrets(text, values) if values else text)[-OUTPUT_LIMIT:]


def iso_time(epoch: float) -> str:
    """`epoch` as an endpoint's `created_at` is written (ISO 8601, UTC, milliseconds, `+00:00`), so the two
    compare as strings."""
    seconds, millis = divmod(int(epoch * 1000), 1000)
    return f"{_second(seconds)}.{millis:03d}+00:00"


@lru_cache(maxsize=1)
def _second(epoch: int) -> str:
    # Formatted once per second: on the warm path, formatting a time costs more than the rest of the record.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))


def error_of(response: dict[str, Any]) -> str | None:
    """The `error` of a JSON error answer (every one the service gives, or a handler's own of that shape)."""
    body = response.get("body")
    if int(response["statusCode"]) < 400 or not isinstance(body, str) or response.get("isBase64Encoded"):
        return None
    if len(body) > ERROR_BODY_LIMIT or not body.startswith("{"):
        return None
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return None
    return error if isinstance(error, str) else None
