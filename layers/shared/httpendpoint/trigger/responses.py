"""API Gateway proxy responses of the trigger route, and the contract's rules for what a handler may return.

Only `application/json` and `text/plain` bodies are ever served from the service's origin (an empty body is
served as text/plain whatever its declared type), so no handler can serve HTML or script to a browser.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from httpendpoint.core.limits import RESPONSE_LIMIT_BYTES, RETRY_AFTER_HEADER, RETRY_AFTER_SECONDS

ALLOWED_MIMETYPES = frozenset({"application/json", "text/plain"})
TEXT_PLAIN = "text/plain; charset=utf-8"

Headers = dict[str, list[str]]


def json_response(status: int, body: dict[str, Any], headers: Headers | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "multiValueHeaders": {"Content-Type": ["application/json"], **(headers or {})},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def error(status: int, message: str, request_id: str | None = None, headers: Headers | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": message}
    if request_id is not None:
        body["request_id"] = request_id
    return json_response(status, body, headers)


def unavailable(message: str) -> dict[str, Any]:
    """A 503 (a dependency failed, or the endpoint is disabled), with when to retry."""
    return error(503, message, headers={RETRY_AFTER_HEADER: [RETRY_AFTER_SECONDS]})


def _header(headers: Headers, name: str) -> str | None:
    for key, values in headers.items():
        if key.lower() == name.lower() and values:
            return values[0]
    return None


def _without(headers: Headers, name: str) -> Headers:
    return {key: values for key, values in headers.items() if key.lower() != name.lower()}


def mimetype_of(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def from_handler(response: dict[str, Any], request_id: str) -> dict[str, Any]:
    """Apply the contract's rules to the response a handler built; anything not allowed becomes a 500."""
    headers: Headers = {str(k): [str(v) for v in vs] for k, vs in (response.get("multiValueHeaders") or {}).items()}
    raw_body = response.get("body") or ""
    is_base64 = bool(response.get("isBase64Encoded"))
    body = base64.b64decode(raw_body) if is_base64 else str(raw_body).encode()
    if len(body) > RESPONSE_LIMIT_BYTES:
        return error(
            500,
            f"ResponseTooLarge: the handler's response is {len(body)} bytes; the limit is {RESPONSE_LIMIT_BYTES}",
            request_id,
        )
    mimetype = mimetype_of(_header(headers, "Content-Type"))
    if mimetype not in ALLOWED_MIMETYPES:
        if body:
            return error(
                500,
                f"the handler returned a Response of mimetype {mimetype or 'none'!r}; only application/json and "
                "text/plain (or an empty body) may be served",
                request_id,
            )
        headers = {**_without(headers, "Content-Type"), "Content-Type": [TEXT_PLAIN]}
    if _header(headers, "X-Content-Type-Options") is None:
        # Browsers must not second-guess the declared type into something executable.
        headers["X-Content-Type-Options"] = ["nosniff"]
    return {
        "statusCode": int(response.get("statusCode", 200)),
        "multiValueHeaders": headers,
        "body": raw_body,
        "isBase64Encoded": is_base64,
    }
