"""GET <id>/invocations on moto: the records of the caller's endpoint, newest first, and its 400s and 404s."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from httpendpoint.trigger import sandbox_client, script_cache
from tests.support.aws import aws_client
from tests.support.events import api_event, create_endpoint, token_of
from tests.support.functions import FakeContext, load_function
from tests.support.sandbox import InProcessSandbox

ECHO_PATH = "/{account}/my_repo/fs/Instabase Drive/handlers/echo_method.py"
ECHO = b"def handler(request):\n    print('called with', request.args.get('n'))\n    return 'ok'\n"


def endpoint(endpoint_id: str, account: str = "jaydoe") -> None:
    drive_path = ECHO_PATH.format(account=account)
    aws_client("s3").put_object(Bucket=os.environ["SCRIPT_BUCKET"], Key=drive_path.lstrip("/"), Body=ECHO)
    assert create_endpoint(endpoint_id, endpoint_id, drive_path, account)["statusCode"] == 201


@pytest.fixture(autouse=True)
def sandbox(aws: Any) -> Iterator[None]:
    script_cache.clear()
    sandbox_client.use(InProcessSandbox())
    endpoint("mine")
    yield
    sandbox_client.use(None)
    script_cache.clear()


def trigger(path: str, n: int, account: str = "jaydoe") -> None:
    event = api_event(
        "router",
        path_parameters={"path": path},
        query={"n": [str(n)]},
        headers={"Authorization": [f"Bearer {token_of(account)}"]},
        account=account,
    )
    event["requestContext"]["requestId"] = f"request-{n}"
    load_function("router").lambda_handler(event, FakeContext())


def invocations(
    endpoint_id: str, query: dict[str, list[str]] | None = None, account: str = "jaydoe"
) -> tuple[int, Any]:
    event = api_event("invocations", path_parameters={"id": endpoint_id}, query=query or {}, account=account)
    response = load_function("invocations").lambda_handler(event, FakeContext())
    assert response["multiValueHeaders"]["Content-Type"] == ["application/json"], response
    return int(response["statusCode"]), json.loads(response["body"])


def test_records_come_newest_first_with_the_documented_shape() -> None:
    for n in range(3):
        trigger("mine", n)
    status, body = invocations("mine")
    assert status == 200
    assert body["id"] == "mine"
    assert [r["request_id"] for r in body["invocations"]] == ["request-2", "request-1", "request-0"]
    newest = body["invocations"][0]
    assert set(newest) == {"request_id", "time", "method", "status", "duration_ms", "error", "output"}
    assert (newest["method"], newest["status"], newest["error"]) == ("GET", 200, None)
    assert newest["output"] == "called with 2\n"
    assert newest["time"].endswith("+00:00")


def test_limit_defaults_to_20_and_takes_1_to_100() -> None:
    for n in range(22):
        trigger("mine", n)
    assert len(invocations("mine")[1]["invocations"]) == 20
    assert [r["request_id"] for r in invocations("mine", {"limit": ["1"]})[1]["invocations"]] == ["request-21"]
    assert len(invocations("mine", {"limit": ["100"]})[1]["invocations"]) == 22


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", " 5", "1000000000000"])
def test_a_limit_outside_1_to_100_is_400(limit: str) -> None:
    status, body = invocations("mine", {"limit": [limit]})
    assert status == 400
    assert "limit" in body["error"]


def test_an_unknown_query_parameter_is_400() -> None:
    status, body = invocations("mine", {"since": ["yesterday"]})
    assert (status, "since" in body["error"]) == (400, True)


def test_another_accounts_endpoint_is_404_like_a_missing_one() -> None:
    endpoint("theirs", account="acme")
    trigger("theirs", 1, account="acme")
    status, body = invocations("theirs")
    assert status == 404
    assert body == {"error": "no endpoint with id 'theirs'"}
    assert invocations("nothing")[0] == 404
    assert invocations("theirs", account="acme")[1]["invocations"][0]["request_id"] == "request-1"


def test_a_re_created_id_starts_empty() -> None:
    trigger("mine", 1)
    delete = api_event("delete", path_parameters={"id": "mine"})
    assert load_function("delete").lambda_handler(delete, FakeContext())["statusCode"] == 200
    assert invocations("mine")[0] == 404
    endpoint("mine")
    assert invocations("mine") == (200, {"id": "mine", "invocations": []})
    trigger("mine", 2)
    assert [r["request_id"] for r in invocations("mine")[1]["invocations"]] == ["request-2"]


def test_records_too_large_for_one_response_are_cut_to_fit() -> None:
    """100 records of 4096 characters of output and of error that JSON escapes to 12 bytes each: over 6 MB."""
    from httpendpoint.core.limits import INVOKE_LIMIT_BYTES
    from httpendpoint.stores import endpoint_store, invocation_store
    from httpendpoint.stores.invocation_store import Invocation

    endpoint = endpoint_store.get("mine", "jaydoe")
    assert endpoint is not None
    wide = "\U0001f600" * 4096
    for n in range(100):
        at = f"2099-01-01T00:{n // 60:02d}:{n % 60:02d}.000+00:00"
        invocation_store.put("jaydoe", "mine", Invocation(f"r{n:03d}", at, "GET", 500, 1.0, wide, wide))
    event = api_event("invocations", path_parameters={"id": "mine"}, query={"limit": ["100"]})
    response = load_function("invocations").lambda_handler(event, FakeContext())
    assert response["statusCode"] == 200
    assert len(json.dumps(response)) < INVOKE_LIMIT_BYTES
    records = json.loads(response["body"])["invocations"]
    assert 30 < len(records) < 100
    assert [r["request_id"] for r in records] == [f"r{n:03d}" for n in reversed(range(100))][: len(records)]
