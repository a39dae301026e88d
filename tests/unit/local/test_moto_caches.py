"""The local stack's caches of moto's work: an answer served from them is the answer moto would have given."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.responses import ActionResult
from moto.core.serialize import ResponseSerializer

from httpep.local.moto_caches import _plain, cache_serialized_results

TABLE = "things"
ITEM = {
    "pk": {"S": "a"},
    "count": {"N": "3"},
    "enabled": {"BOOL": True},
    "nothing": {"NULL": True},
    "blob": {"B": b"\x00\xffbytes"},
    "tags": {"SS": ["x", "y"]},
    "nested": {"M": {"list": {"L": [{"S": "one"}, {"N": "2"}]}}},
}


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName=TABLE, Item=ITEM)
        yield client


@pytest.fixture
def cached(monkeypatch: pytest.MonkeyPatch) -> None:
    # Put back as it was after the test: other tests run moto in this process.
    monkeypatch.setattr(ActionResult, "execute_result", ActionResult.execute_result)
    cache_serialized_results()


def reads(client: Any) -> list[dict[str, Any]]:
    answers = [
        client.batch_get_item(RequestItems={TABLE: {"Keys": [{"pk": {"S": "a"}}], "ConsistentRead": True}}),
        client.get_item(
            TableName=TABLE,
            Key={"pk": {"S": "a"}},
            ProjectionExpression="pk, #c",
            ExpressionAttributeNames={"#c": "count"},
        ),
        client.put_item(TableName=TABLE, Item={"pk": {"S": "b"}, "count": {"N": "1"}}),
        client.describe_table(TableName=TABLE)["Table"]["KeySchema"],
    ]
    for answer in answers:
        if isinstance(answer, dict):
            answer.pop("ResponseMetadata", None)
    return answers


def test_answers_from_the_cache_are_moto_s_own(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    uncached = reads(dynamodb)
    monkeypatch.setattr(ActionResult, "execute_result", ActionResult.execute_result)
    cache_serialized_results()
    assert reads(dynamodb) == uncached
    serialized: list[object] = []
    serialize = ResponseSerializer.serialize

    def spy(self: ResponseSerializer, result: object) -> Any:
        serialized.append(result)
        return serialize(self, result)

    monkeypatch.setattr(ResponseSerializer, "serialize", spy)
    assert reads(dynamodb) == uncached
    # The projection and the put from the cache; the item with its bytes and the table with its dates are not
    # plain JSON data, and serialized each time.
    assert len(serialized) == 2 and not any(_plain(result) for result in serialized)


def test_a_changed_item_is_read_as_it_now_is(dynamodb: Any, cached: None) -> None:
    key = {"pk": {"S": "b"}}
    dynamodb.put_item(TableName=TABLE, Item={**key, "count": {"N": "1"}})
    assert dynamodb.get_item(TableName=TABLE, Key=key)["Item"]["count"] == {"N": "1"}
    dynamodb.put_item(TableName=TABLE, Item={**key, "count": {"N": "2"}})
    assert dynamodb.get_item(TableName=TABLE, Key=key)["Item"]["count"] == {"N": "2"}
    dynamodb.delete_item(TableName=TABLE, Key=key)
    assert "Item" not in dynamodb.get_item(TableName=TABLE, Key=key)


def test_each_answer_keeps_its_own_request_id(dynamodb: Any, cached: None) -> None:
    ids = {
        dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "a"}})["ResponseMetadata"]["RequestId"] for _ in range(3)
    }
    assert len(ids) == 3


def test_errors_are_answered_as_errors(dynamodb: Any, cached: None) -> None:
    for _ in range(2):
        with pytest.raises(dynamodb.exceptions.ResourceNotFoundException):
            dynamodb.get_item(TableName="missing", Key={"pk": {"S": "a"}})


class Named(dict[str, Any]):
    pass


class Text(str):
    pass


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        ({"a": [1, 2.5, "x", True, None, {"b": []}]}, True),
        ({"a": b"bytes"}, False),
        ({"a": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)}, False),
        ({"a": (1, 2)}, False),
        ({1: "int key"}, False),
        (Named(a=1), False),  # the serializer may look at an object's class
        ({"a": Text("x")}, False),
        (ValueError("an error"), False),
    ],
)
def test_only_plain_json_data_is_cached(value: object, plain: bool) -> None:
    assert _plain(value) is plain
