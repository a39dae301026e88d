"""The embedded AWS through the stack's socket answers as moto's own server answers over HTTP."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from flask import Flask
from moto import mock_aws
from moto.moto_server import werkzeug_app
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.test import Client

from httpep.local.channel import StackChannel
from httpep.local.moto_services import MotoServices
from httpep.local.server import ThreadedServer
from tests.support.local import aws_client_through, aws_session

# Headers that differ between any two answers (a request id, the time), or that only an HTTP server adds.
VOLATILE_HEADERS = {"x-amzn-requestid", "x-amz-request-id", "x-amz-id-2", "date", "last-modified"}
VOLATILE_HEADERS |= {"server", "via", "connection"}
# Times parsed out of an answer, compared apart: the same to within MOST_APART.
VOLATILE_FIELDS = {"LastModified"}
MOST_APART = timedelta(seconds=1)
TABLE = "things"
BUCKET = "drive"


class NoInvokes:
    def call(self, function_identifier: str, event: str, tenant_id: str | None = None) -> dict[str, Any]:
        raise AssertionError("no invoke is expected here")


@dataclass
class Paths:
    """A client of each kind on the same moto state: over HTTP to moto's own server, through the socket."""

    http: Callable[[str], Any]
    socket: Callable[[str], Any]


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> Iterator[Paths]:
    monkeypatch.setitem(vars(werkzeug_app), "DISABLE_GLOBAL_CORS", True)  # as the stack serves moto (server.py)
    with mock_aws():  # moto's state, new for this test and gone after it
        dispatcher = DomainDispatcherApplication(create_backend_app)
        server = ThreadedServer(dispatcher, "127.0.0.1", 0, 4)
        channel = StackChannel(NoInvokes(), MotoServices(dispatcher))
        config = Config(retries={"mode": "standard", "total_max_attempts": 1})
        http_endpoint = f"http://127.0.0.1:{server.port}"
        try:
            yield Paths(
                http=lambda service: aws_session().client(service, endpoint_url=http_endpoint, config=config),  # type: ignore[call-overload]
                socket=lambda service: aws_client_through(channel.path, service, attempts=1),
            )
        finally:
            channel.stop()
            server.stop()


def _answer(call: Callable[[], Any]) -> tuple[dict[str, Any], list[Any]]:
    """An operation's answer as botocore parsed it, without what differs between any two answers, and the times
    in it (its VOLATILE_FIELDS, in order)."""
    try:
        parsed = dict(call())
    except ClientError as error:
        parsed = dict(error.response)
    metadata = parsed.pop("ResponseMetadata", {})
    if "Body" in parsed:
        parsed["Body"] = parsed["Body"].read()
    headers = {name: value for name, value in metadata.get("HTTPHeaders", {}).items() if name not in VOLATILE_HEADERS}
    times: list[Any] = []
    return {"status": metadata.get("HTTPStatusCode"), "headers": headers, **_steady(parsed, times)}, times


def _steady(value: Any, times: list[Any]) -> Any:
    """`value` without its VOLATILE_FIELDS, at any depth (a listing's entries have their own), which go to
    `times`."""
    if isinstance(value, dict):
        times += [item for name, item in value.items() if name in VOLATILE_FIELDS]
        return {name: _steady(item, times) for name, item in value.items() if name not in VOLATILE_FIELDS}
    if isinstance(value, list):
        return [_steady(item, times) for item in value]
    return value


def _same(paths: Paths, service: str, operation: str, **arguments: Any) -> dict[str, Any]:
    # A copy for each: botocore may change what it is given (a body becomes a file, and is read).
    over_http, http_times = _answer(lambda: getattr(paths.http(service), operation)(**copy.deepcopy(arguments)))
    through_socket, socket_times = _answer(
        lambda: getattr(paths.socket(service), operation)(**copy.deepcopy(arguments))
    )
    assert through_socket == over_http, operation
    # The same times, to the second either way (CI once saw two reads of one object a second apart).
    assert len(socket_times) == len(http_times), operation
    assert all(abs(a - b) <= MOST_APART for a, b in zip(socket_times, http_times, strict=True)), operation
    return through_socket


def test_dynamodb_answers_the_same_through_the_socket(paths: Paths) -> None:
    paths.http("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    item = {"pk": {"S": "jaydoe#é"}, "sk": {"S": "a"}, "blob": {"B": bytes(range(256))}, "n": {"N": "3"}}
    key = {"pk": item["pk"], "sk": item["sk"]}
    assert _same(paths, "dynamodb", "put_item", TableName=TABLE, Item=item)["status"] == 200
    assert _same(paths, "dynamodb", "get_item", TableName=TABLE, Key=key)["Item"] == item
    _same(paths, "dynamodb", "batch_get_item", RequestItems={TABLE: {"Keys": [key], "ConsistentRead": True}})
    _same(
        paths,
        "dynamodb",
        "query",
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": item["pk"]},
    )
    _same(paths, "dynamodb", "describe_table", TableName=TABLE)
    refused = _same(
        paths, "dynamodb", "put_item", TableName=TABLE, Item=item, ConditionExpression="attribute_not_exists(pk)"
    )
    assert (refused["status"], refused["Error"]["Code"]) == (400, "ConditionalCheckFailedException")
    missing = _same(paths, "dynamodb", "get_item", TableName="nothing", Key=key)
    assert missing["Error"]["Code"] == "ResourceNotFoundException"


def test_s3_answers_the_same_through_the_socket(paths: Paths) -> None:
    paths.http("s3").create_bucket(Bucket=BUCKET)
    # (No empty body: over HTTP, moto's server never answers its PutObject's Expect: 100-continue.)
    keys = ["jaydoe/a b/é+x%2Fy?.py", "jaydoe//double.py", "jaydoe/one.py"]
    for key, body in zip(keys, [bytes(range(256)) * 64, b"print('hi')\n", b"1"], strict=True):
        _same(paths, "s3", "put_object", Bucket=BUCKET, Key=key, Body=body)
        assert _same(paths, "s3", "get_object", Bucket=BUCKET, Key=key)["Body"] == body
        _same(paths, "s3", "head_object", Bucket=BUCKET, Key=key)
    _same(paths, "s3", "put_object", Bucket=BUCKET, Key="jaydoe/file.py", Body=io.BytesIO(b"x = 1\n"))
    _same(paths, "s3", "list_objects_v2", Bucket=BUCKET, Prefix="jaydoe/a ")
    _same(paths, "s3", "get_object_tagging", Bucket=BUCKET, Key=keys[0])
    assert _same(paths, "s3", "get_object", Bucket=BUCKET, Key="jaydoe/none.py")["status"] == 404
    assert _same(paths, "s3", "head_object", Bucket=BUCKET, Key="jaydoe/none.py")["status"] == 404
    assert _same(paths, "s3", "list_objects_v2", Bucket="no-such-bucket")["Error"]["Code"] == "NoSuchBucket"
    assert _same(paths, "s3", "delete_object", Bucket=BUCKET, Key="jaydoe/none.py")["status"] == 204
    policy = {
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{BUCKET}"}]
    }
    _same(paths, "s3", "put_bucket_policy", Bucket=BUCKET, Policy=json.dumps(policy))
    _same(paths, "s3", "get_bucket_policy", Bucket=BUCKET)


def test_other_services_go_through_moto_s_application_as_they_are(paths: Paths) -> None:
    assert _same(paths, "sts", "get_caller_identity")["Account"]


def test_a_request_no_route_of_the_service_takes_is_refused_as_moto_refuses_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(vars(werkzeug_app), "DISABLE_GLOBAL_CORS", True)
    headers = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=t/20261130/us-east-1/dynamodb/aws4_request, Signature=0",
        "X-Amz-Target": "DynamoDB_20120810.ListTables",
    }
    with mock_aws():
        dispatcher = DomainDispatcherApplication(create_backend_app)
        answers = [
            Client(app).open("/no/such/route", method=method, headers=headers)
            for app in (dispatcher, MotoServices(dispatcher))
            for method in ("POST", "PATCH")
        ]
    assert [answer.status_code for answer in answers] == [404, 404, 404, 404]
    assert [answer.get_data() for answer in answers[:2]] == [answer.get_data() for answer in answers[2:]]


def test_dynamodb_and_s3_requests_skip_flasks_request_handling_and_others_do_not(
    paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    handled: list[str] = []
    wsgi_app = Flask.wsgi_app

    def counted(self: Flask, environ: dict[str, Any], start_response: Any) -> Any:
        handled.append(str(getattr(self, "service", "")))
        return wsgi_app(self, environ, start_response)

    monkeypatch.setattr(Flask, "wsgi_app", counted)
    paths.socket("dynamodb").list_tables()
    paths.socket("s3").list_buckets()
    assert handled == []
    paths.socket("sts").get_caller_identity()
    assert handled == ["sts"]
