"""The tokens table: SHA-256 hashes of bearer tokens and the account each belongs to.

Plain tokens exist only in the operator's terminal and in callers' headers; this module stores and looks up
hashes alone.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from httpendpoint.core import settings
from httpendpoint.core.aws import client
from httpendpoint.core.errors import BadRequest, NotFound, Unavailable

ACCOUNT_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
# The prefix lets secret scanners and people recognise a leaked token; the entropy is all in the 32 bytes.
TOKEN_PREFIX = "hep_"
TOKEN_BYTES = 32
MAX_LABEL_CHARS = 256
# `manage`: every route of the account. `call`: only the trigger route, of `endpoints` when any are named.
MANAGE = "manage"
CALL = "call"
SCOPES = (MANAGE, CALL)
MAX_SCOPED_ENDPOINTS = 100


@dataclass(frozen=True)
class TokenRecord:
    token_hash: str
    account: str
    label: str
    created_at: str
    revoked_at: str | None = None
    scope: str = MANAGE
    endpoints: tuple[str, ...] = ()  # for a `call` token: the endpoint ids it may trigger; () = all of them

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def manages(self) -> bool:
        return self.scope == MANAGE

    def may_call(self, endpoint_id: str) -> bool:
        """Whether this token may trigger the account's endpoint `endpoint_id` (the account checked apart)."""
        return self.manages or not self.endpoints or endpoint_id in self.endpoints


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def validate_account(account: str) -> str:
    if not ACCOUNT_PATTERN.fullmatch(account):
        raise BadRequest(f"account {account!r} must match [a-z0-9][a-z0-9_-]{{0,62}}")
    return account


def validate_label(label: str) -> str:
    if len(label) > MAX_LABEL_CHARS or not label.isprintable():
        raise BadRequest(f"label must be at most {MAX_LABEL_CHARS} printable characters")
    return label


def validate_scope(scope: str, endpoints: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    if scope not in SCOPES:
        raise BadRequest(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    if endpoints and scope != CALL:
        raise BadRequest("endpoint ids limit a 'call' token only")
    if len(endpoints) > MAX_SCOPED_ENDPOINTS:
        raise BadRequest(f"a token names at most {MAX_SCOPED_ENDPOINTS} endpoints")
    return scope, tuple(sorted(set(endpoints)))


def _unavailable(exc: ClientError) -> Unavailable:
    error = exc.response.get("Error", {})
    code, message = error.get("Code", "error"), error.get("Message")
    return Unavailable(f"token store unavailable: {code}: {message}" if message else f"token store unavailable: {code}")


def key(token_hash: str) -> dict[str, Any]:
    """The table key of the record of the token with this hash (for a caller that batches the read with
    another table's; it hashes the token once, for the key and the check alike)."""
    return {"token_hash": {"S": token_hash}}


def _record(item: dict[str, Any]) -> TokenRecord:
    return TokenRecord(
        token_hash=item["token_hash"]["S"],
        account=item["account"]["S"],
        label=item.get("label", {}).get("S", ""),
        created_at=item["created_at"]["S"],
        revoked_at=item.get("revoked_at", {}).get("S"),
        scope=item.get("scope", {}).get("S", MANAGE),
        endpoints=tuple(value["S"] for value in item.get("endpoints", {}).get("L", [])),
    )


def active_record(token_hash: str, item: dict[str, Any] | None) -> TokenRecord | None:
    """The record in `item` (read by `key(token_hash)`) if it is that token's and not revoked, else None."""
    if item is None:
        return None
    record = _record(item)
    # The key lookup already matched; the constant-time compare keeps the check independent of timing.
    if not hmac.compare_digest(record.token_hash, token_hash) or not record.active:
        return None
    return record


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _table(table: str | None) -> str:
    return table or settings.tokens_table()


def create_token(
    account: str,
    label: str = "",
    table: str | None = None,
    dynamodb: Any = None,
    scope: str = MANAGE,
    endpoints: tuple[str, ...] = (),
) -> str:
    """Mint a token for `account`, store its hash, and return the token (the only time it is seen)."""
    validate_account(account)
    validate_label(label)
    scope, endpoints = validate_scope(scope, endpoints)
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    item: dict[str, Any] = {
        "token_hash": {"S": hash_token(token)},
        "account": {"S": account},
        "label": {"S": label},
        "created_at": {"S": _now()},
        "scope": {"S": scope},
    }
    if endpoints:
        item["endpoints"] = {"L": [{"S": endpoint} for endpoint in endpoints]}
    try:
        # The condition only guards against the (astronomically unlikely) reuse of a hash.
        (dynamodb or client("dynamodb")).put_item(
            TableName=_table(table), Item=item, ConditionExpression="attribute_not_exists(token_hash)"
        )
    except ClientError as exc:
        raise _unavailable(exc) from exc
    return token


def find_active(token: str, table: str | None = None, dynamodb: Any = None) -> TokenRecord | None:
    """The active record of `token`, or None for an unknown or revoked one (one GetItem)."""
    token_hash = hash_token(token)
    try:
        response = (dynamodb or client("dynamodb")).get_item(
            TableName=_table(table), Key=key(token_hash), ConsistentRead=True
        )
    except ClientError as exc:
        raise _unavailable(exc) from exc
    return active_record(token_hash, response.get("Item"))


def revoke_token(token: str, table: str | None = None, dynamodb: Any = None) -> TokenRecord:
    """Mark a token revoked (the record stays, for the audit trail)."""
    try:
        return revoke_hash(hash_token(token), table, dynamodb)
    except NotFound:
        raise NotFound("no such token: it was never issued by this stack") from None


def revoke_hash(token_hash: str, table: str | None = None, dynamodb: Any = None) -> TokenRecord:
    """Mark the token of this full hash revoked (what `revoke_token` does, for an operator who lost the token)."""
    try:
        response = (dynamodb or client("dynamodb")).update_item(
            TableName=_table(table),
            Key={"token_hash": {"S": token_hash}},
            UpdateExpression="SET revoked_at = if_not_exists(revoked_at, :now)",
            ConditionExpression="attribute_exists(token_hash)",
            ExpressionAttributeValues={":now": {"S": _now()}},
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise NotFound(f"no token has the hash {token_hash}") from exc
        raise _unavailable(exc) from exc
    return _record(response["Attributes"])


def find_by_hash_prefix(prefix: str, table: str | None = None, dynamodb: Any = None) -> list[TokenRecord]:
    """Every record whose hash starts with `prefix` (as `httpep token list` shows them); a scan, for operators."""
    paginator = (dynamodb or client("dynamodb")).get_paginator("scan")
    pages = paginator.paginate(
        TableName=_table(table),
        FilterExpression="begins_with(token_hash, :p)",
        ExpressionAttributeValues={":p": {"S": prefix}},
    )
    try:
        return [_record(item) for page in pages for item in page.get("Items", [])]
    except ClientError as exc:
        raise _unavailable(exc) from exc


def list_tokens(account: str, table: str | None = None, dynamodb: Any = None) -> list[TokenRecord]:
    """Every token record of an account, oldest first (hashes, labels and dates; never tokens)."""
    validate_account(account)
    paginator = (dynamodb or client("dynamodb")).get_paginator("query")
    pages = paginator.paginate(
        TableName=_table(table),
        IndexName="by-account",
        KeyConditionExpression="account = :a",
        ExpressionAttributeValues={":a": {"S": account}},
    )
    try:
        return [_record(item) for page in pages for item in page.get("Items", [])]
    except ClientError as exc:
        raise _unavailable(exc) from exc
