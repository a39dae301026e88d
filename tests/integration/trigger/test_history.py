"""The router's invocation records on moto (sandbox in-process): one per trigger that resolved to an endpoint."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from httpendpoint.core.errors import Unavailable
from httpendpoint.stores import endpoint_store
from httpendpoint.trigger import history, sandbox_client, script_cache
from tests.integration.trigger.test_router import SCRIPTS, create, put_script, trigger
from tests.support.aws import aws_client
from tests.support.events import api_event
from tests.support.functions import FakeContext, load_function
from tests.support.sandbox import InProcessSandbox

REQUEST_ID = api_event("router")["requestContext"]["requestId"]


@pytest.fixture(autouse=True)
def chatty(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ENDPOINT_TIMEOUT", "2")
    script_cache.clear()
    sandbox_client.use(InProcessSandbox())
    create("chatty-id", "chatty", put_script("chatty.py", (SCRIPTS / "chatty.py").read_bytes()))
    yield
    sandbox_client.use(None)
    script_cache.clear()


def records(account: str = "jaydoe") -> list[dict[str, Any]]:
    """Every record in the table, as stored (whatever the reading side would filter), oldest first."""
    items = aws_client("dynamodb").scan(TableName=os.environ["INVOCATIONS_TABLE"])["Items"]
    found = [
        {name: next(iter(value.values())) for name, value in item.items()}
        for item in items
        if item["pk"]["S"].startswith(f"{account}#")
    ]
    return sorted(found, key=lambda record: record["sk"])


def only_record(response: dict[str, Any]) -> dict[str, Any]:
    (record,) = records()
    assert record["pk"] == "jaydoe#chatty-id"
    assert record["request_id"] == REQUEST_ID
    assert record["status"] == str(response["statusCode"])
    assert record["method"] == "GET"
    assert float(record["duration_ms"]) > 0
    at = datetime.fromisoformat(record["time"])
    assert at.tzinfo is not None and at.utcoffset() == UTC.utcoffset(at)
    assert abs(at.timestamp() - time.time()) < 120
    return record


def test_a_successful_trigger_records_its_output_and_no_error() -> None:
    response = trigger("chatty")
    assert response["statusCode"] == 200
    record = only_record(response)
    assert "error" not in record  # stored absent: read back as null
    assert record["output"] == "stdout line of ok\nstderr line of ok\n"


def test_a_fault_records_the_error_and_the_output_then_the_traceback() -> None:
    response = trigger("chatty", query={"kind": ["raise"]})
    assert response["statusCode"] == 500
    record = only_record(response)
    assert record["error"] == "ValueError: the handler gave up"
    output = record["output"]
    assert output.startswith("stdout line of raise\nstderr line of raise\n")
    assert output.index("stderr line of raise") < output.index("Traceback") < output.index("the handler gave up")


def test_a_timeout_is_recorded_with_what_the_handler_printed() -> None:
    response = trigger("chatty", query={"kind": ["sleep"]})
    assert response["statusCode"] == 504
    record = only_record(response)
    assert "did not finish" in record["error"]
    assert "stdout line of sleep" in record["output"]


def test_a_disabled_endpoint_is_recorded() -> None:
    event = api_event("update", path_parameters={"id": "chatty-id"}, body={"enabled": False})
    assert load_function("update").lambda_handler(event, FakeContext())["statusCode"] == 200
    response = trigger("chatty")
    assert response["statusCode"] == 503
    record = only_record(response)
    assert "disabled" in record["error"] and record["output"] == ""


def test_a_sandbox_that_fails_is_recorded() -> None:
    class Broken:
        def run(self, payload: dict[str, Any], encoded: bytes, tenant: str) -> dict[str, Any]:
            raise Unavailable("the sandbox could not be invoked")

    sandbox_client.use(Broken())
    response = trigger("chatty")
    assert response["statusCode"] == 503
    assert only_record(response)["error"] == "the sandbox could not be invoked"


def test_only_the_last_4096_characters_of_the_output_are_kept() -> None:
    trigger("chatty", query={"kind": ["long"]})
    (record,) = records()
    assert len(record["output"]) == history.OUTPUT_LIMIT
    assert record["output"].endswith("y\nthe last line\n")


def test_a_path_nobody_owns_and_another_accounts_endpoint_are_not_recorded() -> None:
    assert trigger("nothing-here")["statusCode"] == 404
    assert trigger("chatty", account="someone-else")["statusCode"] == 404
    assert records() == [] and records("someone-else") == []


def test_a_request_without_a_token_is_not_recorded() -> None:
    """No valid token for a bearer endpoint: refused, and nothing is written for anyone."""
    for authorization in ([], ["Bearer hep_unknown"], ["Basic amF5ZG9lOng="]):
        response = trigger("chatty", headers={"Authorization": authorization})
        assert response["statusCode"] == 401
    assert aws_client("dynamodb").scan(TableName=os.environ["INVOCATIONS_TABLE"])["Items"] == []


def test_with_the_history_off_nothing_is_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOCATION_HISTORY", "off")
    assert trigger("chatty")["statusCode"] == 200
    assert records() == []


def test_a_failed_write_leaves_the_response_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOCATIONS_TABLE", "no-such-table")
    response = trigger("chatty")
    assert response["statusCode"] == 200
    assert response["body"] == "done"


# ---------------------------------------------------------------------------------------------- masking


def recorded_with_secrets(response: dict[str, Any], output: str, secrets: tuple[str, ...]) -> dict[str, Any]:
    route = endpoint_store.get_route("chatty")
    assert route is not None
    access = {
        "request_id": "req-1",
        "method": "POST",
        "endpoint_id": route.endpoint_id,
        "account": route.account,
        history.OUTPUT: output,
    }
    history.record(access, response, time.perf_counter(), secrets)
    assert history.OUTPUT not in access  # never reaches the metrics line
    (record,) = records()
    return record


def test_secret_values_are_masked_in_the_output_and_the_error() -> None:
    error = {"statusCode": 500, "body": json.dumps({"error": "KeyError: 's3cr3t-value'"}), "isBase64Encoded": False}
    record = recorded_with_secrets(error, "token=s3cr3t-value and hunter2\n", ("s3cr3t-value", "hunter2"))
    assert record["output"] == "token=*** and ***\n"
    assert record["error"] == "KeyError: '***'"


def test_a_secret_cut_by_the_4096_character_tail_leaves_no_piece_behind() -> None:
    secret = "SECRETVALUE-0123456789"
    # The tail would start in the middle of the secret if it were cut before masking.
    output = secret + "z" * (history.OUTPUT_LIMIT - 5)
    record = recorded_with_secrets({"statusCode": 200, "body": "ok"}, output, (secret,))
    # Cut first, then masked, it would keep the secret's last characters ("6789").
    assert record["output"] == "***" + "z" * (history.OUTPUT_LIMIT - 5)


def test_a_handlers_own_answer_has_no_error_unless_it_is_a_json_error() -> None:
    ok = {"statusCode": 200, "body": json.dumps({"error": "not an error"})}
    assert history.error_of(ok) is None
    assert history.error_of({"statusCode": 400, "body": json.dumps({"error": "bad input"})}) == "bad input"
    assert history.error_of({"statusCode": 404, "body": ""}) is None
    assert history.error_of({"statusCode": 500, "body": "[1]"}) is None
    assert history.error_of({"statusCode": 500, "body": "eyJlcnJvciI6ICJ4In0=", "isBase64Encoded": True}) is None


@pytest.mark.parametrize("epoch", [0.0, 1764515498.7789, 1764515498.0004, 1764515499.9996, 4102444800.5])
def test_record_times_are_written_as_endpoint_creation_times_are(epoch: float) -> None:
    """The history reads `sk > created_at` as strings: both must be the same ISO 8601 spelling."""
    expected = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    assert history.iso_time(epoch) == expected
