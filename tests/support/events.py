"""API Gateway events for tests, built from the sample events in events/ (one shape, written once)."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any
from urllib.parse import quote

from tests.support.functions import FakeContext, load_function
from tests.support.repo import EVENTS_DIR

# A manage token per account, minted on first use (the `aws` fixture forgets them with its fresh tables).
TOKENS: dict[str, str] = {}


def token_of(account: str) -> str:
    """A manage token of `account` on the current (moto) tokens table."""
    from httpendpoint.stores import token_store

    if account not in TOKENS:
        TOKENS[account] = token_store.create_token(account)
    return TOKENS[account]


def load_event(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS_DIR / f"{name}.json").read_text()))


def api_event(
    name: str,
    *,
    method: str | None = None,
    path_parameters: dict[str, str] | None = None,
    body: bytes | str | dict[str, Any] | None = None,
    query: dict[str, list[str]] | None = None,
    headers: dict[str, list[str]] | None = None,
    account: str = "jaydoe",
) -> dict[str, Any]:
    """events/<name>.json with the given method, path parameters, body, query and (where the route has the
    authorizer) caller account."""
    event = copy.deepcopy(load_event(name))
    if method is not None:
        event["httpMethod"] = method
        event["requestContext"]["httpMethod"] = method
    if path_parameters is not None:
        event["pathParameters"] = path_parameters
        path = event["resource"]
        for key, value in path_parameters.items():
            path = path.replace("{" + key + "}", quote(value, safe=""))
            # A greedy `{key+}` spans segments; API Gateway gives the path percent-decoded, as the parameter.
            path = path.replace("{" + key + "+}", value)
        event["path"] = path
        event["requestContext"]["path"] = "/Prod" + path
    if body is not None:
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        raw = raw.encode() if isinstance(raw, str) else raw
        event["body"] = base64.b64encode(raw).decode()
        event["isBase64Encoded"] = True
    else:
        event["body"] = None
        event["isBase64Encoded"] = False
    if query is not None:
        event["multiValueQueryStringParameters"] = query or None
        event["queryStringParameters"] = {k: v[-1] for k, v in query.items()} or None
    if headers is not None:
        # A header given no values is removed.
        merged = {k: v for k, v in {**event["multiValueHeaders"], **headers}.items() if v}
        event["multiValueHeaders"] = merged
        event["headers"] = {k: v[-1] for k, v in merged.items()}
    if "authorizer" in event["requestContext"]:
        # A route behind the authorizer: the caller is whom it found (the trigger route has none).
        event["requestContext"]["authorizer"] = {"account": account, "principalId": account}
    return event


def create_endpoint(endpoint_id: str, path: str, drive_path: str, account: str = "jaydoe") -> dict[str, Any]:
    """Register an endpoint through the create function, as a client would; returns its response."""
    event = api_event(
        "create",
        path_parameters={"id": endpoint_id},
        body={"path": path, "handler_script_path": drive_path},
        account=account,
    )
    return dict(load_function("create").lambda_handler(event, FakeContext()))


def files_request(
    method: str,
    drive_path: str,
    *,
    body: bytes | None = None,
    query: dict[str, list[str]] | None = None,
    account: str = "jaydoe",
    authorizer: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Call the files function for `METHOD FILES_ROOT/<drive_path>`; returns its raw response."""

    event = api_event(
        "files",
        method=method,
        path_parameters={"path": drive_path.removeprefix("/")},
        body=body,
        query=query,
        account=account,
    )
    if authorizer is not None:
        event["requestContext"]["authorizer"].update(authorizer)
    return dict(load_function("files").lambda_handler(event, FakeContext()))
