"""The trigger route on moto, with the sandbox run in-process: the contract's "Trigger route" rules."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from httpendpoint.stores import endpoint_store, token_store
from httpendpoint.trigger import sandbox_client, script_cache
from tests.support.aws import aws_client
from tests.support.events import api_event, create_endpoint, files_request, token_of
from tests.support.functions import FakeContext, load_function
from tests.support.repo import REPO_ROOT
from tests.support.sandbox import InProcessSandbox

SCRIPTS = REPO_ROOT / "tests" / "handlers"


def put_script(name: str, source: bytes, account: str = "jaydoe") -> str:
    drive_path = f"/{account}/my_repo/fs/Instabase Drive/handlers/{name}"
    aws_client("s3").put_object(Bucket=os.environ["SCRIPT_BUCKET"], Key=drive_path.lstrip("/"), Body=source)
    return drive_path


def create(endpoint_id: str, path: str, drive_path: str, account: str = "jaydoe") -> None:
    response = create_endpoint(endpoint_id, path, drive_path, account)
    assert response["statusCode"] == 201, response


def trigger(
    path: str,
    method: str = "GET",
    *,
    body: bytes | str | dict[str, Any] | None = None,
    query: dict[str, list[str]] | None = None,
    headers: dict[str, list[str]] | None = None,
    account: str = "jaydoe",
) -> dict[str, Any]:
    """A trigger by a caller holding a token of `account` (unless `headers` bring their own Authorization)."""
    given = {name.lower() for name in headers or {}}
    # The sample event's own header goes when the caller brings one (in whatever spelling).
    credentials = {"Authorization": [] if "authorization" in given else [f"Bearer {token_of(account)}"]}
    event = api_event(
        "router",
        method=method,
        path_parameters={"path": path},
        body=body,
        query=query,
        headers={**credentials, **(headers or {})},
        account=account,
    )
    return dict(load_function("router").lambda_handler(event, FakeContext()))


def body_of(response: dict[str, Any]) -> bytes:
    raw = response.get("body") or ""
    return base64.b64decode(raw) if response.get("isBase64Encoded") else str(raw).encode()


def content_type(response: dict[str, Any]) -> str:
    headers = {k.lower(): v for k, v in response["multiValueHeaders"].items()}
    return str(headers["content-type"][0])


@pytest.fixture
def endpoints(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ENDPOINT_TIMEOUT", "2")
    script_cache.clear()
    sandbox_client.use(InProcessSandbox())
    for name in ("hello", "echo", "returns"):
        drive_path = put_script(f"{name}.py", (SCRIPTS / f"{name}.py").read_bytes())
        create(f"{name}-id", name, drive_path)
    yield
    sandbox_client.use(None)
    script_cache.clear()


pytestmark = pytest.mark.usefixtures("endpoints")


def test_seed_hello_answers_get() -> None:
    response = trigger("hello")
    assert response["statusCode"] == 200
    assert body_of(response) == b"Hello World"
    assert content_type(response).startswith("text/plain")


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "POST"])
def test_seed_hello_answers_other_methods_with_an_empty_404(method: str) -> None:
    response = trigger("hello", method)
    assert response["statusCode"] == 404
    assert body_of(response) == b""
    assert content_type(response).startswith("text/plain")


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_every_method_reaches_the_handler(method: str) -> None:
    seen = json.loads(body_of(trigger("echo", method)))
    assert seen["method"] == method
    assert seen["path"] == "/api/v1/http-endpoint/u/echo"
    assert seen["same_as_flask_request"] is True


def test_repeated_query_keys_reach_the_handler() -> None:
    seen = json.loads(body_of(trigger("echo", query={"tag": ["a", "b"], "q": ["x y"]})))
    assert seen["args"] == {"tag": ["a", "b"], "q": ["x y"]}


def test_json_body_reaches_the_handler() -> None:
    seen = json.loads(
        body_of(trigger("echo", "POST", body={"k": [1, 2]}, headers={"Content-Type": ["application/json"]}))
    )
    assert seen["json"] == {"k": [1, 2]}


def test_form_body_reaches_the_handler() -> None:
    form = "a=1&a=2&b=three"
    headers = {"Content-Type": ["application/x-www-form-urlencoded"]}
    seen = json.loads(body_of(trigger("echo", "POST", body=form, headers=headers)))
    assert seen["form"] == {"a": ["1", "2"], "b": ["three"]}


def test_a_one_megabyte_binary_body_arrives_intact() -> None:
    data = os.urandom(1024 * 1024)
    headers = {"Content-Type": ["application/octet-stream"]}
    seen = json.loads(body_of(trigger("echo", "PUT", body=data, headers=headers)))
    assert seen["body_length"] == len(data)
    assert seen["body_sha256"] == hashlib.sha256(data).hexdigest()


def test_the_callers_token_is_not_shown_to_the_handler() -> None:
    seen = json.loads(body_of(trigger("echo", headers={"X-Signature": ["abc"]})))
    assert seen["headers"]["x-signature"] == "abc"
    assert "authorization" not in seen["headers"]


TOKEN_MARKER = "hep_" + "tokenmarker"


@pytest.fixture
def token_hunter() -> str:
    create("hunter-id", "hunter", put_script("token_hunter.py", (SCRIPTS / "token_hunter.py").read_bytes()))
    return "hunter"


def known_token(token: str, account: str = "jaydoe") -> str:
    """Store a record for a token of our choosing (one the hunter recognises), as `token create` would."""
    item = {
        "token_hash": {"S": token_store.hash_token(token)},
        "account": {"S": account},
        "label": {"S": ""},
        "created_at": {"S": "2026-01-01T00:00:00+00:00"},
        "scope": {"S": "manage"},
    }
    aws_client("dynamodb").put_item(TableName=os.environ["TOKENS_TABLE"], Item=item)
    return token


@pytest.mark.parametrize("name", ["Authorization", "authorization", "AUTHORIZATION"])
def test_the_callers_token_is_nowhere_in_the_handlers_memory(token_hunter: str, name: str) -> None:
    # Every spelling of the header, in both header maps API Gateway sends; the token is valid, so the
    # request reaches the handler.
    headers = {name: [f"Bearer {known_token(f'{TOKEN_MARKER}-{name}')}"]}
    response = trigger(token_hunter, headers=headers)
    assert response["statusCode"] == 200, response
    event = api_event("router", headers={"Authorization": [], **headers})
    assert {k for k in event["headers"] if k.lower() == "authorization"} == set(headers)
    assert json.loads(body_of(response)) == {"frames": [], "objects": []}


def test_the_token_hunter_finds_what_does_reach_the_handler(token_hunter: str) -> None:
    # The same hunt finds a header that is the handler's: it would find the token if it were there.
    found = json.loads(body_of(trigger(token_hunter, headers={"X-Other": [f"{TOKEN_MARKER}-visible"]})))
    assert found["frames"]
    assert found["objects"]


def test_the_sandbox_is_invoked_with_the_account_as_tenant() -> None:
    create(
        "hello-other-id", "hello-other", put_script("hello.py", b"def handler(r):\n    return 'hi'\n", "acme"), "acme"
    )
    sent: list[tuple[str, object]] = []

    def invoke(request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse, HTTPHeaders

        payload = json.loads(request.body)
        # The endpoint's account is its script's drive root.
        sent.append((payload["script_path"].split("/")[1], request.headers.get("X-Amz-Tenant-Id")))
        outcome = json.dumps(InProcessSandbox().run(payload, request.body, "")).encode()
        headers = HTTPHeaders()
        headers["Content-Length"] = str(len(outcome))
        return AWSResponse(request.url, 200, headers, RawBody(outcome))

    from httpendpoint.core.aws import client

    sandbox_client.use(sandbox_client.LambdaSandbox("sandbox-function"))
    client("lambda").meta.events.register("before-send.lambda.Invoke", invoke)
    try:
        assert body_of(trigger("hello")) == b"Hello World"
        assert body_of(trigger("hello-other", account="acme")) == b"hi"
    finally:
        client("lambda").meta.events.unregister("before-send.lambda.Invoke", invoke)
    assert sent == [("jaydoe", b"jaydoe"), ("acme", b"acme")]


class RawBody(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.read()


def test_a_string_is_served_as_text_plain() -> None:
    response = trigger("returns", query={"kind": ["str"]})
    assert response["statusCode"] == 200
    assert body_of(response) == b"plain text"
    assert content_type(response) == "text/plain; charset=utf-8"


def test_custom_status_and_headers_pass_through() -> None:
    response = trigger("returns", query={"kind": ["custom"]})
    assert response["statusCode"] == 201
    assert response["multiValueHeaders"]["X-Custom"] == ["yes"]
    assert content_type(response) == "application/json"
    assert json.loads(body_of(response)) == {"created": True}


def test_an_empty_html_response_is_served_as_text_plain() -> None:
    response = trigger("returns", query={"kind": ["empty_html"]})
    assert response["statusCode"] == 204
    assert content_type(response).startswith("text/plain")


@pytest.mark.parametrize(
    ("kind", "named"),
    [("html", "text/html"), ("dict", "dict"), ("bytes", "bytes"), ("none", "None"), ("tuple", "tuple"), ("int", "int")],
)
def test_anything_else_is_a_500_naming_what_was_returned(kind: str, named: str) -> None:
    response = trigger("returns", query={"kind": [kind]})
    assert response["statusCode"] == 500
    error = json.loads(body_of(response))
    assert named in error["error"]
    assert error["request_id"]
    assert "<script>" not in body_of(response).decode()


@pytest.fixture
def header_tricks() -> str:
    create("tricks-id", "tricks", put_script("header_tricks.py", (SCRIPTS / "header_tricks.py").read_bytes()))
    return "tricks"


def headers_named(response: dict[str, Any], name: str) -> list[str]:
    return [v for k, vs in response["multiValueHeaders"].items() if k.lower() == name.lower() for v in vs]


@pytest.mark.parametrize(
    ("trick", "named"),
    [
        ("comma", "Content-Type"),
        ("add", "Content-Type"),
        ("status_199", "200-599"),
        ("many", "100 headers"),
    ],
)
def test_a_header_trick_is_a_500_naming_the_rule(header_tricks: str, trick: str, named: str) -> None:
    response = trigger(header_tricks, query={"trick": [trick]})
    assert response["statusCode"] == 500
    error = json.loads(body_of(response))
    assert named in error["error"]
    assert error["request_id"] == api_event("router")["requestContext"]["requestId"]


def test_a_response_breaking_a_rule_is_logged_as_a_handler_fault(header_tricks: str, log_output: io.StringIO) -> None:
    response = trigger(header_tricks, query={"trick": ["status_199"]})
    logged = {entry["message"]: entry for entry in map(json.loads, log_output.getvalue().splitlines())}
    assert logged["handler fault"]["error"] == json.loads(body_of(response))["error"]
    assert "200-599" in logged["handler fault"]["error"]
    assert b"<script>" not in body_of(response)


@pytest.mark.parametrize(
    ("trick", "dropped"),
    [("set_cookie", "Set-Cookie"), ("hop_by_hop", "Connection"), ("hop_by_hop", "Transfer-Encoding")],
)
def test_a_forbidden_header_is_dropped(header_tricks: str, trick: str, dropped: str) -> None:
    response = trigger(header_tricks, query={"trick": [trick]})
    assert response["statusCode"] == 200
    assert headers_named(response, dropped) == []
    assert headers_named(response, "Content-Type") == ["text/plain; charset=utf-8"]
    assert headers_named(response, "X-Content-Type-Options") == ["nosniff"]
    assert headers_named(response, "Content-Security-Policy") == ["sandbox; default-src 'none'"]


class ForgedSandbox:
    """What reaches the router when a handler writes its own result on the child's pipe."""

    def __init__(self, response: dict[str, Any]) -> None:
        self.response = response

    def run(self, payload: dict[str, Any], encoded: bytes, tenant: str) -> dict[str, Any]:
        return {"outcome": "response", "response": self.response, "logs": ""}


@pytest.mark.parametrize(
    "forged",
    [
        {"statusCode": 200, "multiValueHeaders": {"Content-Type": ["text/html"]}, "body": "<script>"},
        {
            "statusCode": 200,
            "multiValueHeaders": {"Content-Type": ["text/plain"], "content-type": ["text/html"]},
            "body": "<script>",
        },
        {"statusCode": 200, "headers": {"Content-Type": "text/html"}, "multiValueHeaders": {}, "body": "<script>"},
        {"statusCode": 101, "multiValueHeaders": {"Content-Type": ["text/plain"]}, "body": "<script>"},
        {"statusCode": 600, "multiValueHeaders": {"Content-Type": ["text/plain"]}, "body": "<script>"},
    ],
)
def test_a_forged_sandbox_result_is_held_to_the_rules(forged: dict[str, Any]) -> None:
    sandbox_client.use(ForgedSandbox(forged))
    response = trigger("hello")
    assert response["statusCode"] == 500
    assert b"<script>" not in body_of(response)


def test_a_response_over_the_lambda_limit_is_a_clear_500() -> None:
    response = trigger("returns", query={"kind": ["big"]})
    assert response["statusCode"] == 500
    assert "ResponseTooLarge" in json.loads(body_of(response))["error"]


def test_a_request_over_the_limit_is_413() -> None:
    response = trigger("echo", "POST", body=b"x" * (5 * 1024 * 1024))
    assert response["statusCode"] == 413
    assert "too large" in json.loads(body_of(response))["error"]


def test_an_exception_is_a_500_with_type_and_message_and_no_traceback() -> None:
    response = trigger("returns", query={"kind": ["raise"]})
    assert response["statusCode"] == 500
    error = json.loads(body_of(response))
    assert error["error"] == "ZeroDivisionError: division by zero"
    assert set(error) == {"error", "request_id"}
    assert "Traceback" not in body_of(response).decode()


def pin_directly(path: str, drive_path: str) -> None:
    """Point the path item at the file's current version by hand, past the handler check (as an item written
    before the check existed, or by an operator, could be)."""
    version = aws_client("s3").head_object(Bucket=os.environ["SCRIPT_BUCKET"], Key=drive_path.lstrip("/"))["VersionId"]
    aws_client("dynamodb").update_item(
        TableName=os.environ["ENDPOINTS_TABLE"],
        Key={"pk": {"S": f"path#{path}"}},
        UpdateExpression="SET handler_script_version = :v",
        ExpressionAttributeValues={":v": {"S": version}},
    )


def test_a_syntax_error_names_its_line() -> None:
    drive_path = put_script("bad.py", b"def handler(request):\n    return 'ok'\n")
    create("bad-id", "bad", drive_path)
    put_script("bad.py", b"def handler(request):\n    return 'ok'\n\ndef broken(:\n    pass\n")
    pin_directly("bad", drive_path)
    response = trigger("bad")
    assert response["statusCode"] == 500
    error = json.loads(body_of(response))["error"]
    assert error.startswith("SyntaxError:")
    assert "line 4" in error


def test_a_script_without_handler_is_a_500() -> None:
    drive_path = put_script("nohandler.py", b"def handler(request):\n    return 'ok'\n")
    create("nohandler-id", "nohandler", drive_path)
    put_script("nohandler.py", (SCRIPTS / "no_handler.py").read_bytes())
    pin_directly("nohandler", drive_path)
    response = trigger("nohandler")
    assert response["statusCode"] == 500
    assert "handler" in json.loads(body_of(response))["error"]


def test_a_missing_script_version_is_a_500() -> None:
    drive_path = put_script("gone.py", b"def handler(request):\n    return 'ok'\n")
    create("gone-id", "gone", drive_path)
    # Only an operator deleting the pinned version itself (never the service) can do this.
    s3 = aws_client("s3")
    version = s3.head_object(Bucket=os.environ["SCRIPT_BUCKET"], Key=drive_path.lstrip("/"))["VersionId"]
    s3.delete_object(Bucket=os.environ["SCRIPT_BUCKET"], Key=drive_path.lstrip("/"), VersionId=version)
    response = trigger("gone")
    assert response["statusCode"] == 500
    assert json.loads(body_of(response))["error"].startswith("FileNotFoundError:")


def test_a_script_saved_through_the_files_api_is_served_on_the_next_request() -> None:
    drive_path = put_script("edit.py", b"def handler(request):\n    return 'first'\n")
    create("edit-id", "edit", drive_path)
    assert body_of(trigger("edit")) == b"first"
    saved = files_request("PUT", drive_path, body=b"def handler(request):\n    return 'second'\n")
    assert json.loads(saved["body"])["endpoints"] == {"updated": ["edit-id"], "kept": []}
    assert body_of(trigger("edit")) == b"second"


def test_a_write_straight_to_the_bucket_is_not_picked_up() -> None:
    drive_path = put_script("direct.py", b"def handler(request):\n    return 'first'\n")
    create("direct-id", "direct", drive_path)
    assert body_of(trigger("direct")) == b"first"
    put_script("direct.py", b"def handler(request):\n    return 'second'\n")
    script_cache.clear()  # not even a cold container: the endpoint is pinned to the version it was created with
    assert body_of(trigger("direct")) == b"first"


def test_a_slow_handler_is_cut_off_with_504_and_the_next_request_is_served(
    capsys: pytest.CaptureFixture[str], log_output: io.StringIO
) -> None:
    response = trigger("returns", query={"kind": ["sleep"]})
    assert response["statusCode"] == 504
    answer = json.loads(body_of(response))
    assert "request_id" in answer
    logged = {entry["message"]: entry for entry in map(json.loads, log_output.getvalue().splitlines())}
    assert (logged["handler timeout"]["level"], logged["handler timeout"]["error"]) == ("WARNING", answer["error"])
    assert logged["handler timeout"]["endpoint_id"] == "returns-id"
    (line,) = metrics_lines(capsys.readouterr().out)
    assert (line["Timeouts"], line["Errors"], line["request"]["status"]) == ([1.0], [1.0], 504)
    assert body_of(trigger("hello")) == b"Hello World"


def test_an_unknown_path_is_404() -> None:
    response = trigger("nothing-here")
    assert response["statusCode"] == 404
    assert "error" in json.loads(body_of(response))


def test_another_accounts_endpoint_is_404() -> None:
    response = trigger("hello", account="someone-else")
    assert response["statusCode"] == 404
    # Word for word what a path nobody registered gets.
    assert json.loads(body_of(response)) == {"error": "no endpoint at path 'hello'"}
    assert json.loads(body_of(trigger("nothing-here")))["error"] == "no endpoint at path 'nothing-here'"


def test_a_disabled_endpoint_is_503_with_retry_after() -> None:
    event = api_event("update", path_parameters={"id": "hello-id"}, body={"enabled": False})
    assert load_function("update").lambda_handler(event, FakeContext())["statusCode"] == 200
    response = trigger("hello")
    assert response["statusCode"] == 503
    assert response["multiValueHeaders"]["Retry-After"]
    assert "disabled" in json.loads(body_of(response))["error"]


def count_calls() -> tuple[list[tuple[str, dict[str, Any]]], Callable[[], None]]:
    """Every DynamoDB and S3 call the service's own clients make, with its parameters, until `stop()`."""
    from httpendpoint.core.aws import client

    calls: list[tuple[str, dict[str, Any]]] = []

    def count(**kwargs: Any) -> None:
        calls.append((kwargs["event_name"].split(".")[-1], dict(kwargs.get("params") or {})))

    for service in ("dynamodb", "s3"):
        client(service).meta.events.register("before-parameter-build.*.*", count)

    def stop() -> None:
        for service in ("dynamodb", "s3"):
            client(service).meta.events.unregister("before-parameter-build.*.*", count)

    return calls, stop


def test_a_cold_trigger_makes_one_get_object_of_the_pinned_version() -> None:
    token_of("jaydoe")
    script_cache.clear()
    calls, stop = count_calls()
    try:
        assert body_of(trigger("hello")) == b"Hello World"
    finally:
        stop()
    route = endpoint_store.get_route("hello")
    assert route is not None
    s3_calls = [(name, params) for name, params in calls if name not in ("BatchGetItem", "PutItem")]
    assert [(name, params.get("VersionId")) for name, params in s3_calls] == [
        ("GetObject", route.handler_script_version)
    ]


def test_the_warm_path_reads_one_item_writes_its_record_and_makes_no_s3_request() -> None:
    trigger("hello")
    downloaded_before = script_cache.stats.bytes_downloaded
    compiles_before = script_cache.stats.compiles
    calls, stop = count_calls()
    try:
        assert body_of(trigger("hello")) == b"Hello World"
    finally:
        stop()
    # One strongly consistent read of the path item and the caller's token record together, then the record.
    assert [name for name, _ in calls] == ["BatchGetItem", "PutItem"]
    params = calls[0][1]
    assert {table: (len(read["Keys"]), read["ConsistentRead"]) for table, read in params["RequestItems"].items()} == {
        os.environ["ENDPOINTS_TABLE"]: (1, True),
        os.environ["TOKENS_TABLE"]: (1, True),
    }
    assert calls[1][1]["TableName"] == os.environ["INVOCATIONS_TABLE"]
    assert script_cache.stats.bytes_downloaded == downloaded_before
    assert script_cache.stats.compiles == compiles_before


# ---------------------------------------------------------------------------------------------- observability


def metrics_lines(output: str) -> list[dict[str, Any]]:
    """The EMF documents among the lines the router printed."""
    return [json.loads(line) for line in output.splitlines() if line.startswith("{") and '"_aws"' in line]


def metric_names(line: dict[str, Any]) -> set[str]:
    return {metric["Name"] for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}


def test_each_trigger_prints_one_metrics_line_that_is_also_its_access_record(
    capsys: pytest.CaptureFixture[str],
) -> None:
    trigger("hello")
    (line,) = metrics_lines(capsys.readouterr().out)
    assert metric_names(line) == {"Invocations", "Duration"}
    assert line["Invocations"] == [1.0]
    (duration,) = line["Duration"]
    assert 0 < duration < 60_000
    assert line["service"] == os.environ["POWERTOOLS_SERVICE_NAME"]
    assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == os.environ["POWERTOOLS_METRICS_NAMESPACE"]
    assert line["request"] == {
        "request_id": api_event("router")["requestContext"]["requestId"],
        "method": "GET",
        "path": "hello",
        "endpoint_id": "hello-id",
        "account": "jaydoe",
        "status": 200,
    }


def test_a_path_nobody_owns_is_recorded_without_an_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    trigger("hello", account="someone-else")
    (line,) = metrics_lines(capsys.readouterr().out)
    assert metric_names(line) == {"Invocations", "Duration"}
    assert line["request"]["status"] == 404
    assert line["request"]["refused"] == "no endpoint at path 'hello'"  # why, on the same line
    assert "endpoint_id" not in line["request"]
    assert "account" not in line["request"]


def test_a_handler_s_own_refusal_is_not_the_router_s(capsys: pytest.CaptureFixture[str]) -> None:
    response = trigger("returns", query={"kind": ["refuse"]})
    assert response["statusCode"] == 403
    (line,) = metrics_lines(capsys.readouterr().out)
    assert line["request"]["status"] == 403
    assert "refused" not in line["request"]


def test_a_handler_fault_counts_as_an_error_and_its_log_lines_name_the_request(
    capsys: pytest.CaptureFixture[str], log_output: io.StringIO
) -> None:
    trigger("returns", query={"kind": ["raise"]})
    (line,) = metrics_lines(capsys.readouterr().out)
    assert metric_names(line) == {"Invocations", "Errors", "Duration"}
    assert (line["Errors"], line["request"]["status"]) == ([1.0], 500)
    logged = {entry["message"]: entry for entry in map(json.loads, log_output.getvalue().splitlines())}
    request_id = api_event("router")["requestContext"]["requestId"]
    for message in ("handler fault", "handler traceback"):
        entry = logged[message]
        assert entry["correlation_id"] == entry["request_id"] == request_id
        assert (entry["endpoint_id"], entry["account"], entry["path"]) == ("returns-id", "jaydoe", "returns")
    assert logged["handler fault"]["error"] == "ZeroDivisionError: division by zero"
    assert "ZeroDivisionError" in logged["handler traceback"]["traceback"]
