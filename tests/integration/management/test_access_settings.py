"""An endpoint's `auth`, `hmac` and `secrets` through the management functions, on moto."""

from __future__ import annotations

import io
import json
import os
from typing import Any

import pytest

from httpendpoint.core.aws import client
from httpendpoint.stores import endpoint_store
from tests.support.aws import aws_client
from tests.support.events import api_event
from tests.support.functions import FakeContext, load_function

DRIVE_PATH = "/jaydoe/my_repo/fs/Instabase Drive/handlers/hello.py"
GITHUB = {"header": "X-Hub-Signature-256", "secret": "GITHUB_SECRET", "prefix": "sha256="}
SECRET_VALUE = "gh-webhook-secret-value-0123"


@pytest.fixture(autouse=True)
def script(aws: Any) -> None:
    body = b"def handler(request):\n    return 'Hello World'\n"
    aws_client("s3").put_object(Bucket=os.environ["SCRIPT_BUCKET"], Key=DRIVE_PATH.lstrip("/"), Body=body)


def call(function: str, endpoint_id: str = "hook", body: dict[str, Any] | None = None) -> tuple[int, Any]:
    event = api_event(function, path_parameters={"id": endpoint_id}, body=body)
    response = load_function(function).lambda_handler(event, FakeContext())
    return int(response["statusCode"]), json.loads(response["body"])


def create(**settings: Any) -> tuple[int, Any]:
    return call("create", body={"path": "hook", "handler_script_path": DRIVE_PATH, **settings})


def items() -> dict[str, dict[str, Any]]:
    scanned = client("dynamodb").scan(TableName=os.environ["ENDPOINTS_TABLE"], ConsistentRead=True)["Items"]
    return {item["pk"]["S"]: item for item in scanned}


def signed() -> tuple[int, Any]:
    return create(auth="hmac", hmac=GITHUB, secrets={"GITHUB_SECRET": SECRET_VALUE})


def test_a_new_endpoint_is_bearer_without_secrets() -> None:
    assert create() == (201, {"id": "hook"})
    status, endpoint = call("get")
    assert (status, endpoint["auth"], endpoint["secrets"]) == (200, "bearer", [])
    assert "hmac" not in endpoint


def test_a_signed_endpoint_shows_its_settings_and_secret_names_only() -> None:
    assert signed() == (201, {"id": "hook"})
    status, endpoint = call("get")
    assert status == 200
    assert endpoint["auth"] == "hmac"
    assert endpoint["hmac"] == {**GITHUB, "encoding": "hex"}
    assert endpoint["secrets"] == ["GITHUB_SECRET"]
    assert SECRET_VALUE not in json.dumps(endpoint)
    # The router's path item holds the same settings and the value, so a trigger is one read.
    route = endpoint_store.get_route("hook")
    assert route is not None
    assert (route.auth, route.secrets) == ("hmac", {"GITHUB_SECRET": SECRET_VALUE})
    assert route.hmac == endpoint_store.HmacSettings("X-Hub-Signature-256", "GITHUB_SECRET", "hex", "sha256=")
    # Nor is a value in the repr a traceback or a log line would show.
    assert SECRET_VALUE not in repr(route)
    assert SECRET_VALUE not in repr(endpoint_store.get("hook", "jaydoe"))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"auth": "hmac"}, "hmac: required when auth is 'hmac'"),
        ({"auth": "hmac", "hmac": GITHUB}, "hmac.secret: 'GITHUB_SECRET' is not one of the endpoint's secrets"),
        ({"hmac": GITHUB, "secrets": {"GITHUB_SECRET": "x"}}, "hmac: only allowed when auth is 'hmac'"),
        ({"auth": "none", "hmac": GITHUB, "secrets": {"GITHUB_SECRET": "x"}}, "hmac: only allowed when auth is"),
        ({"auth": "HMAC"}, "auth: Input should be 'bearer', 'none' or 'hmac'"),
        ({"secrets": {"AWS_SECRET_ACCESS_KEY": "x"}}, "secrets.AWS_SECRET_ACCESS_KEY.[key]"),
        ({"secrets": {"A": "x" * 4097}}, "secrets.A: String should have at most 4096 characters"),
    ],
)
def test_bad_settings_are_400_naming_the_field_and_nothing_is_written(settings: dict[str, Any], message: str) -> None:
    status, answer = create(**settings)
    assert status == 400
    assert message in answer["error"]
    assert items() == {}


def test_leaving_hmac_mode_drops_the_hmac_settings() -> None:
    signed()
    assert call("update", body={"auth": "none"}) == (200, {"id": "hook"})
    status, endpoint = call("get")
    assert (endpoint["auth"], "hmac" in endpoint, endpoint["secrets"]) == ("none", False, ["GITHUB_SECRET"])
    stored = items()
    assert "hmac" not in stored["endpoint#hook"]
    assert "hmac" not in stored["path#hook"]
    # Back to hmac needs the settings again.
    status, answer = call("update", body={"auth": "hmac"})
    assert (status, answer["error"]) == (400, "hmac: required when auth is 'hmac' (header and secret name)")
    assert call("update", body={"auth": "hmac", "hmac": GITHUB})[0] == 200


def test_hmac_settings_are_refused_unless_auth_is_hmac() -> None:
    create(secrets={"GITHUB_SECRET": "x"})
    before = items()
    status, answer = call("update", body={"hmac": GITHUB})
    assert (status, answer["error"]) == (400, "hmac: only allowed when auth is 'hmac' (auth is 'bearer')")
    assert items() == before


def test_the_hmac_secret_cannot_be_removed_while_in_use() -> None:
    signed()
    before = items()
    status, answer = call("update", body={"secrets": {"GITHUB_SECRET": None}})
    assert status == 400
    assert answer["error"].startswith("hmac.secret: 'GITHUB_SECRET' is not one of")
    assert items() == before


def test_secrets_are_changed_by_name_null_removes_and_the_rest_is_kept() -> None:
    create(secrets={"A": "1", "B": "2", "C": "3"})
    assert call("update", body={"secrets": {"A": None, "B": "two", "D": "4"}})[0] == 200
    assert call("get")[1]["secrets"] == ["B", "C", "D"]
    route = endpoint_store.get_route("hook")
    assert route is not None and route.secrets == {"B": "two", "C": "3", "D": "4"}
    assert call("update", body={"enabled": False})[0] == 200  # an update of something else keeps them
    route = endpoint_store.get_route("hook")
    assert route is not None and route.secrets == {"B": "two", "C": "3", "D": "4"}


def test_at_most_32_secrets_remain() -> None:
    create(secrets={f"S{i}": "x" for i in range(32)})
    status, answer = call("update", body={"secrets": {"ONE_MORE": "x"}})
    assert (status, answer["error"]) == (400, "secrets: an endpoint has at most 32 secrets (this would leave 33)")
    assert call("update", body={"secrets": {"S0": None, "ONE_MORE": "x"}})[0] == 200


def test_an_update_logs_the_secret_names_never_the_values(log_output: io.StringIO) -> None:
    create()
    assert call("update", body={"secrets": {"API_KEY": SECRET_VALUE}})[0] == 200
    assert "API_KEY" in log_output.getvalue()
    assert SECRET_VALUE not in log_output.getvalue()


def test_concurrent_secret_changes_are_both_kept() -> None:
    """Two updates that read the same endpoint: the second to write re-reads and keeps the first's change."""
    create(secrets={"A": "1"})
    interrupted: list[bool] = []

    def meanwhile(changed: endpoint_store.Endpoint) -> None:
        if not interrupted:
            interrupted.append(True)
            endpoint_store.update("hook", "jaydoe", secrets={"B": "2"})

    endpoint_store.update("hook", "jaydoe", secrets={"C": "3"}, check=meanwhile)
    stored = endpoint_store.get("hook", "jaydoe")
    assert stored is not None and dict(stored.secrets) == {"A": "1", "B": "2", "C": "3"}
    route = endpoint_store.get_route("hook")
    assert route is not None and dict(route.secrets) == {"A": "1", "B": "2", "C": "3"}
