"""The endpoints table, and the only module that touches it.

One table, three kinds of item (the router reads path items; keep this layout in step with it):

    pk = endpoint#<id>       id, account, path, handler_script_path, handler_script_version, script, enabled,
                             auth, hmac, secrets, revision, created_at, updated_at
    pk = path#<path>         endpoint_id, account, handler_script_path, handler_script_version, enabled,
                             auth, hmac, secrets
    pk = account#<account>   endpoint_count

Only endpoint items carry `id` and `script`, so only they appear in the `by-account` index (account, id) and
the `by-script` index (account, script): the endpoints of an account that run one file, found by one Query.
The path item repeats the endpoint's auth settings and secrets, so that one read serves a warm trigger; the
secrets live in this table alone (encrypted at rest) and leave it only towards the handler's own process.
Ids and paths are unique because every write claims them with `attribute_not_exists(pk)` inside one transaction, and the
per-account limit is a condition on the counter in that same transaction: no read-then-write anywhere.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from httpendpoint.core import settings
from httpendpoint.core.aws import client
from httpendpoint.core.errors import Conflict, NotFound, Unavailable

ENDPOINT_PREFIX = "endpoint#"
PATH_PREFIX = "path#"
ACCOUNT_PREFIX = "account#"
BY_ACCOUNT_INDEX = "by-account"
BY_SCRIPT_INDEX = "by-script"

CONDITION_FAILED = "ConditionalCheckFailed"
# A transaction that collides with another one on the same item is cancelled with this reason; it decided
# nothing, so it is retried (and then fails its condition, or commits if the other one did not).
TRANSACTION_CONFLICT = "TransactionConflict"
MAX_ATTEMPTS = 5
BACKOFF_SECONDS = 0.02
# Items read per Query call at most; the list route asks for no more than it can still use.
MAX_PAGE_ITEMS = 1000
# DynamoDB refuses a longer partition key with a ValidationException, on reads too: such a key names no item.
MAX_KEY_BYTES = 2048
# A BatchGetItem may leave keys unprocessed (throttling); they are asked for again, a few times.
MAX_BATCH_ROUNDS = 5

# An endpoint's trigger authentication (the management models publish the rules).
BEARER = "bearer"
NONE = "none"
HMAC = "hmac"


@dataclass(frozen=True)
class HmacSettings:
    """Where a signed request carries its signature and which of the endpoint's secrets signs it."""

    header: str
    secret: str
    encoding: str = "hex"
    prefix: str = ""


@dataclass(frozen=True)
class Endpoint:
    id: str
    account: str
    path: str
    handler_script_path: str
    enabled: bool
    created_at: str
    updated_at: str
    # The S3 version id the endpoint runs; None only for an item written before endpoints were pinned.
    handler_script_version: str | None = None
    auth: str = BEARER
    hmac: HmacSettings | None = None
    # Name -> value; kept out of repr so that no log line or traceback of an Endpoint shows a value.
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    # Counts the updates: the optimistic lock of an update (secrets change nothing else the lock could see).
    revision: int = 0


@dataclass(frozen=True)
class RouteRecord:
    """What the router needs to serve a path, from a single read of its path item."""

    endpoint_id: str
    account: str
    handler_script_path: str
    enabled: bool
    handler_script_version: str | None = None
    auth: str = BEARER
    hmac: HmacSettings | None = None
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class RouteLookup:
    """The path item's record (None: no endpoint there) and the item read beside it (None: not found)."""

    route: RouteRecord | None
    item: dict[str, Any] | None


@dataclass(frozen=True)
class ListPage:
    endpoints: list[Endpoint]
    has_more: bool


# ---------------------------------------------------------------------------------------------- reads


def get(endpoint_id: str, account: str) -> Endpoint | None:
    """The caller's endpoint, or None when it does not exist or belongs to another account."""
    if not _fits_key(ENDPOINT_PREFIX + endpoint_id):
        return None
    response = _call("get_item", TableName=_table(), Key=_key(ENDPOINT_PREFIX + endpoint_id), ConsistentRead=True)
    item = response.get("Item")
    if item is None or item["account"]["S"] != account:
        return None
    return _endpoint(item)


def get_route(path: str) -> RouteRecord | None:
    """The path item for `path` (one strongly consistent read), whatever account owns it."""
    return lookup_route(path).route


def lookup_route(path: str, beside: tuple[str, dict[str, Any]] | None = None) -> RouteLookup:
    """The path item for `path` and, in the same strongly consistent BatchGetItem, the item of another table
    at `beside` = (table, key): the router reads a path and its caller's token record in one request.

    The router passes the URL's path as it came; one too long to be a key is a miss, not a failed read.
    """
    wanted: dict[str, dict[str, Any]] = {}
    path_key = _key(PATH_PREFIX + path)
    if _fits_key(PATH_PREFIX + path):
        wanted[_table()] = {"Keys": [path_key], "ConsistentRead": True}
    if beside is not None:
        table, key = beside
        wanted.setdefault(table, {"Keys": [], "ConsistentRead": True})["Keys"].append(key)
    found: list[dict[str, Any]] = []
    for _ in range(MAX_BATCH_ROUNDS):
        if not wanted:
            break
        response = _call("batch_get_item", RequestItems=wanted)
        for items in response.get("Responses", {}).values():
            found += items
        wanted = response.get("UnprocessedKeys") or {}
    if wanted:
        raise Unavailable("endpoint store unavailable: the read stayed unprocessed (throttled)")
    route_item = next((item for item in found if item.get("pk") == path_key["pk"]), None)
    other = next((item for item in found if item is not route_item), None)
    return RouteLookup(None if route_item is None else _route(route_item), other)


def _route(item: dict[str, Any]) -> RouteRecord:
    return RouteRecord(
        endpoint_id=item["endpoint_id"]["S"],
        account=item["account"]["S"],
        handler_script_path=item["handler_script_path"]["S"],
        enabled=item["enabled"]["BOOL"],
        handler_script_version=_version_of(item),
        **_access_of(item),
    )


def running(account: str, drive_path: str) -> list[Endpoint]:
    """The account's endpoints whose handler is the file at `drive_path`: a key-conditioned Query of the
    by-script index, so it costs what it finds, not the size of the account.

    Like every GSI read it is eventually consistent: an endpoint created a moment ago may be missing for a
    fraction of a second on AWS.
    """
    arguments: dict[str, Any] = {
        "TableName": _table(),
        "IndexName": BY_SCRIPT_INDEX,
        "KeyConditionExpression": "#account = :account AND #script = :script",
        "ExpressionAttributeNames": {"#account": "account", "#script": "script"},
        "ExpressionAttributeValues": {":account": {"S": account}, ":script": {"S": script_key(drive_path)}},
    }
    found: list[Endpoint] = []
    while True:
        response = _call("query", **arguments)
        # The key is a digest: the path itself is compared, so a collision could never re-pin a stranger.
        found += [
            _endpoint(item) for item in response.get("Items", []) if item["handler_script_path"]["S"] == drive_path
        ]
        if "LastEvaluatedKey" not in response:
            return sorted(found, key=lambda endpoint: endpoint.id)
        arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def script_key(drive_path: str) -> str:
    """The by-script index's sort key: a drive path may take 4 KB in UTF-8, a sort key at most 1 KB."""
    return hashlib.sha256(drive_path.encode("utf-8", "surrogatepass")).hexdigest()


def list_endpoints(
    account: str,
    *,
    endpoint_id: str | None = None,
    path: str | None = None,
    handler_script_path: str | None = None,
    enabled: bool | None = None,
    offset: int = 0,
    limit: int = 100,
) -> ListPage:
    """The account's endpoints matching every given filter, ordered by id, `limit` of them from `offset`.

    Reads stop as soon as offset + limit + 1 matches are seen (the extra one says whether a next page
    exists), so a page costs what it skips and returns, not the size of the account.

    The by-account index is eventually consistent (a GSI cannot be read strongly consistently), so an
    endpoint written a moment ago may be missing from a list for a fraction of a second on AWS. Get, update
    and delete read the base table with ConsistentRead and never see stale data.
    """
    names = {"#account": "account"}
    values: dict[str, Any] = {":account": {"S": account}}
    key_condition = "#account = :account"
    if endpoint_id is not None:
        # The id is the index's sort key: a key condition reads at most one item instead of filtering.
        names["#id"] = "id"
        values[":id"] = {"S": endpoint_id}
        key_condition += " AND #id = :id"
    filters = []
    for attribute, value in (
        ("path", _string(path)),
        ("handler_script_path", _string(handler_script_path)),
        ("enabled", None if enabled is None else {"BOOL": enabled}),
    ):
        if value is not None:
            names[f"#{attribute}"] = attribute
            values[f":{attribute}"] = value
            filters.append(f"#{attribute} = :{attribute}")
    arguments: dict[str, Any] = {
        "TableName": _table(),
        "IndexName": BY_ACCOUNT_INDEX,
        "KeyConditionExpression": key_condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
    if filters:
        arguments["FilterExpression"] = " AND ".join(filters)

    wanted = offset + limit + 1
    seen = 0
    page: list[Endpoint] = []
    while seen < wanted:
        # Limit caps the items DynamoDB reads (before the filter), so never read more than can still be used.
        response = _call("query", **arguments, Limit=min(wanted - seen, MAX_PAGE_ITEMS))
        for item in response.get("Items", []):
            if offset <= seen < offset + limit:
                page.append(_endpoint(item))
            seen += 1
        if "LastEvaluatedKey" not in response:
            break
        arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return ListPage(endpoints=page, has_more=seen > offset + limit)


# ---------------------------------------------------------------------------------------------- writes


def create(
    endpoint_id: str,
    account: str,
    path: str,
    handler_script_path: str,
    max_endpoints: int,
    handler_script_version: str | None = None,
    *,
    auth: str = BEARER,
    hmac: HmacSettings | None = None,
    secrets: Mapping[str, str] | None = None,
) -> Endpoint:
    """Claim the id and the path and count the endpoint against the account's limit, all or nothing."""
    now = _now()
    endpoint = Endpoint(
        endpoint_id,
        account,
        path,
        handler_script_path,
        True,
        now,
        now,
        handler_script_version,
        auth=auth,
        hmac=hmac,
        secrets=dict(secrets or {}),
    )
    transaction = {
        "id": _put(_endpoint_item(endpoint), "attribute_not_exists(pk)"),
        "path": _put(_path_item(endpoint), "attribute_not_exists(pk)"),
        "limit": {
            "Update": {
                "TableName": _table(),
                "Key": _key(ACCOUNT_PREFIX + account),
                "UpdateExpression": "ADD endpoint_count :one",
                "ConditionExpression": "attribute_not_exists(endpoint_count) OR endpoint_count < :max",
                "ExpressionAttributeValues": {":one": {"N": "1"}, ":max": {"N": str(max_endpoints)}},
            }
        },
    }
    for _ in _attempts():
        failed = _transact(transaction)
        if failed is None:
            return endpoint
        # Several conditions can fail at once; the id is the one the caller named first.
        if "id" in failed:
            raise Conflict(f"endpoint id {endpoint_id!r} is already taken")
        if "path" in failed:
            raise Conflict(f"path {path!r} is already taken")
        if "limit" in failed:
            raise Conflict(f"account {account!r} already has the maximum of {max_endpoints} endpoints")
    raise _contention()


def update(
    endpoint_id: str,
    account: str,
    *,
    path: str | None = None,
    handler_script_path: str | None = None,
    handler_script_version: str | None = None,
    enabled: bool | None = None,
    auth: str | None = None,
    hmac: HmacSettings | None = None,
    secrets: Mapping[str, str | None] | None = None,
    check: Callable[[Endpoint], None] | None = None,
) -> Endpoint:
    """Change the caller's endpoint and its path item together; a new path is claimed and the old one freed
    in the same transaction, so the old path is free the moment this returns.

    `secrets` changes the named secrets (None removes one; names not given are kept). Leaving `hmac` auth
    drops the hmac settings. `check` sees the endpoint as it would be written and may refuse it (by raising)
    before anything is written.

    The write is conditional on the endpoint still being what was read (optimistic locking on the fields
    the path item copies, and on the revision); if a concurrent write got there first, it is re-read and
    tried again.
    """
    for _ in _attempts():
        current = _require(endpoint_id, account)
        new_auth = current.auth if auth is None else auth
        merged = dict(current.secrets)
        for name, value in (secrets or {}).items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        changed = replace(
            current,
            path=current.path if path is None else path,
            handler_script_path=current.handler_script_path if handler_script_path is None else handler_script_path,
            handler_script_version=(
                current.handler_script_version if handler_script_version is None else handler_script_version
            ),
            enabled=current.enabled if enabled is None else enabled,
            auth=new_auth,
            hmac=hmac if hmac is not None else (current.hmac if new_auth == HMAC else None),
            secrets=merged,
            revision=current.revision + 1,
            updated_at=_now(),
        )
        if check is not None:
            check(changed)
        transaction = {"endpoint": _put(_endpoint_item(changed), *_unchanged(current))}
        if changed.path != current.path:
            transaction["old_path"] = _delete(PATH_PREFIX + current.path, *_claimed_by(endpoint_id))
            transaction["new_path"] = _put(_path_item(changed), "attribute_not_exists(pk)")
        else:
            # The router reads only the path item, so it changes with the endpoint item or not at all.
            transaction["path"] = _put(_path_item(changed), *_claimed_by(endpoint_id))
        failed = _transact(transaction)
        if failed is None:
            return changed
        if failed and failed <= {"new_path"}:
            raise Conflict(f"path {changed.path!r} is already taken")
        # Otherwise the endpoint changed or vanished meanwhile, or the transaction collided: read again.
    raise _contention()


def delete(endpoint_id: str, account: str) -> Endpoint:
    """Remove the caller's endpoint and free its path and its place in the account's count, together."""
    for _ in _attempts():
        current = _require(endpoint_id, account)
        transaction = {
            "endpoint": _delete(ENDPOINT_PREFIX + endpoint_id, *_unchanged(current)),
            "path": _delete(PATH_PREFIX + current.path, *_claimed_by(endpoint_id)),
            "count": {
                "Update": {
                    "TableName": _table(),
                    "Key": _key(ACCOUNT_PREFIX + account),
                    "UpdateExpression": "ADD endpoint_count :minus_one",
                    "ExpressionAttributeValues": {":minus_one": {"N": "-1"}},
                }
            },
        }
        failed = _transact(transaction)
        if failed is None:
            return current
        # Anything else changed the endpoint meanwhile: read again (a concurrent delete makes it a 404).
    raise _contention()


def repin(endpoint: Endpoint, version: str) -> str | None:
    """Pin `endpoint` (as read from the by-script index) to `version` of the file it runs.

    One transaction over the endpoint item and its path item, conditioned on both still running the file at
    the version that was read: a concurrent update (a rollback, another save, a new path) wins, and this
    endpoint is left as that update made it. Returns None once pinned, else why it was not.
    """
    now = _now()
    names = {"#handler": "handler_script_path", "#version": "handler_script_version"}
    values: dict[str, Any] = {
        ":handler": {"S": endpoint.handler_script_path},
        ":new": {"S": version},
        ":now": {"S": now},
        ":endpoint_id": {"S": endpoint.id},
    }
    same_version = _still("#version", ":old", _string(endpoint.handler_script_version), values)
    condition = f"#handler = :handler AND {same_version}"

    def update(pk: str, set_clause: str, extra_condition: str, extra_names: dict[str, str]) -> dict[str, Any]:
        used = {name: value for name, value in values.items() if name in f"{set_clause} {condition}{extra_condition}"}
        return {
            "Update": {
                "TableName": _table(),
                "Key": _key(pk),
                "UpdateExpression": set_clause,
                "ConditionExpression": condition + extra_condition,
                "ExpressionAttributeNames": {**names, **extra_names},
                "ExpressionAttributeValues": used,
            }
        }

    transaction = {
        "endpoint": update(
            ENDPOINT_PREFIX + endpoint.id, "SET #version = :new, #updated = :now", "", {"#updated": "updated_at"}
        ),
        "path": update(
            PATH_PREFIX + endpoint.path,
            "SET #version = :new",
            " AND #endpoint_id = :endpoint_id",
            {"#endpoint_id": "endpoint_id"},
        ),
    }
    for _ in _attempts():
        failed = _transact(transaction)
        if failed is None:
            return None
        if failed:
            return "the endpoint was changed by a concurrent request, which wins: it keeps what that request set"
        # A collision with another transaction decided nothing: try again.
    return "the endpoint is being changed by concurrent requests; it keeps its version"


# ---------------------------------------------------------------------------------------------- helpers


def _fits_key(pk: str) -> bool:
    try:
        return len(pk.encode()) <= MAX_KEY_BYTES
    except UnicodeEncodeError:  # a lone surrogate cannot even be sent
        return False


def _require(endpoint_id: str, account: str) -> Endpoint:
    endpoint = get(endpoint_id, account)
    if endpoint is None:
        raise NotFound(f"no endpoint with id {endpoint_id!r}")
    return endpoint


def _unchanged(current: Endpoint) -> tuple[str, dict[str, str], dict[str, Any]]:
    """A condition that the endpoint item still holds what was read (same owner, path, script, version, state).

    The version is part of it so that an update never writes back a version a save re-pinned meanwhile, and
    the revision so that two updates of other settings (secrets, auth) never lose one another's change.
    """
    values: dict[str, Any] = {
        ":account": {"S": current.account},
        ":path": {"S": current.path},
        ":handler": {"S": current.handler_script_path},
        ":enabled": {"BOOL": current.enabled},
    }
    same_version = _still("#version", ":version", _string(current.handler_script_version), values)
    revision = None if current.revision == 0 else {"N": str(current.revision)}
    same_revision = _still("#revision", ":revision", revision, values)
    return (
        f"#account = :account AND #path = :path AND #handler = :handler AND #enabled = :enabled AND {same_version}"
        f" AND {same_revision}",
        {
            "#account": "account",
            "#path": "path",
            "#handler": "handler_script_path",
            "#enabled": "enabled",
            "#version": "handler_script_version",
            "#revision": "revision",
        },
        values,
    )


def _claimed_by(endpoint_id: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """A condition that a path item is (still) this endpoint's claim."""
    return "#endpoint_id = :endpoint_id", {"#endpoint_id": "endpoint_id"}, {":endpoint_id": {"S": endpoint_id}}


def _put(
    item: dict[str, Any], condition: str, names: dict[str, str] | None = None, values: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"Put": _conditional({"TableName": _table(), "Item": item}, condition, names, values)}


def _delete(
    pk: str, condition: str, names: dict[str, str] | None = None, values: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"Delete": _conditional({"TableName": _table(), "Key": _key(pk)}, condition, names, values)}


def _conditional(
    operation: dict[str, Any], condition: str, names: dict[str, str] | None, values: dict[str, Any] | None
) -> dict[str, Any]:
    operation["ConditionExpression"] = condition
    if names:
        operation["ExpressionAttributeNames"] = names
    if values:
        operation["ExpressionAttributeValues"] = values
    return operation


def _transact(transaction: dict[str, dict[str, Any]]) -> set[str] | None:
    """Run the transaction; None when it committed, else the names of its items whose condition failed.

    An empty set means it was cancelled for another reason (a conflict with a concurrent transaction) and
    may simply be tried again.
    """
    names = list(transaction)
    try:
        client("dynamodb").transact_write_items(TransactItems=[transaction[name] for name in names])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
            raise _unavailable(exc) from exc
        reasons = [str(reason.get("Code", "None")) for reason in exc.response.get("CancellationReasons", [])]
        failed = {name for name, code in zip(names, reasons, strict=False) if code == CONDITION_FAILED}
        if not failed and any(code not in ("None", TRANSACTION_CONFLICT) for code in reasons):
            # Throttling, validation or capacity errors: not something a retry here would fix.
            raise Unavailable(f"endpoint store unavailable: transaction cancelled ({', '.join(reasons)})") from exc
        return failed
    except BotoCoreError as exc:
        raise Unavailable(f"endpoint store unavailable: {type(exc).__name__}") from exc
    return None


def _attempts() -> Iterator[int]:
    for attempt in range(MAX_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, BACKOFF_SECONDS * 2**attempt))
        yield attempt


def _contention() -> Unavailable:
    return Unavailable("the endpoint is being changed by concurrent requests; try again")


def _call(operation: str, **arguments: Any) -> dict[str, Any]:
    try:
        return dict(getattr(client("dynamodb"), operation)(**arguments))
    except ClientError as exc:
        raise _unavailable(exc) from exc
    except BotoCoreError as exc:
        raise Unavailable(f"endpoint store unavailable: {type(exc).__name__}") from exc


def _still(name: str, placeholder: str, value: Mapping[str, str] | None, values: dict[str, Any]) -> str:
    """The condition that attribute `name` still holds `value` (is still absent, for None); the value goes into
    `values` under `placeholder`."""
    if value is None:
        return f"attribute_not_exists({name})"
    values[placeholder] = value
    return f"{name} = {placeholder}"


def _unavailable(exc: ClientError) -> Unavailable:
    return Unavailable(f"endpoint store unavailable: {exc.response.get('Error', {}).get('Code', 'error')}")


def _table() -> str:
    return settings.endpoints_table()


def _key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}}


def _string(value: str | None) -> dict[str, str] | None:
    return None if value is None else {"S": value}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _endpoint_item(endpoint: Endpoint) -> dict[str, Any]:
    return {
        **_key(ENDPOINT_PREFIX + endpoint.id),
        "id": {"S": endpoint.id},
        "account": {"S": endpoint.account},
        "path": {"S": endpoint.path},
        "handler_script_path": {"S": endpoint.handler_script_path},
        "script": {"S": script_key(endpoint.handler_script_path)},
        "enabled": {"BOOL": endpoint.enabled},
        "created_at": {"S": endpoint.created_at},
        "updated_at": {"S": endpoint.updated_at},
        **_version_attribute(endpoint),
        **_access_attributes(endpoint),
        **({"revision": {"N": str(endpoint.revision)}} if endpoint.revision else {}),
    }


def _path_item(endpoint: Endpoint) -> dict[str, Any]:
    # No `id` and no `script` attribute: path items must stay out of the by-account and by-script indexes.
    return {
        **_key(PATH_PREFIX + endpoint.path),
        "endpoint_id": {"S": endpoint.id},
        "account": {"S": endpoint.account},
        "handler_script_path": {"S": endpoint.handler_script_path},
        "enabled": {"BOOL": endpoint.enabled},
        **_version_attribute(endpoint),
        **_access_attributes(endpoint),
    }


def _access_attributes(endpoint: Endpoint) -> dict[str, Any]:
    """auth, hmac and secrets as item attributes; an item without them is a bearer endpoint with no secrets."""
    attributes: dict[str, Any] = {"auth": {"S": endpoint.auth}}
    if endpoint.hmac is not None:
        signed = endpoint.hmac
        attributes["hmac"] = {
            "M": {
                "header": {"S": signed.header},
                "secret": {"S": signed.secret},
                "encoding": {"S": signed.encoding},
                "prefix": {"S": signed.prefix},
            }
        }
    if endpoint.secrets:
        attributes["secrets"] = {"M": {name: {"S": value} for name, value in endpoint.secrets.items()}}
    return attributes


def _access_of(item: dict[str, Any]) -> dict[str, Any]:
    hmac_item = item.get("hmac", {}).get("M")
    hmac = (
        None
        if hmac_item is None
        else HmacSettings(
            header=hmac_item["header"]["S"],
            secret=hmac_item["secret"]["S"],
            encoding=hmac_item["encoding"]["S"],
            prefix=hmac_item["prefix"]["S"],
        )
    )
    secrets = {name: value["S"] for name, value in item.get("secrets", {}).get("M", {}).items()}
    return {"auth": item.get("auth", {}).get("S", BEARER), "hmac": hmac, "secrets": secrets}


def _version_attribute(endpoint: Endpoint) -> dict[str, Any]:
    version = endpoint.handler_script_version
    return {} if version is None else {"handler_script_version": {"S": version}}


def _version_of(item: dict[str, Any]) -> str | None:
    value = item.get("handler_script_version")
    return None if value is None else str(value["S"])


def _endpoint(item: dict[str, Any]) -> Endpoint:
    return Endpoint(
        id=item["id"]["S"],
        account=item["account"]["S"],
        path=item["path"]["S"],
        handler_script_path=item["handler_script_path"]["S"],
        enabled=item["enabled"]["BOOL"],
        created_at=item["created_at"]["S"],
        updated_at=item["updated_at"]["S"],
        handler_script_version=_version_of(item),
        revision=int(item.get("revision", {}).get("N", "0")),
        **_access_of(item),
    )
