"""API Gateway proxy responses of the trigger route, and the one place the rules for a handler's response live.

`from_handler` is applied by the router to whatever the sandbox sent back. That answer may be forged (a
handler can write its own result on the child's pipe), so every field is treated as hostile: the response is
rebuilt from what passes the rules, never passed on as it came. The rules:

- the status is an integer in 200-599;
- at most `MAX_HEADERS` header values and `MAX_HEADER_BYTES` bytes of headers (names, values, separators);
- exactly one Content-Type, parsed and rebuilt: `application/json` or `text/plain` (with a charset, utf-8
  unless a valid one is given); an empty body with no or another type is served as text/plain;
- `X-Content-Type-Options: nosniff` and `Content-Security-Policy: sandbox; default-src 'none'`, always;
- no `Set-Cookie`, no hop-by-hop headers, no Content-Length (the server computes it from the body);
- the body fits Lambda's synchronous response.

A response breaking a rule becomes a 500 naming the rule, so no handler can serve HTML or script to a
browser from the service's origin.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import json
import re
from typing import Any

from werkzeug.datastructures import Headers as HeaderBag
from werkzeug.http import parse_list_header, parse_options_header

from httpendpoint.core.limits import RESPONSE_LIMIT_BYTES, RETRY_AFTER_HEADER, RETRY_AFTER_SECONDS

ALLOWED_MIMETYPES = frozenset({"application/json", "text/plain"})
TEXT_PLAIN = "text/plain; charset=utf-8"
MAX_HEADERS = 100
MAX_HEADER_BYTES = 16 * 1024
NOSNIFF = "nosniff"
CONTENT_SECURITY_POLICY = "sandbox; default-src 'none'"
# Set by us on every response, whatever the handler said.
FORCED_HEADERS = {"x-content-type-options": NOSNIFF, "content-security-policy": CONTENT_SECURITY_POLICY}
# Hop-by-hop headers (RFC 9110 7.6.1) describe one connection, not the response; Content-Length is the
# server's to compute; Set-Cookie would let a handler plant cookies on the service's origin.
DROPPED_HEADERS = frozenset(
    {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "content-length", "set-cookie"}
)
DROPPED_PREFIXES = ("proxy-",)
# RFC 9110 token: what a header name may be made of.
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
CHARSET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,39}")

Headers = dict[str, list[str]]


class RuleBroken(Exception):
    """The handler's response breaks one of the rules; the message names it."""


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


def unauthorized(message: str) -> dict[str, Any]:
    """A 401 of the router's own, in the shape of API Gateway's 401 on every other route (`message`) with what
    is wrong (`error`): a client tells a refusal from a handler's answer the same way on every route."""
    return json_response(401, {"error": message, "message": "Unauthorized"})


def unavailable(message: str) -> dict[str, Any]:
    """A 503 (a dependency failed, or the endpoint is disabled), with when to retry."""
    return error(503, message, headers={RETRY_AFTER_HEADER: [RETRY_AFTER_SECONDS]})


def from_handler(response: object) -> dict[str, Any]:
    """The response a handler built, rebuilt by the rules; RuleBroken (naming the rule) for one that breaks one:
    the router answers it as any handler fault."""
    if not isinstance(response, dict):
        raise RuleBroken("the handler's response is not a response")
    status = _status(response.get("statusCode", 200))
    raw_body, is_base64, body = _body(response)
    headers = _headers(response)
    content_type = _content_type(headers.getlist("Content-Type"), bool(body))
    served: Headers = {}
    names: dict[str, str] = {}  # first spelling of each name, so case variants become one header
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in DROPPED_HEADERS or lowered.startswith(DROPPED_PREFIXES):
            continue
        if lowered in FORCED_HEADERS or lowered == "content-type":
            continue
        served.setdefault(names.setdefault(lowered, name), []).append(value)
    served["Content-Type"] = [content_type]
    served["X-Content-Type-Options"] = [NOSNIFF]
    served["Content-Security-Policy"] = [CONTENT_SECURITY_POLICY]
    return {"statusCode": status, "multiValueHeaders": served, "body": raw_body, "isBase64Encoded": is_base64}


def _status(status: object) -> int:
    if type(status) is not int or not 200 <= status <= 599:
        raise RuleBroken(f"the handler's response has status {str(status)[:20]!r}; it must be 200-599")
    return status


def _body(response: dict[str, Any]) -> tuple[str, bool, bytes]:
    raw_body = response.get("body")
    raw_body = "" if raw_body is None else raw_body
    is_base64 = response.get("isBase64Encoded", False)
    if not isinstance(raw_body, str) or not isinstance(is_base64, bool):
        raise RuleBroken("the handler's response has a malformed body")
    if len(raw_body) > 2 * RESPONSE_LIMIT_BYTES:  # bounds the decoding below
        raise RuleBroken(_too_large(len(raw_body)))
    try:
        body = base64.b64decode(raw_body, validate=True) if is_base64 else raw_body.encode()
    except (binascii.Error, UnicodeEncodeError):
        raise RuleBroken("the handler's response has a malformed body") from None
    if len(body) > RESPONSE_LIMIT_BYTES:
        raise RuleBroken(_too_large(len(body)))
    return raw_body, is_base64, body


def _too_large(size: int) -> str:
    return f"ResponseTooLarge: the handler's response is {size} bytes; the limit is {RESPONSE_LIMIT_BYTES}"


def _headers(response: dict[str, Any]) -> HeaderBag:
    """Every header of `headers` and `multiValueHeaders` (API Gateway serves both), within the limits."""
    pairs: list[tuple[object, object]] = []
    for key, many in (("headers", False), ("multiValueHeaders", True)):
        given = response.get(key)
        if given is None:
            continue
        if not isinstance(given, dict):
            raise RuleBroken(f"the handler's response has malformed {key}")
        for name, values in given.items():
            if many and not isinstance(values, list):
                raise RuleBroken(f"the handler's response has malformed {key}")
            pairs.extend((name, value) for value in (values if many else [values]))
            # Checked while counting, so 20,000 headers cost no more than 101.
            if len(pairs) > MAX_HEADERS:
                raise RuleBroken(f"TooManyHeaders: the handler's response has more than {MAX_HEADERS} headers")
    bag = HeaderBag()
    size = 0
    for name, value in pairs:
        if not isinstance(name, str) or not isinstance(value, str) or not HEADER_NAME.fullmatch(name):
            raise RuleBroken(f"the handler's response has a malformed header {str(name)[:60]!r}")
        size += len(name.encode()) + len(value.encode()) + 4  # "name: value\r\n"
        if size > MAX_HEADER_BYTES:
            raise RuleBroken(f"HeadersTooLarge: the handler's headers exceed {MAX_HEADER_BYTES} bytes")
        try:
            bag.add(name, value)
        except ValueError:  # a CR, LF or NUL in the value: a second header smuggled into the first
            raise RuleBroken(f"the handler's response has a malformed header {name[:60]!r}") from None
    return bag


def _content_type(values: list[str], has_body: bool) -> str:
    """The one Content-Type, rebuilt from its parsed parts (nothing of the handler's text is served as is)."""
    if len(values) > 1:
        raise RuleBroken(f"the handler's response has {len(values)} Content-Type headers; exactly one is allowed")
    value = values[0] if values else ""
    if len(parse_list_header(value)) > 1:
        raise RuleBroken(f"the handler's Content-Type {value[:80]!r} lists several types; exactly one is allowed")
    mimetype, options = parse_options_header(value)
    mimetype = mimetype.strip().lower()
    if mimetype not in ALLOWED_MIMETYPES:
        if not has_body:
            return TEXT_PLAIN
        raise RuleBroken(
            f"the handler returned a Response of mimetype {mimetype or 'none'!r}; only application/json and "
            "text/plain (or an empty body) may be served"
        )
    charset = options.get("charset")
    if charset is None:
        # JSON is UTF-8 by definition (RFC 8259): application/json needs no charset.
        return TEXT_PLAIN if mimetype == "text/plain" else mimetype
    if not CHARSET.fullmatch(charset) or not _known_charset(charset):
        raise RuleBroken(f"the handler's Content-Type has an unknown charset {charset[:40]!r}")
    return f"{mimetype}; charset={charset.lower()}"


def _known_charset(charset: str) -> bool:
    try:
        codecs.lookup(charset)
    except LookupError:
        return False
    return True
