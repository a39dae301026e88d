"""The trigger route: resolve the path, load the script, run it in the sandbox, shape what comes back.

Warm path cost: one strongly consistent BatchGetItem (the path item, which names the pinned script version and
the endpoint's auth settings, and the caller's token record: see access.py), then the sandbox invoke; the
script comes from the cache by (path, version), with no S3 request. A refused request costs no sandbox run.
Then one PutItem, the invocation record (`history.py`).
"""

from __future__ import annotations

import json
import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from httpendpoint.core import settings
from httpendpoint.core.errors import PayloadTooLarge, Unavailable
from httpendpoint.core.limits import LOGGED_OUTPUT_LIMIT, SANDBOX_PAYLOAD_LIMIT_BYTES
from httpendpoint.core.masking import mask_secrets
from httpendpoint.core.observability import logger, metrics
from httpendpoint.stores.endpoint_store import BEARER
from httpendpoint.stores.script_store import ScriptMissing
from httpendpoint.trigger import access, history, responses, sandbox_client, script_cache

# An endpoint's auth mode names the request headers that authenticated the caller to this service: those
# belong to the service, never to the handler. `none` and `hmac` endpoints get the request as it was sent.
CREDENTIAL_HEADERS = {BEARER: frozenset({"authorization"})}
# The key of the access record that says why the router refused the request itself (a signature, a token).
REFUSED = "refused"


def trigger(event: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    context = event.get("requestContext") or {}
    request_id = str(context.get("requestId", ""))
    # What `inject_lambda_context(correlation_id_path=API_GATEWAY_REST)` would find, without a JMESPath search.
    logger.set_correlation_id(request_id)
    path = str((event.get("pathParameters") or {}).get("path", ""))
    # The request's access record: what was asked, by whom, and how it ended. It rides on the metrics line
    # (one JSON line per request, not two) and is the context of any log line the request writes; one dict
    # handed over once costs less than appending keys to the logger and metadata to the metrics one by one.
    record: dict[str, Any] = {"request_id": request_id, "method": str(event.get("httpMethod")), "path": path}
    # The endpoint's secret values, once it is known: masked out of its invocation record (never kept in
    # `record`, which is logged as it is).
    secrets: list[str] = []
    try:
        response = _trigger(event, path, record, secrets)
    except Unavailable as exc:
        logger.warning("dependency unavailable", extra={**record, "detail": exc.message})
        response = responses.unavailable(exc.message)
    except PayloadTooLarge as exc:
        response = responses.error(413, exc.message, request_id)
    except Exception:
        # Our own bug, not the user's: log it, and still answer JSON rather than API Gateway's opaque 502.
        logger.exception("unexpected error in the router", extra=record)
        response = responses.error(500, "internal error", request_id)
    status = int(response["statusCode"])
    record["status"] = status
    history.record(record, response, started, secrets)
    metrics.add_metric(name="Invocations", unit=MetricUnit.Count, value=1)
    if status >= 500:
        metrics.add_metric(name="Errors", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Duration", unit=MetricUnit.Milliseconds, value=(time.perf_counter() - started) * 1000)
    metrics.add_metadata(key="request", value=record)
    return response


def _trigger(event: dict[str, Any], path: str, record: dict[str, Any], found: list[str]) -> dict[str, Any]:
    allowed = access.check(event, path)
    route = allowed.route
    if route is not None:
        record["endpoint_id"] = route.endpoint_id
        record["account"] = route.account
    if allowed.refusal is not None or route is None:
        refusal = allowed.refusal or responses.error(404, f"no endpoint at path {path!r}")
        # Why, on the request's one metrics line (no line of its own: anonymous traffic must not flood the log).
        record[REFUSED] = history.error_of(refusal)
        return refusal
    # Secret values are masked out of whatever is logged or answered of the handler's output and errors
    # (never kept in `record`, which is logged as it is).
    secrets = tuple(route.secrets.values())
    found.extend(secrets)
    if not route.enabled:
        return responses.unavailable(f"endpoint {route.endpoint_id!r} is disabled")
    try:
        script = script_cache.load(route.handler_script_path, route.handler_script_version)
    except ScriptMissing as exc:
        return _fault(f"FileNotFoundError: {exc.message}", record, secrets)
    if script.fault is not None:
        return _fault(script.fault, record, secrets)
    timeout = settings.endpoint_timeout()
    payload = {
        "script": script.source,
        "script_path": script.drive_path,
        "script_etag": script.version,  # a version id identifies the bytes as an ETag would
        "event": handler_event(event, BEARER if allowed.carries_token else route.auth),
        "timeout": timeout,
    }
    if route.secrets:
        payload["secrets"] = dict(route.secrets)
    # Encoded once: the size check and the Invoke share the bytes (for a big webhook body, a second
    # encoding would cost milliseconds).
    encoded = json.dumps(payload).encode()
    if len(encoded) > SANDBOX_PAYLOAD_LIMIT_BYTES:
        raise PayloadTooLarge(
            f"the request is too large: {len(encoded)} bytes once encoded; the limit is {SANDBOX_PAYLOAD_LIMIT_BYTES} "
            "(about 4.4 MB of binary body)"
        )
    # The account is the sandbox's tenant: its requests never share an execution environment with another's.
    outcome = sandbox_client.current().run(payload, encoded, route.account)
    response = _shape(outcome, timeout, record, secrets)
    # Set after _shape, whose log lines carry the output once each, not again under this key.
    record[history.OUTPUT] = history.output_of(outcome)
    return response


def handler_event(event: dict[str, Any], auth_mode: str) -> dict[str, Any]:
    """The event as the handler may see it: without the headers that authenticated the caller to us.

    Dropped here, before the sandbox payload exists, so the token is nowhere in what reaches the sandbox
    (not in the event a handler can find by walking frames or the garbage collector's objects).
    """
    dropped = CREDENTIAL_HEADERS.get(auth_mode, frozenset())
    if not dropped:
        return event
    event = dict(event)
    for key in ("headers", "multiValueHeaders"):
        headers = event.get(key)
        if isinstance(headers, dict):
            event[key] = {name: value for name, value in headers.items() if str(name).lower() not in dropped}
    return event


def _fault(message: str, record: dict[str, Any], secrets: tuple[str, ...]) -> dict[str, Any]:
    message = mask_secrets(message, secrets)
    logger.warning("handler fault", extra={**record, "error": message})
    return responses.error(500, message, record["request_id"])


def _shape(outcome: dict[str, Any], timeout: float, record: dict[str, Any], secrets: tuple[str, ...]) -> dict[str, Any]:
    request_id = record["request_id"]
    output = mask_secrets(str(outcome.get("logs") or ""), secrets)
    if output:
        logger.info("handler output", extra={**record, "output": output[-LOGGED_OUTPUT_LIMIT:]})
    kind = outcome.get("outcome")
    if kind == "response":
        try:
            return responses.from_handler(outcome.get("response") or {})
        except responses.RuleBroken as broken:  # logged and recorded as any other fault of the handler
            return _fault(str(broken), record, secrets)
    if kind == "timeout":
        metrics.add_metric(name="Timeouts", unit=MetricUnit.Count, value=1)
        message = f"the handler did not finish within {timeout:g} s"
        logger.warning("handler timeout", extra={**record, "error": message})  # the console's and CloudWatch's why
        return responses.error(504, message, request_id)
    if kind == "unsupported":
        returned = outcome.get("returned", "something else")
        return _fault(
            f"TypeError: the handler returned {returned}; it must return a str or a flask.Response "
            "of mimetype application/json or text/plain",
            record,
            secrets,
        )
    if kind in ("error", "crashed"):
        if outcome.get("traceback"):
            traceback = mask_secrets(str(outcome["traceback"]), secrets)[-LOGGED_OUTPUT_LIMIT:]
            logger.info("handler traceback", extra={**record, "traceback": traceback})
        return _fault(str(outcome.get("error") or "the handler failed"), record, secrets)
    return _fault(f"the sandbox answered an unknown outcome {kind!r}", record, secrets)
