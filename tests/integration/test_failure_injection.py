"""DynamoDB, S3 and the sandbox failing or throttling, on moto: what the service answers, what it leaves behind.

Faults are injected where botocore would put the request on the wire (its `before-send` event), in place of
moto, so everything above that line runs for real: botocore's standard retry mode sees an HTTP status (or a
connection error), decides whether to retry, backs off and tries again. A fault that clears within the retry
budget is never seen by the service; one that outlasts it becomes a 503 with a JSON error (and Retry-After on
the trigger route), and a failed write leaves the table exactly as it was.
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import botocore.endpoint
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from moto.core.models import botocore_stubber

from httpendpoint.core.aws import client
from httpendpoint.core.errors import Unavailable
from httpendpoint.stores import endpoint_store, script_store, token_store
from httpendpoint.trigger import sandbox_client, script_cache
from tests.support.events import api_event, files_request
from tests.support.functions import FakeContext, load_function
from tests.support.sandbox import InProcessSandbox

HELLO = b"def handler(request):\n    return 'Hello World'\n"
ECHO = b"import flask\n\ndef handler(request):\n    return flask.jsonify(method=request.method)\n"
SCRIPT = "/jaydoe/handlers/hello.py"
OTHER_SCRIPT = "/jaydoe/handlers/other.py"

# ---------------------------------------------------------------------------------------------- the fault layer

Respond = Callable[[AWSPreparedRequest], AWSResponse]


class RawBody(io.BytesIO):
    """What botocore reads a response body from: `read` for streamed bodies, `stream` for the others."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.read()


def http_response(request: AWSPreparedRequest, status: int, body: bytes, headers: dict[str, str]) -> AWSResponse:
    headers = {**headers, "Content-Length": str(len(body)), "x-amzn-RequestId": "fault-injected"}
    return AWSResponse(request.url, status, headers, RawBody(body))  # type: ignore[arg-type]


def dynamodb_error(status: int, code: str, **extra: Any) -> Respond:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": code, **extra}).encode()
    return lambda request: http_response(request, status, body, {"Content-Type": "application/x-amz-json-1.0"})


def s3_error(status: int, code: str) -> Respond:
    body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{code}</Message></Error>"
    return lambda request: http_response(request, status, body.encode(), {"Content-Type": "application/xml"})


def lambda_error(status: int, code: str) -> Respond:
    body = json.dumps({"Type": "Service", "message": code}).encode()
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code}
    return lambda request: http_response(request, status, body, headers)


def cut_off_body(request: AWSPreparedRequest) -> AWSResponse:
    """A 200 whose body stops short of its Content-Length: the connection dropped while the script streamed."""
    headers = {"Content-Type": "text/x-python", "ETag": '"cut-off"'}
    response = http_response(request, 200, b"def handler(req", headers)
    response.headers["Content-Length"] = "4096"
    return response


def connection_error(request: AWSPreparedRequest) -> AWSResponse:
    raise EndpointConnectionError(endpoint_url=request.url)


def connection_closed(request: AWSPreparedRequest) -> AWSResponse:
    raise ConnectionClosedError(endpoint_url=request.url)


def read_timeout(request: AWSPreparedRequest) -> AWSResponse:
    raise ReadTimeoutError(endpoint_url=request.url)


# Each kind of fault as each service answers it; all but the last are retryable in the standard mode.
FAULTS: dict[str, dict[str, Respond]] = {
    "throttled": {
        "dynamodb": dynamodb_error(400, "ThrottlingException"),
        "s3": s3_error(503, "SlowDown"),
        "lambda": lambda_error(429, "TooManyRequestsException"),
    },
    "over capacity": {
        "dynamodb": dynamodb_error(400, "ProvisionedThroughputExceededException"),
        "s3": s3_error(503, "ServiceUnavailable"),
        "lambda": lambda_error(502, "EC2ThrottledException"),
    },
    "server error": {
        "dynamodb": dynamodb_error(500, "InternalServerError"),
        "s3": s3_error(500, "InternalError"),
        "lambda": lambda_error(500, "ServiceException"),
    },
    "unreachable": {"dynamodb": connection_error, "s3": connection_error, "lambda": connection_error},
    "connection closed": {"dynamodb": connection_closed, "s3": connection_closed, "lambda": connection_closed},
    "read timeout": {"dynamodb": read_timeout, "s3": read_timeout, "lambda": read_timeout},
    # Not retryable: what DynamoDB answers a request it will never accept.
    "key too large": {"dynamodb": dynamodb_error(400, "ValidationException")},
}
SERVICE_OF = {
    "PutObject": "s3",
    "GetItem": "dynamodb",
    "BatchGetItem": "dynamodb",
    "Query": "dynamodb",
    "TransactWriteItems": "dynamodb",
    "GetObject": "s3",
    "Invoke": "lambda",
}


@dataclass
class Faults:
    """The HTTP layer of the service's own clients: moto answers, unless a fault is planned for the operation.

    `attempts` counts every request botocore sends per operation, retries included; `sleeps` holds the
    backoff delays the retry handler asked for (recorded, not slept, to keep the tests quick).
    """

    planned: dict[str, list[Respond]] = field(default_factory=dict)
    attempts: Counter[str] = field(default_factory=Counter)
    sleeps: list[float] = field(default_factory=list)
    services: dict[str, Respond] = field(default_factory=dict)

    def fail(self, operation: str, kind: str, times: int = 1000) -> None:
        """The next `times` requests of `operation` fail with `kind` (the default outlasts any retry budget)."""
        self.planned[operation] = [FAULTS[kind][SERVICE_OF[operation]]] * times
        self.attempts[operation] = 0

    def clear(self) -> None:
        self.planned.clear()
        self.attempts.clear()
        self.sleeps.clear()

    def install(self, service: str) -> None:
        events = client(service).meta.events
        events.unregister("before-send", botocore_stubber)
        events.register("before-send", self.send)

    def send(self, event_name: str, request: AWSPreparedRequest, **kwargs: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        self.attempts[operation] += 1
        planned = self.planned.get(operation)
        if planned:
            return planned.pop(0)(request)
        service = event_name.split(".")[1]
        if service in self.services:
            return self.services[service](request)
        return botocore_stubber(event_name=event_name, request=request, **kwargs)


class SleepRecorder:
    """Stands in for the `time` module of botocore's endpoint, whose only use of it is the retry backoff."""

    def __init__(self, sleeps: list[float]) -> None:
        self.sleeps = sleeps

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture
def faults(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Faults:
    injected = Faults()
    for service in ("dynamodb", "s3", "lambda"):
        injected.install(service)
    monkeypatch.setattr(botocore.endpoint, "time", SleepRecorder(injected.sleeps))
    # The store's own retry of cancelled transactions backs off too; no need to wait for it here.
    monkeypatch.setattr(endpoint_store, "BACKOFF_SECONDS", 0.0)
    script_store.put(SCRIPT, HELLO)
    script_store.put(OTHER_SCRIPT, ECHO)
    return injected


# ---------------------------------------------------------------------------------------------- helpers


def allowed(operation: str) -> int:
    """How many requests botocore sends for one call of `operation` at most: the first and its retries."""
    return int(client(SERVICE_OF[operation]).meta.config.retries["total_max_attempts"])


def call(function: str, endpoint_id: str | None = "ep", **options: Any) -> tuple[int, Any]:
    """A management function's status and JSON body."""
    path_parameters = None if endpoint_id is None else {"id": endpoint_id}
    event = api_event(function, path_parameters=path_parameters, **options)
    response = load_function(function).lambda_handler(event, FakeContext())
    assert response["multiValueHeaders"]["Content-Type"] == ["application/json"], response
    return int(response["statusCode"]), json.loads(response["body"])


def create(endpoint_id: str = "ep", path: str = "hello", script: str = SCRIPT) -> tuple[int, Any]:
    return call("create", endpoint_id, body={"path": path, "handler_script_path": script})


CALLER: dict[str, str] = {}  # the `endpoint` fixture's token


def trigger(path: str = "hello", path_parameter: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": [f"Bearer {CALLER['token']}"]}
    event = api_event("router", method="GET", path_parameters={"path": path}, headers=headers)
    if path_parameter is not None:
        event["pathParameters"] = {"path": path_parameter}  # as API Gateway hands it over, not re-encoded here
    return dict(load_function("router").lambda_handler(event, FakeContext()))


def body_of(response: dict[str, Any]) -> bytes:
    raw = response.get("body") or ""
    return base64.b64decode(raw) if response.get("isBase64Encoded") else str(raw).encode()


def served(response: dict[str, Any]) -> tuple[int, bytes]:
    return int(response["statusCode"]), body_of(response)


def error_of(response: dict[str, Any]) -> str:
    assert response["multiValueHeaders"]["Content-Type"] == ["application/json"], response
    body = json.loads(response["body"])
    assert set(body) <= {"error", "request_id"}, body
    return str(body["error"])


def items() -> dict[str, dict[str, Any]]:
    table = os.environ["ENDPOINTS_TABLE"]
    scanned = client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
    return {item["pk"]["S"]: item for item in scanned}


# ---------------------------------------------------------------------------------------------- the mechanism


def test_the_fault_layer_answers_in_place_of_moto(faults: Faults) -> None:
    """A failed create writes nothing: the injected answer replaced moto's, it did not follow it."""
    faults.fail("TransactWriteItems", "server error")
    assert create()[0] == 503
    assert items() == {}
    faults.clear()
    assert create() == (201, {"id": "ep"})
    assert set(items()) == {"endpoint#ep", "path#hello", "account#jaydoe"}


RETRYABLE = sorted(set(FAULTS) - {"key too large"})


@pytest.mark.parametrize("kind", RETRYABLE)
def test_a_fault_that_clears_within_the_retry_budget_is_never_seen(faults: Faults, kind: str) -> None:
    assert client("dynamodb").meta.config.retries["mode"] == "standard"
    budget = allowed("TransactWriteItems")
    assert budget > 1
    faults.fail("TransactWriteItems", kind, times=budget - 1)
    assert create() == (201, {"id": "ep"})
    # botocore's standard mode retried: every attempt went out, with a backoff before each retry.
    assert faults.attempts["TransactWriteItems"] == budget
    assert len(faults.sleeps) == budget - 1
    assert set(items()) == {"endpoint#ep", "path#hello", "account#jaydoe"}


# ---------------------------------------------------------------------------------------------- management

# (function, operation that fails, body): every AWS call each management operation makes.
MANAGEMENT_CALLS = [
    ("create", "GetObject", {"path": "fresh", "handler_script_path": OTHER_SCRIPT}),
    ("create", "TransactWriteItems", {"path": "fresh", "handler_script_path": OTHER_SCRIPT}),
    ("update", "GetItem", {"path": "moved", "enabled": False}),
    ("update", "GetObject", {"handler_script_path": OTHER_SCRIPT}),
    ("update", "TransactWriteItems", {"path": "moved", "handler_script_path": OTHER_SCRIPT}),
    ("delete", "GetItem", None),
    ("delete", "TransactWriteItems", None),
    ("get", "GetItem", None),
    ("list", "Query", None),
]
SUCCESS = {"create": 201, "update": 200, "delete": 200, "get": 200, "list": 200}


@pytest.mark.parametrize("kind", ["throttled", "server error", "unreachable"])
@pytest.mark.parametrize(("function", "operation", "body"), MANAGEMENT_CALLS)
def test_a_management_call_is_a_503_that_changes_nothing_and_then_recovers(
    faults: Faults, function: str, operation: str, body: dict[str, Any] | None, kind: str
) -> None:
    assert create() == (201, {"id": "ep"})
    before = items()
    endpoint_id = None if function == "list" else ("new" if function == "create" else "ep")
    faults.fail(operation, kind)

    status, answer = call(function, endpoint_id, body=body)
    assert status == 503, answer
    assert set(answer) == {"error"} and "unavailable" in answer["error"]
    assert "Traceback" not in answer["error"]
    assert faults.attempts[operation] == allowed(operation)
    assert items() == before

    faults.clear()
    status, answer = call(function, endpoint_id, body=body)
    assert status == SUCCESS[function], answer


def test_a_cancelled_transaction_that_throttled_is_a_503(faults: Faults) -> None:
    """DynamoDB cancels a whole transaction when one of its items is throttled; nothing is retried blindly."""
    reasons = [{"Code": "None"}, {"Code": "ThrottlingError", "Message": "Throughput exceeds"}, {"Code": "None"}]
    faults.planned["TransactWriteItems"] = [
        dynamodb_error(400, "TransactionCanceledException", CancellationReasons=reasons)
    ]
    status, error = create()
    assert status == 503
    assert "ThrottlingError" in error["error"]
    assert items() == {}


def test_a_transaction_conflict_is_tried_again_by_the_store(faults: Faults) -> None:
    reasons = [{"Code": "None"}, {"Code": "TransactionConflict", "Message": "ongoing"}, {"Code": "None"}]
    conflict = dynamodb_error(400, "TransactionCanceledException", CancellationReasons=reasons)
    faults.planned["TransactWriteItems"] = [conflict, conflict]
    assert create() == (201, {"id": "ep"})
    # Not a botocore retry (a cancellation is final to it): the store ran the transaction three times.
    assert faults.attempts["TransactWriteItems"] == 3
    assert faults.sleeps == []
    assert set(items()) == {"endpoint#ep", "path#hello", "account#jaydoe"}


def test_a_transaction_that_keeps_conflicting_is_a_503(faults: Faults) -> None:
    reasons = [{"Code": "TransactionConflict"}, {"Code": "None"}, {"Code": "None"}]
    faults.planned["TransactWriteItems"] = [
        dynamodb_error(400, "TransactionCanceledException", CancellationReasons=reasons)
    ] * endpoint_store.MAX_ATTEMPTS
    status, error = create()
    assert status == 503
    assert "concurrent" in error["error"]
    assert faults.attempts["TransactWriteItems"] == endpoint_store.MAX_ATTEMPTS
    assert items() == {}


# ---------------------------------------------------------------------------------------------- trigger route


@pytest.fixture
def endpoint(faults: Faults) -> Iterator[Faults]:
    """The `hello` endpoint, served by the sandbox run in-process, with a cold script cache."""
    script_cache.clear()
    sandbox_client.use(InProcessSandbox())
    assert create() == (201, {"id": "ep"})
    CALLER["token"] = token_store.create_token("jaydoe")
    faults.clear()
    yield faults
    sandbox_client.use(None)
    script_cache.clear()


def assert_unavailable(response: dict[str, Any]) -> str:
    assert response["statusCode"] == 503, response
    assert response["multiValueHeaders"]["Retry-After"] == ["30"]
    return error_of(response)


@pytest.mark.parametrize("kind", RETRYABLE)
@pytest.mark.parametrize("operation", ["BatchGetItem", "GetObject"])
def test_the_trigger_route_is_503_with_retry_after_and_recovers(endpoint: Faults, operation: str, kind: str) -> None:
    endpoint.fail(operation, kind)
    error = assert_unavailable(trigger())
    assert ("endpoint store" if operation == "BatchGetItem" else "script store") in error
    assert endpoint.attempts[operation] == allowed(operation)
    endpoint.clear()
    assert served(trigger()) == (200, b"Hello World")


def test_a_script_cut_off_mid_body_is_503_and_recovers(endpoint: Faults) -> None:
    """botocore cannot retry a body it has already handed over; the store reports it as unavailable."""
    endpoint.planned["GetObject"] = [cut_off_body]
    assert "script store unavailable: IncompleteReadError" in assert_unavailable(trigger())
    assert served(trigger()) == (200, b"Hello World")
    endpoint.planned["GetObject"] = [cut_off_body]
    status, error = create("other", "other")
    assert (status, error) == (503, {"error": "script store unavailable: IncompleteReadError"})
    assert "endpoint#other" not in items()


def test_a_warm_trigger_needs_no_script_store_and_a_cold_one_is_503_when_it_fails(endpoint: Faults) -> None:
    """The endpoint is pinned to a version, which never changes: a cached copy is served without asking the
    store, so its outage does not reach warm endpoints; with nothing cached, a failing store is a 503."""
    assert trigger()["statusCode"] == 200
    endpoint.fail("GetObject", "server error")
    assert served(trigger()) == (200, b"Hello World")
    assert endpoint.attempts["GetObject"] == 0
    script_cache.clear()
    assert_unavailable(trigger())
    endpoint.clear()
    assert trigger()["statusCode"] == 200


@pytest.mark.parametrize("operation", ["BatchGetItem", "GetObject"])
def test_a_transient_fault_on_the_trigger_route_is_retried_away(endpoint: Faults, operation: str) -> None:
    endpoint.fail(operation, "throttled", times=allowed(operation) - 1)
    assert served(trigger()) == (200, b"Hello World")
    assert endpoint.attempts[operation] == allowed(operation)


def test_a_trigger_path_too_long_for_a_key_is_404_not_a_failed_read(
    endpoint: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DynamoDB refuses a read whose key is over 2048 bytes (a ValidationException, which moto does not raise
    for reads); the URL's path can be that long, and it names no endpoint. Only the token is read then."""
    dynamodb = client("dynamodb")
    original = dynamodb.batch_get_item
    asked: list[int] = []  # keys of the endpoints table per read

    def batch_get_item(**arguments: Any) -> Any:
        asked.append(len(arguments["RequestItems"].get(os.environ["ENDPOINTS_TABLE"], {}).get("Keys", [])))
        return original(**arguments)

    monkeypatch.setattr(dynamodb, "batch_get_item", batch_get_item)
    for path in ("x" * 2044, "x" * 8000, "\udcff"):
        response = trigger("placeholder", path_parameter=path)
        assert response["statusCode"] == 404, response
        assert error_of(response).startswith("no endpoint at path")
    assert asked == [0, 0, 0]
    # The longest key DynamoDB takes is still looked up.
    assert trigger("x" * 2043)["statusCode"] == 404
    assert asked[-1] == 1


class FailingExecutor:
    """A sandbox that cannot be reached until `healthy` is set."""

    def __init__(self) -> None:
        self.healthy = False
        self.calls = 0

    def run(self, *arguments: Any) -> dict[str, Any]:
        self.calls += 1
        if not self.healthy:
            raise Unavailable("the sandbox could not be reached (TooManyRequestsException)")
        return InProcessSandbox().run(*arguments)


def test_an_unreachable_sandbox_is_503_with_retry_after_and_recovers(endpoint: Faults) -> None:
    sandbox = FailingExecutor()
    sandbox_client.use(sandbox)
    assert "sandbox" in assert_unavailable(trigger())
    sandbox.healthy = True
    assert served(trigger()) == (200, b"Hello World")
    assert sandbox.calls == 2


@pytest.fixture
def lambda_sandbox(endpoint: Faults) -> Faults:
    """The router's real executor, invoking the sandbox function through the Lambda API; the Lambda service
    here is the sandbox's own entry point run in-process, behind the same fault layer as DynamoDB and S3."""

    def invoke(request: AWSPreparedRequest) -> AWSResponse:
        assert isinstance(request.body, bytes | str)
        payload = json.loads(request.body)
        outcome = json.dumps(load_function("sandbox").lambda_handler(payload, FakeContext())).encode()
        return http_response(request, 200, outcome, {"Content-Type": "application/json"})

    endpoint.services["lambda"] = invoke
    sandbox_client.use(sandbox_client.LambdaSandbox("sandbox-function"))
    return endpoint


def test_the_lambda_sandbox_serves_through_the_fault_layer(lambda_sandbox: Faults) -> None:
    assert served(trigger()) == (200, b"Hello World")
    assert lambda_sandbox.attempts["Invoke"] == 1


# Faults after which the sandbox function did not run (or Lambda says it failed): trying again is harmless.
SANDBOX_NOT_RUN = ["throttled", "over capacity", "server error", "unreachable"]


@pytest.mark.parametrize("kind", SANDBOX_NOT_RUN)
def test_a_failing_sandbox_invoke_is_503_with_retry_after_and_recovers(lambda_sandbox: Faults, kind: str) -> None:
    lambda_sandbox.fail("Invoke", kind)
    assert "sandbox" in assert_unavailable(trigger())
    assert lambda_sandbox.attempts["Invoke"] == allowed("Invoke")
    lambda_sandbox.clear()
    assert served(trigger()) == (200, b"Hello World")


@pytest.mark.parametrize("kind", ["connection closed", "read timeout"])
def test_a_sandbox_invoke_lost_in_flight_is_503_with_retry_after(lambda_sandbox: Faults, kind: str) -> None:
    """The sandbox may have run the handler before its answer was lost: the caller gets a 503 to retry,
    and the next request is served."""
    lambda_sandbox.fail("Invoke", kind)
    assert "sandbox" in assert_unavailable(trigger())
    lambda_sandbox.clear()
    assert served(trigger()) == (200, b"Hello World")


def test_a_lost_sandbox_invoke_is_not_sent_twice(lambda_sandbox: Faults) -> None:
    """The sandbox runs a user's handler: one request must never run it twice."""
    lambda_sandbox.fail("Invoke", "read timeout")
    assert trigger()["statusCode"] == 503
    assert lambda_sandbox.attempts["Invoke"] == 1


def test_a_cut_off_sandbox_answer_is_503(lambda_sandbox: Faults) -> None:
    def cut(request: Any) -> Any:
        response = http_response(request, 200, b'{"outcome": "resp', {})
        response.headers["Content-Length"] = "4096"
        return response

    lambda_sandbox.planned["Invoke"] = [cut]
    assert trigger()["statusCode"] == 503


def test_a_garbled_sandbox_answer_is_503(lambda_sandbox: Faults) -> None:
    lambda_sandbox.planned["Invoke"] = [lambda request: http_response(request, 200, b"<html>", {})]
    assert trigger()["statusCode"] == 503


# ---------------------------------------------------------------------------------------------- files API


def save(data: bytes) -> tuple[int, Any]:
    response = files_request("PUT", SCRIPT, body=data)
    return int(response["statusCode"]), json.loads(response["body"])


def versions_of(drive_path: str) -> int:
    return len(script_store.versions(drive_path))


@pytest.mark.parametrize("operation", ["Query", "PutObject"])
def test_a_save_whose_store_fails_is_503_and_stores_nothing(endpoint: Faults, operation: str) -> None:
    before = endpoint_store.get("ep", "jaydoe")
    endpoint.fail(operation, "server error")
    status, body = save(b"def handler(request):\n    return 'new'\n")
    assert status == 503 and "unavailable" in body["error"]
    endpoint.clear()
    assert versions_of(SCRIPT) == 1
    assert endpoint_store.get("ep", "jaydoe") == before
    assert served(trigger()) == (200, b"Hello World")


def test_a_re_pin_that_fails_leaves_the_endpoint_on_its_version_and_says_why(endpoint: Faults) -> None:
    before = endpoint_store.get("ep", "jaydoe")
    assert before is not None
    endpoint.fail("TransactWriteItems", "server error")
    status, body = save(b"def handler(request):\n    return 'new'\n")
    endpoint.clear()
    assert status == 200
    assert body["endpoints"]["updated"] == []
    (kept,) = body["endpoints"]["kept"]
    assert kept["id"] == "ep" and "unavailable" in kept["error"] and str(before.handler_script_version) in kept["error"]
    assert endpoint_store.get("ep", "jaydoe") == before
    assert served(trigger()) == (200, b"Hello World")
