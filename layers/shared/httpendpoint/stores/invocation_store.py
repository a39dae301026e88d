"""The invocations table (what each trigger of an endpoint did), and the only module that touches it.

    pk = <account>#<endpoint id>      sk = <time>#<request id>
    request_id, time, method, status, duration_ms, error (absent when null), output, expires_at

`time` is ISO 8601 UTC to the millisecond, in the format of an endpoint's `created_at`, so the two compare as
strings. `expires_at` (epoch seconds) is the table's TTL attribute: DynamoDB deletes an expired record within
days, so reads skip the expired ones themselves.

A re-created id starts empty: an endpoint's history is the records of its partition written at or after its
`created_at` (`sk > created_at`), so the records of a deleted endpoint of the same id are never read again and
expire with their TTL. The account in the key keeps one account's records out of another's reach even then.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from httpendpoint.core import settings
from httpendpoint.core.aws import client
from httpendpoint.core.errors import Unavailable

SECONDS_PER_DAY = 86_400


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs the router several µs per trigger
class Invocation:
    request_id: str
    time: str
    method: str
    status: int
    duration_ms: float
    error: str | None
    output: str


def put(account: str, endpoint_id: str, invocation: Invocation) -> None:
    """Write one record (one PutItem), kept `InvocationRetentionDays` from now."""
    item: dict[str, Any] = {
        "pk": {"S": _partition(account, endpoint_id)},
        "sk": {"S": f"{invocation.time}#{invocation.request_id}"},
        "request_id": {"S": invocation.request_id},
        "time": {"S": invocation.time},
        "method": {"S": invocation.method},
        "status": {"N": str(invocation.status)},
        "duration_ms": {"N": str(invocation.duration_ms)},
        "output": {"S": invocation.output},
        "expires_at": {"N": str(int(time.time()) + settings.invocation_retention_days() * SECONDS_PER_DAY)},
    }
    if invocation.error is not None:
        item["error"] = {"S": invocation.error}
    _call("put_item", TableName=settings.invocations_table(), Item=item)


def recent(account: str, endpoint_id: str, since: str, limit: int) -> list[Invocation]:
    """The newest `limit` records of the endpoint written after `since` (its `created_at`), newest first.

    Strongly consistent: a record is readable as soon as its PutItem returned. One Query, unless the records
    fill DynamoDB's 1 MB page first (each holds up to 4096 characters of output and as many of error, up to
    32 KB in UTF-8): then the next page, until `limit`.
    """
    arguments: dict[str, Any] = {
        "TableName": settings.invocations_table(),
        "KeyConditionExpression": "pk = :pk AND sk > :since",
        "ExpressionAttributeValues": {":pk": {"S": _partition(account, endpoint_id)}, ":since": {"S": since}},
        "ScanIndexForward": False,
        "ConsistentRead": True,
    }
    now = time.time()
    found: list[Invocation] = []
    while len(found) < limit:
        response = _call("query", **arguments, Limit=limit - len(found))
        items = response.get("Items", [])
        live = [_invocation(item) for item in items if float(item["expires_at"]["N"]) > now]
        found += live
        # Newest first: once one record has expired, every older one has too.
        if "LastEvaluatedKey" not in response or len(live) < len(items):
            break
        arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return found


def _partition(account: str, endpoint_id: str) -> str:
    return f"{account}#{endpoint_id}"


def _invocation(item: dict[str, Any]) -> Invocation:
    error = item.get("error")
    return Invocation(
        request_id=item["request_id"]["S"],
        time=item["time"]["S"],
        method=item["method"]["S"],
        status=int(item["status"]["N"]),
        duration_ms=float(item["duration_ms"]["N"]),
        error=None if error is None else str(error["S"]),
        output=item["output"]["S"],
    )


def _call(operation: str, **arguments: Any) -> dict[str, Any]:
    try:
        return dict(getattr(client("dynamodb"), operation)(**arguments))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise Unavailable(f"invocation store unavailable: {code}") from exc
    except BotoCoreError as exc:
        raise Unavailable(f"invocation store unavailable: {type(exc).__name__}") from exc
