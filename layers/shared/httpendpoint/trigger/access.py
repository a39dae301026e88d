"""Who may call a trigger: the endpoint's `auth` decides, from one strongly consistent read.

The trigger route has no API Gateway authorizer. The router reads the path item and, when the request
carries a well-formed bearer token, that token's record, in a single BatchGetItem; so a warm trigger is one
DynamoDB request, and a revoked token stops working on triggers at once.

    bearer   a token of the endpoint's account that may call it; else 401 (404 for another account's token)
    none     anyone; the handler decides
    hmac     anyone whose request carries the body's HMAC-SHA256 in the endpoint's header; else 401

Without a valid token, anything but an existing `none` or `hmac` endpoint is 401, whether the path exists or
not: an anonymous caller learns nothing about which paths are taken.

A `none` or `hmac` endpoint's handler gets the request as sent, with one exception: a token of this service
in `Authorization` (a client such as `httpep call` may send one to any endpoint) is a credential for every
route of its account, so it never reaches a handler, whoever's endpoint it is.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from httpendpoint import auth
from httpendpoint.core import settings
from httpendpoint.stores import endpoint_store, token_store
from httpendpoint.stores.endpoint_store import HmacSettings, RouteRecord
from httpendpoint.trigger import responses

UNAUTHORIZED = "Unauthorized: this endpoint needs a valid token (Authorization: Bearer <token>)"


@dataclass(frozen=True)
class Access:
    """The endpoint the request resolved to (None when the caller may not learn of one), and the answer to
    send instead of running its handler (None: run it)."""

    route: RouteRecord | None
    refusal: dict[str, Any] | None = None
    # Whether Authorization holds a token of this service (then it never reaches the handler).
    carries_token: bool = False


def check(event: dict[str, Any], path: str) -> Access:
    token = _bearer_token(event)
    token_hash = None if token is None else token_store.hash_token(token)
    beside = None if token_hash is None else (settings.tokens_table(), token_store.key(token_hash))
    lookup = endpoint_store.lookup_route(path, beside)
    caller = None if token_hash is None else token_store.active_record(token_hash, lookup.item)
    route = lookup.route
    ours = caller is not None or (token is not None and token.startswith(token_store.TOKEN_PREFIX))
    if route is not None and route.auth == endpoint_store.NONE:
        return Access(route, carries_token=ours)
    if route is not None and route.auth == endpoint_store.HMAC:
        if route.hmac is None or not signature_matches(route.hmac, route.secrets, event):
            refusal = responses.unauthorized(f"Unauthorized: missing or invalid signature in {_header(route)}")
            return Access(route, refusal)
        return Access(route, carries_token=ours)
    if caller is None:
        return Access(None, responses.unauthorized(UNAUTHORIZED))
    if route is None or route.account != caller.account:
        # Another account's endpoint is indistinguishable from none at all.
        return Access(None, responses.error(404, f"no endpoint at path {path!r}"))
    if not caller.may_call(route.endpoint_id):
        return Access(None, responses.unauthorized("Unauthorized: this token may not call this endpoint"))
    return Access(route, carries_token=True)


def _bearer_token(event: dict[str, Any]) -> str | None:
    values = header_values(event, "authorization")
    if len(values) != 1:
        return None
    try:
        return auth.bearer_token(values[0])
    except auth.Unauthorized:
        return None


def _header(route: RouteRecord) -> str:
    return route.hmac.header if route.hmac is not None else "the signature header"


def header_values(event: dict[str, Any], name: str) -> list[str]:
    """Every value of header `name` (any case) in an API Gateway v1 event."""
    lowered = name.lower()
    multi = event.get("multiValueHeaders")
    if isinstance(multi, dict):
        return [str(value) for key, values in multi.items() if str(key).lower() == lowered for value in values or ()]
    single = event.get("headers")
    if isinstance(single, dict):
        return [str(value) for key, value in single.items() if str(key).lower() == lowered and value is not None]
    return []


def raw_body(event: dict[str, Any]) -> bytes:
    """The request body's bytes as the sender sent them (API Gateway hands binary bodies over base64-encoded;
    the template makes every body binary, so this is what was signed)."""
    body = event.get("body")
    if not body:
        return b""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return str(body).encode()


def signature_matches(signing: HmacSettings, secrets: Mapping[str, str], event: dict[str, Any]) -> bool:
    """Whether the request carries, once, `prefix` + the body's HMAC-SHA256 under the named secret."""
    key = secrets.get(signing.secret)
    values = header_values(event, signing.header)
    if key is None or len(values) != 1:
        return False
    given = values[0].strip()
    if not given.startswith(signing.prefix):
        return False
    signature = decode_signature(given[len(signing.prefix) :], signing.encoding)
    if signature is None:
        return False
    expected = hmac.new(key.encode(), raw_body(event), hashlib.sha256).digest()
    return hmac.compare_digest(expected, signature)


def decode_signature(text: str, encoding: str) -> bytes | None:
    """The signature's bytes, or None when `text` is not one written in `encoding`."""
    try:
        if encoding == "base64":
            return base64.b64decode(text.encode("ascii"), validate=True)
        return bytes.fromhex(text)
    except (ValueError, binascii.Error, UnicodeEncodeError):
        return None
