"""Bearer tokens on the local stack over HTTP, and the `httpep` operator commands against it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from httpendpoint.stores import token_store
from httpep.local import defaults
from httpep.local.template import LOCAL_REGION, LocalTemplate
from tests.support.repo import TEMPLATE_PATH
from tests.support.stack import RunningStack

# One worker runs the whole module under `pytest -n`, so its session stack is started once for it.
pytestmark = pytest.mark.e2e

# Every route and method of the contract: the management routes and the trigger route.
ROUTES = [
    ("PUT", "/auth-e2e-id"),
    ("GET", "/auth-e2e-id"),
    ("PATCH", "/auth-e2e-id"),
    ("DELETE", "/auth-e2e-id"),
    ("GET", "/list"),
    *((method, "/u/auth-e2e-path") for method in ("GET", "POST", "PUT", "PATCH", "DELETE")),
]

# Every token this module mints, so the last tests can check none of them was stored or logged.
MINTED: list[str] = []


def create_token(stack: RunningStack, account: str, label: str = "") -> str:
    result = stack.httpep(*stack.target, "token", "create", "--account", account, "--label", label)
    token = result.stdout.removesuffix("\n")
    assert result.stdout == token + "\n"
    MINTED.append(token)
    return token


def stack_client(stack: RunningStack, service: str) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=f"http://127.0.0.1:{stack.aws_port}",
        region_name=LOCAL_REGION,
        **defaults.boto3_credentials(),
    )


@pytest.fixture(scope="module")
def revoked_token(stack: RunningStack) -> str:
    """A token that worked, then was revoked with `httpep token revoke`."""
    token = create_token(stack, "jaydoe", "to revoke")
    before = requests.get(stack.api_root + "/list", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert before.status_code not in (401, 403), before.text
    stack.httpep(*stack.target, "token", "revoke", token)
    return token


@pytest.fixture(scope="module")
def valid_token(stack: RunningStack) -> str:
    return create_token(stack, "jaydoe", "e2e")


BAD_HEADERS: dict[str, Callable[[str, str], dict[str, str]]] = {
    "no header": lambda valid, revoked: {},
    "unknown token": lambda valid, revoked: {"Authorization": "Bearer hep_" + uuid.uuid4().hex * 2},
    "token without Bearer": lambda valid, revoked: {"Authorization": valid},
    "Basic": lambda valid, revoked: {"Authorization": "Basic dXNlcjpwYXNz"},
    "revoked token": lambda valid, revoked: {"Authorization": f"Bearer {revoked}"},
}


@pytest.mark.parametrize("variant", BAD_HEADERS)
@pytest.mark.parametrize(("method", "route"), ROUTES)
def test_a_bad_token_is_401_json_on_every_route(
    stack: RunningStack,
    http: requests.Session,
    valid_token: str,
    revoked_token: str,
    method: str,
    route: str,
    variant: str,
) -> None:
    headers = BAD_HEADERS[variant](valid_token, revoked_token)
    response = http.request(method, stack.api_root + route, headers=headers, json={"path": "p"})
    assert response.status_code == 401, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    # The same `message` on every route; the trigger route has no authorizer, and the router's own refusal
    # also says what is wrong in `error`.
    assert response.json()["message"] == "Unauthorized"
    if "/u/" in route:
        assert response.json()["error"].startswith("Unauthorized")


@pytest.mark.parametrize(("method", "route"), ROUTES)
def test_a_valid_token_passes_the_authorizer_on_every_route(
    stack: RunningStack, http: requests.Session, valid_token: str, method: str, route: str
) -> None:
    response = http.request(method, stack.api_root + route, headers={"Authorization": f"Bearer {valid_token}"})
    assert response.status_code not in (401, 403), response.text


def test_revocation_takes_effect_at_once(stack: RunningStack, http: requests.Session) -> None:
    token = create_token(stack, "jaydoe", "revoke at once")
    headers = {"Authorization": f"Bearer {token}"}
    assert http.get(stack.api_root + "/list", headers=headers).status_code not in (401, 403)
    revoke = stack.httpep(*stack.target, "token", "revoke", token)
    assert "jaydoe" in revoke.stdout and token not in revoke.stdout
    assert http.get(stack.api_root + "/list", headers=headers).status_code == 401
    assert http.get(stack.api_root + "/u/anything", headers=headers).status_code == 401


def test_token_list_shows_labels_never_tokens(stack: RunningStack) -> None:
    account = "e2e-" + uuid.uuid4().hex[:8]
    token = create_token(stack, account, "build server")
    listed = stack.httpep(*stack.target, "token", "list", "--account", account).stdout
    assert "build server" in listed and "active" in listed
    assert token not in listed
    assert token_store.hash_token(token)[:12] in listed


def test_revoking_an_unknown_token_is_one_line(stack: RunningStack) -> None:
    result = stack.httpep(*stack.target, "token", "revoke", "hep_never-issued", check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "no such token" in result.stderr


def test_an_invalid_account_gets_no_token(stack: RunningStack) -> None:
    result = stack.httpep(*stack.target, "token", "create", "--account", "Jay Doe", check=False)
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "account" in result.stderr


@pytest.mark.local_only
def test_script_put_with_spaces_in_the_drive_path(stack: RunningStack, tmp_path: Path) -> None:
    source = b"def handler(request):\n    return 'hello from e2e'\n"
    local_file = tmp_path / "hello.py"
    local_file.write_bytes(source)
    drive_path = f"/jaydoe/my_repo/fs/Instabase Drive/handlers/auth e2e {uuid.uuid4().hex[:8]}.py"
    result = stack.httpep(*stack.target, "script", "put", str(local_file), drive_path)
    assert drive_path in result.stdout
    bucket = LocalTemplate(TEMPLATE_PATH).outputs()["ScriptBucketName"]
    stored = stack_client(stack, "s3").get_object(Bucket=bucket, Key=drive_path.lstrip("/"))
    assert stored["Body"].read() == source


@pytest.mark.local_only
def test_no_plain_token_in_the_tokens_table(stack: RunningStack, valid_token: str, revoked_token: str) -> None:
    table = LocalTemplate(TEMPLATE_PATH).outputs()["TokensTableName"]
    pages = stack_client(stack, "dynamodb").get_paginator("scan").paginate(TableName=table)
    items = [item for page in pages for item in page["Items"]]
    stored = repr(items)
    for token in {valid_token, revoked_token, *MINTED, *stack.tokens.values()}:
        assert token.removeprefix(token_store.TOKEN_PREFIX) not in stored
        assert token_store.hash_token(token) in stored


@pytest.mark.local_only
def test_no_token_in_the_stack_logs(
    stack: RunningStack, http: requests.Session, valid_token: str, revoked_token: str
) -> None:
    for token in (valid_token, revoked_token):
        http.get(stack.api_root + "/list", headers={"Authorization": f"Bearer {token}"})
        http.get(stack.api_root + "/list", headers={"Authorization": token})
    marker = uuid.uuid4().hex
    http.get(stack.api_root + "/u/" + marker, headers={"Authorization": f"Bearer {valid_token}"})
    # The access log line of the last request is written after the authorizer's lines: wait for it.
    deadline = time.monotonic() + 30
    while marker not in stack.logs() and time.monotonic() < deadline:
        time.sleep(0.1)
    logs = stack.logs()
    assert "token rejected" in logs and "token accepted" in logs  # the authorizer's own lines are in this log
    for token in {valid_token, revoked_token, *MINTED}:
        assert token.removeprefix(token_store.TOKEN_PREFIX) not in logs


@pytest.fixture(scope="module")
def call_token(stack: RunningStack) -> str:
    result = stack.httpep(*stack.target, "token", "create", "--account", "jaydoe", "--scope", "call")
    MINTED.append(result.stdout.strip())
    return result.stdout.strip()


MANAGEMENT_AND_FILES = [
    *((method, stack_route) for method, stack_route in ROUTES if "/u/" not in stack_route),
    *(("files", method) for method in ("GET", "PUT", "DELETE")),
]


@pytest.mark.parametrize(("method", "route"), MANAGEMENT_AND_FILES)
def test_a_call_token_is_403_json_on_management_and_files_routes(
    stack: RunningStack, http: requests.Session, call_token: str, method: str, route: str
) -> None:
    if method == "files":
        method, url = route, stack.api_root.replace("/api/v1/http-endpoint", "/api/v2/files") + "/jaydoe/a.py"
    else:
        url = stack.api_root + route
    response = http.request(method, url, headers={"Authorization": f"Bearer {call_token}"}, data=b"x")
    assert response.status_code == 403, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert "scope call" in response.json()["error"]


def test_a_call_token_passes_on_the_trigger_route(stack: RunningStack, http: requests.Session, call_token: str) -> None:
    response = http.get(stack.api_root + "/u/auth-e2e-path", headers={"Authorization": f"Bearer {call_token}"})
    assert response.status_code not in (401, 403), response.text
