"""The five management functions on moto: every status code of the contract, consistency and isolation."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from botocore.exceptions import ClientError
from moto.dynamodb.models import DynamoDBBackend

from httpendpoint.core.aws import client
from httpendpoint.core.errors import BadRequest, NotFound, Unavailable
from httpendpoint.core.observability import metrics
from httpendpoint.management import operations
from httpendpoint.management.models import CreateRequest, UpdateRequest, parse_list_query
from httpendpoint.stores import endpoint_store, script_store, token_store
from httpendpoint.stores.endpoint_store import RouteRecord
from tests.support.events import api_event, load_event
from tests.support.functions import FakeContext, load_function
from tests.support.repo import FUNCTIONS_DIR

HELLO = b"def handler(request):\n    return 'Hello World'\n"
SEED_DRIVE_PATH = "/jaydoe/my_repo/fs/Instabase Drive/handlers/hello.py"
OTHER_DRIVE_PATH = "/jaydoe/my_repo/fs/Instabase Drive/handlers/other.py"


@pytest.fixture
def scripts(aws: Any) -> None:
    """moto with the seed's script (and a second one) in jaydoe's and someone-else's drives."""
    script_store.put(SEED_DRIVE_PATH, HELLO)
    script_store.put(OTHER_DRIVE_PATH, HELLO)
    script_store.put("/someone-else/handlers/hello.py", HELLO)


def invoke(event: dict[str, Any], function: str) -> tuple[int, Any]:
    response = load_function(function).lambda_handler(event, FakeContext())
    assert response["multiValueHeaders"]["Content-Type"] == ["application/json"], response
    return int(response["statusCode"]), json.loads(response["body"])


def call(
    function: str,
    endpoint_id: str | None = "my-endpoint-id",
    *,
    body: bytes | str | dict[str, Any] | None = None,
    query: dict[str, list[str]] | None = None,
    headers: dict[str, list[str]] | None = None,
    account: str = "jaydoe",
) -> tuple[int, Any]:
    event = api_event(
        function,
        path_parameters=None if endpoint_id is None else {"id": endpoint_id},
        body=body,
        query=query,
        headers=headers,
        account=account,
    )
    return invoke(event, function)


def create(
    endpoint_id: str = "my-endpoint-id",
    path: str = "helloworld",
    handler_script_path: str = SEED_DRIVE_PATH,
    account: str = "jaydoe",
) -> tuple[int, Any]:
    return call("create", endpoint_id, body={"path": path, "handler_script_path": handler_script_path}, account=account)


def listing(account: str = "jaydoe", /, **query: str | list[str]) -> tuple[int, Any]:
    """The list route for `account`, with keyword arguments as query parameters (`account=` too)."""
    values = {name: value if isinstance(value, list) else [value] for name, value in query.items()}
    return call("list", None, query=values, account=account)


def items() -> dict[str, dict[str, Any]]:
    """Every item of the endpoints table, by pk, as plain values."""
    table = os.environ["ENDPOINTS_TABLE"]
    scanned = client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
    return {item["pk"]["S"]: {key: next(iter(value.values())) for key, value in item.items()} for item in scanned}


def throttle(operation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make one DynamoDB operation of the service's own client fail as a throttled request does."""

    def throttled(**_: Any) -> Any:
        error = {"Error": {"Code": "ThrottlingException", "Message": "Rate of requests exceeds the allowed throughput"}}
        raise ClientError(error, operation)  # type: ignore[arg-type]

    monkeypatch.setattr(client("dynamodb"), operation, throttled)


def current_version(drive_path: str = SEED_DRIVE_PATH) -> str:
    return script_store.fetch(drive_path).version


def put_script(name: str, source: bytes, account: str = "jaydoe") -> str:
    drive_path = f"/{account}/my_repo/fs/Instabase Drive/handlers/{name}"
    script_store.put(drive_path, source)
    return drive_path


# ---------------------------------------------------------------------------------------------- create


@pytest.mark.usefixtures("scripts")
class TestCreate:
    def test_201_with_the_id_and_the_documented_item_layout(self) -> None:
        assert create() == (201, {"id": "my-endpoint-id"})
        stored = items()
        endpoint = stored["endpoint#my-endpoint-id"]
        assert endpoint["id"] == "my-endpoint-id"
        assert endpoint["account"] == "jaydoe"
        assert endpoint["path"] == "helloworld"
        assert endpoint["handler_script_path"] == SEED_DRIVE_PATH
        assert endpoint["enabled"] is True
        assert endpoint["created_at"] == endpoint["updated_at"]
        assert endpoint["created_at"].endswith("+00:00")
        # Pinned to the version that was checked: the file's current one.
        (current, *_) = script_store.versions(SEED_DRIVE_PATH)
        assert endpoint["handler_script_version"] == current.version
        assert endpoint["script"] == endpoint_store.script_key(SEED_DRIVE_PATH)
        assert stored["path#helloworld"] == {
            "pk": "path#helloworld",
            "endpoint_id": "my-endpoint-id",
            "account": "jaydoe",
            "handler_script_path": SEED_DRIVE_PATH,
            "handler_script_version": current.version,
            "enabled": True,
            "auth": "bearer",
        }
        assert stored["account#jaydoe"] == {"pk": "account#jaydoe", "endpoint_count": "1"}
        assert set(stored) == {"endpoint#my-endpoint-id", "path#helloworld", "account#jaydoe"}

    def test_the_sample_event_with_its_base64_body(self) -> None:
        event = load_event("create")
        assert event["isBase64Encoded"] is True
        assert invoke(event, "create") == (201, {"id": "my-endpoint-id"})

    def test_a_body_that_is_not_base64_encoded(self) -> None:
        event = api_event("create", path_parameters={"id": "plain"})
        event["body"] = json.dumps({"path": "plain", "handler_script_path": SEED_DRIVE_PATH})
        event["isBase64Encoded"] = False
        assert invoke(event, "create") == (201, {"id": "plain"})

    def test_an_id_in_the_body_equal_to_the_urls(self) -> None:
        body = {"id": "my-endpoint-id", "path": "helloworld", "handler_script_path": SEED_DRIVE_PATH}
        assert call("create", body=body) == (201, {"id": "my-endpoint-id"})

    def test_an_id_in_the_body_different_from_the_urls_is_400(self) -> None:
        body = {"id": "another-id", "path": "helloworld", "handler_script_path": SEED_DRIVE_PATH}
        status, error = call("create", body=body)
        assert status == 400
        assert error["error"].startswith("id:")
        assert items() == {}

    def test_a_duplicate_id_is_409(self) -> None:
        create()
        status, body = create(path="elsewhere")
        assert status == 409
        assert "id" in body["error"] and "my-endpoint-id" in body["error"]

    def test_a_duplicate_path_is_409(self) -> None:
        create()
        status, body = create(endpoint_id="second")
        assert status == 409
        assert "path" in body["error"] and "helloworld" in body["error"]

    def test_ids_and_paths_are_unique_across_accounts(self) -> None:
        create()
        taken_id = create(path="theirs", handler_script_path="/someone-else/handlers/hello.py", account="someone-else")
        taken_path = create(
            endpoint_id="theirs", handler_script_path="/someone-else/handlers/hello.py", account="someone-else"
        )
        assert taken_id[0] == 409 and "id" in taken_id[1]["error"]
        assert taken_path[0] == 409 and "path" in taken_path[1]["error"]

    def test_a_failed_create_leaves_nothing_behind(self) -> None:
        create()
        before = items()
        assert create(endpoint_id="second")[0] == 409  # path taken: the id claim is rolled back
        assert create(path="free")[0] == 409  # id taken: the path claim is rolled back
        assert items() == before
        assert "endpoint#second" not in before and "path#free" not in before

    def test_sixteen_parallel_creates_of_one_path_have_one_winner(
        self, atomic_moto_transactions: None, quiet_metrics: None
    ) -> None:
        handlers = [container("create", n) for n in range(16)]
        events = [
            api_event(
                "create",
                path_parameters={"id": f"racer-{n}"},
                body={"path": "contested", "handler_script_path": SEED_DRIVE_PATH},
            )
            for n in range(16)
        ]
        barrier = threading.Barrier(16)

        def race(n: int) -> tuple[int, Any]:
            barrier.wait()
            response = handlers[n](events[n])
            return int(response["statusCode"]), json.loads(response["body"])

        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(race, range(16)))
        assert sorted(status for status, _ in results) == [201] + [409] * 15
        winner = next(body["id"] for status, body in results if status == 201)
        assert all("path 'contested' is already taken" in body["error"] for status, body in results if status == 409)
        stored = items()
        assert set(stored) == {f"endpoint#{winner}", "path#contested", "account#jaydoe"}
        assert stored["path#contested"]["endpoint_id"] == winner
        assert stored["account#jaydoe"]["endpoint_count"] == "1"

    @pytest.mark.parametrize(
        "endpoint_id",
        ["-leading-dash", ".leading-dot", "has space", "slash%2F", "x" * 129, "list", "u", "ünïcode"],
    )
    def test_an_invalid_id_in_the_url_is_400(self, endpoint_id: str) -> None:
        status, body = create(endpoint_id=endpoint_id)
        assert status == 400
        assert body["error"].startswith("id in the URL:")
        assert items() == {}

    def test_the_longest_id_and_path_are_fine(self) -> None:
        assert create(endpoint_id="A" + "b.-_9" * 25 + "xy", path="p" * 128)[0] == 201

    @pytest.mark.parametrize(
        ("body", "field", "message"),
        [
            ({"handler_script_path": SEED_DRIVE_PATH}, "path", "is required"),
            ({"path": "x"}, "handler_script_path", "is required"),
            ({"path": "", "handler_script_path": SEED_DRIVE_PATH}, "path", "may not be empty"),
            ({"path": "a/b", "handler_script_path": SEED_DRIVE_PATH}, "path", "letters, digits"),
            ({"path": "a.b", "handler_script_path": SEED_DRIVE_PATH}, "path", "letters, digits"),
            ({"path": "p" * 129, "handler_script_path": SEED_DRIVE_PATH}, "path", "1-128"),
            ({"path": "x", "handler_script_path": ""}, "handler_script_path", "may not be empty"),
            ({"path": "x", "handler_script_path": "jaydoe/a.py"}, "handler_script_path", "absolute"),
            ({"path": "x", "handler_script_path": "/jaydoe/a.txt"}, "handler_script_path", ".py"),
            ({"path": "x", "handler_script_path": "/jaydoe/../a.py"}, "handler_script_path", ".."),
            ({"path": "x", "handler_script_path": "/jaydoe//a.py"}, "handler_script_path", "empty segments"),
            ({"path": "x", "handler_script_path": "/jaydoe/" + "a" * 1020 + ".py"}, "handler_script_path", "1024"),
            ({"path": 7, "handler_script_path": SEED_DRIVE_PATH}, "path", "must be a string"),
            ({"path": "x", "handler_script_path": ["/jaydoe/a.py"]}, "handler_script_path", "must be a string"),
            ({"path": None, "handler_script_path": SEED_DRIVE_PATH}, "path", "null"),
            ({"id": 5, "path": "x", "handler_script_path": SEED_DRIVE_PATH}, "id", "must be a string"),
            ({"path": "x", "handler_script_path": SEED_DRIVE_PATH, "account": "jaydoe"}, "account", "not a known"),
            ({"path": "x", "handler_script_path": SEED_DRIVE_PATH, "state": "ENABLED"}, "state", "not a known"),
            ({"path": "x", "handler_script_path": SEED_DRIVE_PATH, "enabled": True}, "enabled", "not a known"),
            ({"path": "x", "handler_script_path": SEED_DRIVE_PATH, "created_at": "now"}, "created_at", "not a known"),
        ],
    )
    def test_an_invalid_body_is_400_naming_the_field(self, body: dict[str, Any], field: str, message: str) -> None:
        status, error = call("create", body=body)
        assert status == 400
        assert f"{field}: " in error["error"] and message in error["error"]
        assert items() == {}

    @pytest.mark.parametrize(
        ("raw", "message"),
        [
            (b'{"path": "x"', "body: is not valid JSON"),
            (b"[1, 2]", "body: must be a JSON object"),
            (b'"a string"', "body: must be a JSON object"),
            (b"42", "body: must be a JSON object"),
            (b"null", "body: a JSON object is required"),
            (b"\xff\xfe", "body: is not valid UTF-8"),
        ],
    )
    def test_a_body_that_is_not_a_json_object_is_400(self, raw: bytes, message: str) -> None:
        status, error = call("create", body=raw)
        assert status == 400
        assert error["error"].startswith(message)

    def test_no_body_at_all_is_400(self) -> None:
        assert call("create", body=None) == (400, {"error": "body: a JSON object is required"})

    @pytest.mark.parametrize(
        "content_type",
        [
            "text/plain",
            "application/xml",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "multipart/form-data; boundary=xyz",
        ],
    )
    def test_a_body_that_is_not_sent_as_json_is_400(self, content_type: str) -> None:
        body = {"path": "x", "handler_script_path": SEED_DRIVE_PATH}
        status, error = call("create", body=body, headers={"Content-Type": [content_type]})
        assert status == 400
        assert "application/json" in error["error"]

    def test_application_json_with_a_charset_is_fine(self) -> None:
        body = {"path": "x", "handler_script_path": SEED_DRIVE_PATH}
        headers = {"Content-Type": ["application/json; charset=utf-8"]}
        assert call("create", body=body, headers=headers) == (201, {"id": "my-endpoint-id"})

    @pytest.mark.parametrize(
        "handler_script_path", ["/someone-else/handlers/hello.py", "/jaydoe2/a.py", "/hello.py", "/JAYDOE/a.py"]
    )
    def test_a_script_outside_the_callers_drive_is_403(self, handler_script_path: str) -> None:
        status, error = create(handler_script_path=handler_script_path)
        assert status == 403
        assert "/jaydoe/" in error["error"]
        assert items() == {}

    @pytest.mark.parametrize(
        ("handler_script_path", "named"),
        [
            ("/jaydoe/d/o\ud800k.py", "lone surrogate"),
            ("/jaydoe/d/o\x85k.py", "control character"),
            ("/jaydoe/d/o\u2028k.py", "control character"),
        ],
    )
    def test_a_script_path_no_drive_can_hold_is_400_on_create_and_update(
        self, handler_script_path: str, named: str
    ) -> None:
        status, error = create(handler_script_path=handler_script_path)
        assert status == 400 and named in error["error"], error
        assert items() == {}
        assert create()[0] == 201
        before = items()
        status, error = call("update", body={"handler_script_path": handler_script_path})
        assert status == 400 and named in error["error"], error
        assert items() == before

    def test_a_missing_script_is_400(self) -> None:
        status, error = create(handler_script_path="/jaydoe/nowhere/missing.py")
        assert status == 400
        assert "/jaydoe/nowhere/missing.py does not exist" in error["error"]

    def test_a_script_over_the_size_limit_is_400_naming_the_limit(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MAX_SCRIPT_BYTES", "1024")
        big = put_script("big.py", HELLO + b"#" * 1024)
        fits = put_script("fits.py", HELLO + b"#" * (1024 - len(HELLO)))
        status, error = create(handler_script_path=big)
        assert status == 400
        assert "1024 bytes" in error["error"]
        assert create(handler_script_path=fits)[0] == 201

    def test_a_syntax_error_is_400_with_its_line(self) -> None:
        broken = put_script("broken.py", b"import json\n\ndef handler(request)\n    return 'x'\n")
        status, error = create(handler_script_path=broken)
        assert status == 400
        assert "syntax error at line 3" in error["error"]
        assert broken in error["error"]

    def test_an_error_found_only_by_the_compiler_is_400(self) -> None:
        broken = put_script("compile.py", b"def handler(request):\n    return 1\n\nreturn 2\n")
        status, error = create(handler_script_path=broken)
        assert status == 400
        assert "line 4" in error["error"] and "'return' outside function" in error["error"]

    @pytest.mark.parametrize(
        ("source", "message"),
        [
            (b"def handle(request):\n    return 'x'\n", "does not define a top-level function"),
            (b"class C:\n    def handler(self, request):\n        return 'x'\n", "does not define a top-level"),
            (b"handler = lambda request: 'x'\n", "does not define a top-level function"),
            (b"async def handler(request):\n    return 'x'\n", "not 'async def'"),
            (b"def handler():\n    return 'x'\n", "only required argument"),
            (b"def handler(request, extra):\n    return 'x'\n", "only required argument"),
            (b"def handler(request, *, flag):\n    return 'x'\n", "only required argument"),
            (b"def handler(request):\n    return 'x'\x00\n", "null bytes"),
        ],
    )
    def test_a_script_without_a_usable_handler_is_400(self, source: bytes, message: str) -> None:
        status, error = create(handler_script_path=put_script("bad.py", source))
        assert status == 400
        assert message in error["error"]

    def test_the_script_is_compiled_but_never_run(self, tmp_path: Path) -> None:
        marker = tmp_path / "ran"
        source = f"open({str(marker)!r}, 'w').write('ran')\n\ndef handler(request):\n    return 'x'\n"
        assert create(handler_script_path=put_script("side_effect.py", source.encode()))[0] == 201
        assert not marker.exists()

    def test_the_per_account_limit_is_409(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MAX_ENDPOINTS_PER_ACCOUNT", "2")
        assert create("one", "one")[0] == 201
        assert create("two", "two")[0] == 201
        status, error = create("three", "three")
        assert status == 409
        assert "maximum of 2 endpoints" in error["error"]
        assert "endpoint#three" not in items() and "path#three" not in items()
        # Another account has its own count; a delete makes room again.
        assert create("theirs", "theirs", "/someone-else/handlers/hello.py", account="someone-else")[0] == 201
        assert call("delete", "one")[0] == 200
        assert create("three", "three")[0] == 201
        assert items()["account#jaydoe"]["endpoint_count"] == "2"

    def test_a_dynamodb_failure_is_503_and_leaves_no_record(self, monkeypatch: pytest.MonkeyPatch) -> None:
        throttle("transact_write_items", monkeypatch)
        status, error = create()
        assert status == 503
        assert "ThrottlingException" in error["error"]
        assert items() == {}

    def test_a_script_store_failure_is_503(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def unavailable(**_: Any) -> Any:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow down"}}, "GetObject")

        monkeypatch.setattr(client("s3"), "get_object", unavailable)
        assert create()[0] == 503
        assert items() == {}

    def test_an_unexpected_error_is_a_json_500_without_a_trace(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def broken(**_: Any) -> Any:
            raise RuntimeError("secret internals")

        monkeypatch.setattr(client("dynamodb"), "transact_write_items", broken)
        assert create() == (500, {"error": "internal error"})


def container(function: str, n: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A private copy of a function, as in its own Lambda execution environment.

    Lambda gives a process one event at a time and Powertools relies on it: the resolver keeps the current
    event in a class attribute and the route's state on the instance. A fresh module copy gives each thread
    its own resolver, and pinning the event on that instance keeps other threads' events out of it.
    """
    spec = importlib.util.spec_from_file_location(f"function_{function}_copy_{n}", FUNCTIONS_DIR / function / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def handle(event: dict[str, Any]) -> dict[str, Any]:
        module.app.current_event = APIGatewayProxyEvent(event)
        return dict(module.lambda_handler(event, FakeContext()))

    return handle


@pytest.fixture
def quiet_metrics(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Skip flushing the process-wide Metrics object, which concurrent invocations would share."""
    monkeypatch.setattr(metrics.provider, "flush_metrics", lambda raise_on_empty_metrics=False: None)
    yield
    metrics.clear_metrics()


@pytest.fixture
def atomic_moto_transactions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serialise moto's TransactWriteItems, as DynamoDB isolates transactions.

    moto's in-process implementation is not thread-safe: it deep-copies the whole table to roll back a
    cancelled transaction (which fails with 'dictionary changed size during iteration' while another thread
    writes) and restores that copy on cancel, which can undo a transaction committed meanwhile.
    """
    lock = threading.Lock()
    original = DynamoDBBackend.transact_write_items

    def isolated(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        with lock:
            original(self, transact_items)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", isolated)


# ---------------------------------------------------------------------------------------------- get


@pytest.mark.usefixtures("scripts")
class TestGet:
    def test_200_with_exactly_the_four_keys(self) -> None:
        create()
        assert call("get") == (
            200,
            {
                "id": "my-endpoint-id",
                "path": "helloworld",
                "handler_script_path": SEED_DRIVE_PATH,
                "handler_script_version": current_version(),
                "state": "ENABLED",
                "auth": "bearer",
                "secrets": [],
            },
        )

    def test_the_sample_event(self) -> None:
        create()
        assert invoke(load_event("get"), "get")[0] == 200

    def test_a_disabled_endpoint_is_disabled(self) -> None:
        create()
        call("update", body={"enabled": False})
        assert call("get")[1]["state"] == "DISABLED"

    def test_an_unknown_id_is_404(self) -> None:
        status, error = call("get", "nobody")
        assert status == 404
        assert "nobody" in error["error"]

    @pytest.mark.parametrize("endpoint_id", ["bad id", "list", "-x", "x" * 129])
    def test_an_id_that_cannot_exist_is_404(self, endpoint_id: str) -> None:
        assert call("get", endpoint_id)[0] == 404

    def test_another_accounts_endpoint_is_404_like_a_missing_one(self) -> None:
        create()
        assert call("get", account="someone-else") == (404, {"error": "no endpoint with id 'my-endpoint-id'"})
        assert call("get", "nobody", account="someone-else") == (404, {"error": "no endpoint with id 'nobody'"})

    def test_a_dynamodb_failure_is_503(self, monkeypatch: pytest.MonkeyPatch) -> None:
        create()
        throttle("get_item", monkeypatch)
        assert call("get")[0] == 503


# ---------------------------------------------------------------------------------------------- update


@pytest.mark.usefixtures("scripts")
class TestUpdate:
    def test_the_seed_sample_event(self) -> None:
        create()
        assert invoke(load_event("update"), "update") == (200, {"id": "my-endpoint-id"})

    def test_disabling_updates_the_endpoint_and_the_routers_path_item(self) -> None:
        create()
        assert call("update", body={"enabled": False}) == (200, {"id": "my-endpoint-id"})
        assert endpoint_store.get_route("helloworld") == RouteRecord(
            "my-endpoint-id", "jaydoe", SEED_DRIVE_PATH, False, current_version()
        )
        stored = items()["endpoint#my-endpoint-id"]
        assert stored["enabled"] is False
        assert stored["updated_at"] >= stored["created_at"]
        assert call("update", body={"enabled": True})[0] == 200
        assert endpoint_store.get_route("helloworld") == RouteRecord(
            "my-endpoint-id", "jaydoe", SEED_DRIVE_PATH, True, current_version()
        )

    def test_a_new_script_reaches_the_path_item(self) -> None:
        create()
        assert call("update", body={"handler_script_path": OTHER_DRIVE_PATH})[0] == 200
        route = endpoint_store.get_route("helloworld")
        assert route is not None and route.handler_script_path == OTHER_DRIVE_PATH
        assert call("get")[1]["handler_script_path"] == OTHER_DRIVE_PATH

    def test_a_moved_path_frees_the_old_one_at_once(self) -> None:
        create()
        assert call("update", body={"path": "moved", "enabled": False})[0] == 200
        assert endpoint_store.get_route("helloworld") is None
        assert endpoint_store.get_route("moved") == RouteRecord(
            "my-endpoint-id", "jaydoe", SEED_DRIVE_PATH, False, current_version()
        )
        assert create("newcomer", "helloworld") == (201, {"id": "newcomer"})
        assert call("get")[1] == {
            "id": "my-endpoint-id",
            "path": "moved",
            "handler_script_path": SEED_DRIVE_PATH,
            "handler_script_version": current_version(),
            "state": "DISABLED",
            "auth": "bearer",
            "secrets": [],
        }
        assert sorted(pk for pk in items() if pk.startswith("path#")) == ["path#helloworld", "path#moved"]

    def test_moving_onto_a_taken_path_is_409_and_changes_nothing(self) -> None:
        create()
        create("neighbour", "taken")
        before = items()
        status, error = call("update", body={"path": "taken", "enabled": False})
        assert status == 409
        assert "taken" in error["error"]
        assert items() == before

    def test_moving_onto_another_accounts_path_is_409(self) -> None:
        create()
        create("theirs", "theirs", "/someone-else/handlers/hello.py", account="someone-else")
        assert call("update", body={"path": "theirs"})[0] == 409

    def test_its_own_path_again_is_fine(self) -> None:
        create()
        assert call("update", body={"path": "helloworld"}) == (200, {"id": "my-endpoint-id"})
        assert endpoint_store.get_route("helloworld") is not None

    def test_an_id_in_the_body_must_equal_the_urls(self) -> None:
        create()
        assert call("update", body={"id": "my-endpoint-id", "enabled": False})[0] == 200
        status, error = call("update", body={"id": "other", "enabled": True})
        assert status == 400
        assert error["error"].startswith("id:")
        assert call("get")[1]["state"] == "DISABLED"

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({}, "at least one of path, handler_script_path, handler_script_version, enabled"),
            ({"id": "my-endpoint-id"}, "at least one of"),
            ({"path": ""}, "path: may not be empty"),
            ({"handler_script_path": ""}, "handler_script_path: may not be empty"),
            ({"id": ""}, "id: may not be empty"),
            ({"enabled": "true"}, "enabled: must be a boolean"),
            ({"enabled": 1}, "enabled: must be a boolean"),
            ({"enabled": None}, "enabled: may not be null"),
            ({"path": None}, "path: may not be null"),
            ({"path": "a b"}, "path: must be 1-128 characters"),
            ({"handler_script_path": "/jaydoe/x.js"}, "handler_script_path: must name a Python file"),
            ({"state": "DISABLED"}, "state: is not a known field"),
            ({"account": "someone-else", "enabled": True}, "account: is not a known field"),
            ({"updated_at": "2020-01-01", "enabled": True}, "updated_at: is not a known field"),
        ],
    )
    def test_an_invalid_body_is_400(self, body: dict[str, Any], message: str) -> None:
        create()
        before = items()
        status, error = call("update", body=body)
        assert status == 400
        assert message in error["error"]
        assert items() == before

    def test_invalid_json_is_400(self) -> None:
        create()
        assert call("update", body=b"{enabled: false}")[0] == 400

    def test_a_script_outside_the_callers_drive_is_403(self) -> None:
        create()
        status, _ = call("update", body={"handler_script_path": "/someone-else/handlers/hello.py"})
        assert status == 403
        assert call("get")[1]["handler_script_path"] == SEED_DRIVE_PATH

    def test_a_broken_or_missing_script_is_400(self) -> None:
        create()
        broken = put_script("broken.py", b"def handler(request):\n  return (\n")
        status, error = call("update", body={"handler_script_path": broken})
        assert status == 400
        assert "line 2" in error["error"]
        status, error = call("update", body={"handler_script_path": "/jaydoe/missing.py"})
        assert status == 400
        assert "does not exist" in error["error"]

    def test_an_unknown_id_is_404(self) -> None:
        assert call("update", "nobody", body={"enabled": False})[0] == 404

    def test_an_id_that_cannot_exist_is_404(self) -> None:
        assert call("update", "not valid!", body={"enabled": False})[0] == 404

    def test_another_accounts_endpoint_is_404_and_untouched(self) -> None:
        create()
        before = items()
        status, _ = call("update", body={"enabled": False}, account="someone-else")
        assert status == 404
        status, _ = call(
            "update", body={"handler_script_path": "/someone-else/handlers/hello.py"}, account="someone-else"
        )
        assert status == 404
        assert items() == before

    def test_a_dynamodb_failure_is_503_and_changes_nothing(self, monkeypatch: pytest.MonkeyPatch) -> None:
        create()
        before = items()
        throttle("transact_write_items", monkeypatch)
        assert call("update", body={"path": "moved"})[0] == 503
        assert call("update", body={"enabled": False})[0] == 503
        assert items() == before


# ---------------------------------------------------------------------------------------------- delete


@pytest.mark.usefixtures("scripts")
class TestDelete:
    def test_200_removes_the_endpoint_and_frees_its_path(self) -> None:
        create()
        assert invoke(load_event("delete"), "delete") == (200, {"id": "my-endpoint-id"})
        assert items() == {"account#jaydoe": {"pk": "account#jaydoe", "endpoint_count": "0"}}
        assert call("get")[0] == 404
        assert endpoint_store.get_route("helloworld") is None
        assert create("reuse", "helloworld")[0] == 201

    def test_a_second_delete_is_404(self) -> None:
        create()
        assert call("delete")[0] == 200
        status, error = call("delete")
        assert status == 404
        assert "my-endpoint-id" in error["error"]

    def test_an_id_that_cannot_exist_is_404(self) -> None:
        assert call("delete", "u")[0] == 404

    def test_another_accounts_endpoint_is_404_and_stays(self) -> None:
        create()
        before = items()
        assert call("delete", account="someone-else")[0] == 404
        assert items() == before

    def test_a_dynamodb_failure_is_503_and_deletes_nothing(self, monkeypatch: pytest.MonkeyPatch) -> None:
        create()
        before = items()
        throttle("transact_write_items", monkeypatch)
        assert call("delete")[0] == 503
        assert items() == before


# ---------------------------------------------------------------------------------------------- list


@pytest.fixture
def catalogue(scripts: None) -> list[str]:
    """Eleven endpoints of jaydoe (every third disabled, two scripts) and two of someone else; jaydoe's ids.

    Written through the store (the create route has its own tests) to keep the many list tests quick.
    """
    ids = []
    for n in [7, 0, 10, 3, 1, 9, 4, 2, 8, 6, 5]:  # out of order: the list must sort by id
        endpoint_id = f"ep-{n:02d}"
        handler = OTHER_DRIVE_PATH if n % 2 else SEED_DRIVE_PATH
        endpoint_store.create(endpoint_id, "jaydoe", f"path-{n:02d}", handler, max_endpoints=1000)
        if n % 3 == 0:
            endpoint_store.update(endpoint_id, "jaydoe", enabled=False)
        ids.append(endpoint_id)
    for n in range(2):
        endpoint_store.create(f"ep-{n:02d}-x", "someone-else", f"x-{n}", "/someone-else/a.py", max_endpoints=1000)
    return sorted(ids)


FILTER_CASES: list[tuple[dict[str, str], list[str] | None]] = [
    ({"id": "ep-04"}, ["ep-04"]),
    ({"id": "ep-04", "state": "DISABLED"}, []),
    ({"id": "nope"}, []),
    ({"id": "ep-00-x"}, []),  # someone else's
    ({"path": "path-05"}, ["ep-05"]),
    ({"path": "x-0"}, []),  # someone else's
    ({"handler": OTHER_DRIVE_PATH}, ["ep-01", "ep-03", "ep-05", "ep-07", "ep-09"]),
    ({"handler_script_path": OTHER_DRIVE_PATH}, ["ep-01", "ep-03", "ep-05", "ep-07", "ep-09"]),
    ({"state": "DISABLED"}, ["ep-00", "ep-03", "ep-06", "ep-09"]),
    ({"state": "disabled"}, ["ep-00", "ep-03", "ep-06", "ep-09"]),
    ({"state": "Enabled", "handler": SEED_DRIVE_PATH}, ["ep-02", "ep-04", "ep-08", "ep-10"]),
    ({"enabled": "false"}, ["ep-00", "ep-03", "ep-06", "ep-09"]),
    ({"enabled": "TRUE", "path": "path-01"}, ["ep-01"]),
    ({"handler": OTHER_DRIVE_PATH, "state": "DISABLED", "offset": "1", "limit": "1"}, ["ep-09"]),
    ({"id": "", "path": "", "handler": "", "state": "", "offset": "", "limit": ""}, None),
]


class TestList:
    def test_all_of_the_callers_endpoints_ordered_by_id(self, catalogue: list[str]) -> None:
        status, body = listing()
        assert status == 200
        assert body["id"] is None
        assert body["next_offset"] is None
        assert [e["id"] for e in body["endpoints"]] == catalogue
        assert body["endpoints"][0] == {
            "id": "ep-00",
            "path": "path-00",
            "handler_script_path": SEED_DRIVE_PATH,
            "handler_script_version": None,  # written through the store without a version
            "state": "DISABLED",
            "auth": "bearer",
            "secrets": [],
        }

    def test_the_sample_event(self, catalogue: list[str]) -> None:
        event = load_event("list")
        create("my-endpoint-id", "helloworld")
        assert invoke(event, "list") == (
            200,
            {
                "id": "my-endpoint-id",
                "endpoints": [
                    {
                        "id": "my-endpoint-id",
                        "path": "helloworld",
                        "handler_script_path": SEED_DRIVE_PATH,
                        "handler_script_version": current_version(),
                        "state": "ENABLED",
                        "auth": "bearer",
                        "secrets": [],
                    }
                ],
                "next_offset": None,
            },
        )

    def test_paging_walks_every_endpoint_exactly_once(self, catalogue: list[str]) -> None:
        for limit in [1, 3, 4, 10, 11, 1000]:
            seen: list[str] = []
            offset: int | None = 0
            pages = 0
            while offset is not None:
                status, body = listing(offset=str(offset), limit=str(limit))
                assert status == 200
                assert len(body["endpoints"]) <= limit
                seen += [e["id"] for e in body["endpoints"]]
                offset = body["next_offset"]
                pages += 1
            assert seen == catalogue, limit
            assert pages == -(-len(catalogue) // limit), limit

    def test_paging_a_filtered_list(self, catalogue: list[str]) -> None:
        enabled = [i for n, i in enumerate(catalogue) if n % 3]
        first = listing(state="ENABLED", limit="4")[1]
        assert [e["id"] for e in first["endpoints"]] == enabled[:4]
        assert first["next_offset"] == 4
        last = listing(state="ENABLED", limit="4", offset="4")[1]
        assert [e["id"] for e in last["endpoints"]] == enabled[4:]
        assert last["next_offset"] is None

    def test_an_offset_past_the_end_is_an_empty_page(self, catalogue: list[str]) -> None:
        assert listing(offset="11")[1] == {"id": None, "endpoints": [], "next_offset": None}
        assert listing(offset="500")[1]["endpoints"] == []

    def test_the_default_limit_is_100(self, scripts: None) -> None:
        for n in range(101):
            endpoint_store.create(f"bulk-{n:03d}", "jaydoe", f"bulk-{n:03d}", SEED_DRIVE_PATH, max_endpoints=1000)
        body = listing()[1]
        assert len(body["endpoints"]) == 100
        assert body["next_offset"] == 100
        assert [e["id"] for e in listing(offset="100")[1]["endpoints"]] == ["bulk-100"]

    def test_each_filter(self, catalogue: list[str]) -> None:
        # One catalogue for every case: building it is the slow part.
        for query, expected in FILTER_CASES:
            status, body = listing(**query)
            assert status == 200, query
            assert [e["id"] for e in body["endpoints"]] == (catalogue if expected is None else expected), query
            assert body["id"] == (query.get("id") or None)
            assert body["next_offset"] is None

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ({"id": "not valid!"}, "id: must be 1-128 characters"),
            ({"id": "list"}, "id: 'list' is reserved"),
            ({"path": "a/b"}, "path: must be 1-128 characters"),
            ({"handler": "relative.py"}, "handler: must be an absolute drive path"),
            ({"handler_script_path": "/jaydoe/x.txt"}, "handler_script_path: must name a Python file"),
            ({"state": "ON"}, "state: must be ENABLED or DISABLED"),
            ({"enabled": "yes"}, "enabled: must be true or false"),
            ({"enabled": "1"}, "enabled: must be true or false"),
            ({"offset": "-1"}, "offset: must be a non-negative integer"),
            ({"offset": "abc"}, "offset: must be a non-negative integer"),
            ({"offset": "1.5"}, "offset: must be a non-negative integer"),
            ({"limit": "0"}, "limit: Input should be greater than or equal to 1"),
            ({"limit": "1001"}, "limit: Input should be less than or equal to 1000"),
            ({"limit": "-5"}, "limit: must be a non-negative integer"),
            ({"limit": "ten"}, "limit: must be a non-negative integer"),
            ({"limit": "1e3"}, "limit: must be a non-negative integer"),
            ({"sort": "id"}, "sort: is not a known query parameter"),
            ({"account": "someone-else"}, "account: is not a known query parameter"),
            ({"state": "ENABLED", "enabled": "true"}, "give only one of them"),
            ({"handler": SEED_DRIVE_PATH, "handler_script_path": SEED_DRIVE_PATH}, "give only one of them"),
        ],
    )
    def test_a_bad_filter_value_is_400(self, scripts: None, query: dict[str, str], message: str) -> None:
        status, body = listing(**query)
        assert status == 400
        assert message in body["error"]

    def test_a_repeated_parameter_is_400(self, scripts: None) -> None:
        status, body = listing(id=["a", "b"])
        assert status == 400
        assert body["error"] == "id: may be given only once"

    def test_another_account_sees_none_of_them(self, catalogue: list[str]) -> None:
        assert listing("nobody")[1] == {"id": None, "endpoints": [], "next_offset": None}
        theirs = listing("someone-else")[1]
        assert [e["id"] for e in theirs["endpoints"]] == ["ep-00-x", "ep-01-x"]

    def test_reads_stop_once_the_page_is_full(self, catalogue: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
        queries = spy_queries(monkeypatch)
        body = listing(offset="2", limit="3")[1]
        assert [e["id"] for e in body["endpoints"]] == catalogue[2:5]
        assert body["next_offset"] == 5
        assert sum(returned for _, returned in queries) == 2 + 3 + 1

    def test_the_id_filter_is_a_key_condition(self, catalogue: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
        queries = spy_queries(monkeypatch)
        listing(id="ep-07")
        [(arguments, returned)] = queries
        assert arguments["IndexName"] == "by-account"
        assert arguments["KeyConditionExpression"] == "#account = :account AND #id = :id"
        assert "FilterExpression" not in arguments
        assert returned == 1

    def test_a_dynamodb_failure_is_503(self, catalogue: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
        throttle("query", monkeypatch)
        assert listing()[0] == 503


def spy_queries(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, Any], int]]:
    """Record each Query the service makes: its arguments and how many items DynamoDB returned."""
    dynamodb = client("dynamodb")
    original: Callable[..., dict[str, Any]] = dynamodb.query
    calls: list[tuple[dict[str, Any], int]] = []

    def query(**arguments: Any) -> dict[str, Any]:
        response = original(**arguments)
        calls.append((arguments, len(response["Items"])))
        return response

    monkeypatch.setattr(dynamodb, "query", query)
    return calls


# ---------------------------------------------------------------------------------------------- router's read


@pytest.mark.usefixtures("scripts")
class TestGetRoute:
    def test_one_consistent_read_of_the_path_item(self, monkeypatch: pytest.MonkeyPatch) -> None:
        create()
        dynamodb = client("dynamodb")
        original = dynamodb.batch_get_item
        calls: list[dict[str, Any]] = []

        def batch_get_item(**arguments: Any) -> Any:
            calls.append(arguments)
            return original(**arguments)

        monkeypatch.setattr(dynamodb, "batch_get_item", batch_get_item)
        route = endpoint_store.get_route("helloworld")
        assert route == RouteRecord("my-endpoint-id", "jaydoe", SEED_DRIVE_PATH, True, current_version())
        table = os.environ["ENDPOINTS_TABLE"]
        assert [c["RequestItems"] for c in calls] == [
            {table: {"Keys": [{"pk": {"S": "path#helloworld"}}], "ConsistentRead": True}}
        ]

    def test_the_item_beside_it_comes_in_the_same_request(self, monkeypatch: pytest.MonkeyPatch) -> None:
        create()
        token = token_store.create_token("jaydoe")
        dynamodb = client("dynamodb")
        original = dynamodb.batch_get_item
        calls: list[dict[str, Any]] = []

        def batch_get_item(**arguments: Any) -> Any:
            calls.append(arguments)
            return original(**arguments)

        monkeypatch.setattr(dynamodb, "batch_get_item", batch_get_item)
        found = endpoint_store.lookup_route(
            "helloworld", (os.environ["TOKENS_TABLE"], token_store.key(token_store.hash_token(token)))
        )
        assert found.route is not None and found.route.endpoint_id == "my-endpoint-id"
        record = token_store.active_record(token_store.hash_token(token), found.item)
        assert record is not None and record.account == "jaydoe"
        assert len(calls) == 1
        missing = endpoint_store.lookup_route(
            "nothing", (os.environ["TOKENS_TABLE"], token_store.key(token_store.hash_token("hep_x")))
        )
        assert (missing.route, missing.item) == (None, None)

    def test_unprocessed_keys_are_asked_for_again(self, monkeypatch: pytest.MonkeyPatch) -> None:
        create()
        dynamodb = client("dynamodb")
        original = dynamodb.batch_get_item
        calls: list[dict[str, Any]] = []

        def batch_get_item(**arguments: Any) -> Any:
            calls.append(arguments)
            if len(calls) == 1:  # the first answer processes nothing, as under throttling
                return {"Responses": {}, "UnprocessedKeys": arguments["RequestItems"]}
            return original(**arguments)

        monkeypatch.setattr(dynamodb, "batch_get_item", batch_get_item)
        route = endpoint_store.get_route("helloworld")
        assert route is not None and route.endpoint_id == "my-endpoint-id"
        assert len(calls) == 2

    def test_an_unknown_path_is_none(self) -> None:
        assert endpoint_store.get_route("nothing-here") is None

    def test_a_dynamodb_failure_is_unavailable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        throttle("batch_get_item", monkeypatch)
        with pytest.raises(Unavailable):
            endpoint_store.get_route("helloworld")

    def test_keys_left_unprocessed_every_time_are_unavailable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def batch_get_item(**arguments: Any) -> Any:
            return {"Responses": {}, "UnprocessedKeys": arguments["RequestItems"]}

        monkeypatch.setattr(client("dynamodb"), "batch_get_item", batch_get_item)
        with pytest.raises(Unavailable, match="unprocessed"):
            endpoint_store.get_route("helloworld")


def test_base64_bodies_decode_as_utf8(scripts: None) -> None:
    drive_path = put_script("ünïcode.py", "def handler(request):\n    return 'héllo'\n".encode())
    raw = json.dumps({"path": "unicode", "handler_script_path": drive_path}, ensure_ascii=False).encode()
    event = api_event("create", path_parameters={"id": "unicode"})
    event["body"] = base64.b64encode(raw).decode()
    event["isBase64Encoded"] = True
    assert invoke(event, "create") == (201, {"id": "unicode"})
    assert call("get", "unicode")[1]["handler_script_path"] == drive_path


# ---------------------------------------------------------------------------------------------- routing


@pytest.mark.usefixtures("scripts")
@pytest.mark.parametrize(
    ("function", "body", "status", "message"),
    [
        ("create", {"path": "p", "handler_script_path": SEED_DRIVE_PATH}, 400, "id in the URL: must be 1-128"),
        ("get", None, 404, "no endpoint with id 'say\"hi\\n'"),
        ("update", {"enabled": False}, 404, "no endpoint with id 'say\"hi\\n'"),
        ("delete", None, 404, "no endpoint with id 'say\"hi\\n'"),
    ],
)
def test_an_id_no_route_pattern_takes_is_answered_as_an_invalid_id(
    function: str, body: dict[str, Any] | None, status: int, message: str
) -> None:
    """API Gateway hands over the path decoded; a quote or a newline in `{id}` matches none of the resolver's
    route patterns, and the answer is still the route's answer to an id that breaks the rules, in JSON."""
    event = api_event(function, path_parameters={"id": 'say"hi\n'}, body=body)
    event["path"] = '/api/v1/http-endpoint/say"hi\n'
    status_code, answer = invoke(event, function)
    assert (status_code, set(answer)) == (status, {"error"})
    assert answer["error"].startswith(message)
    assert items() == {}


@pytest.mark.usefixtures("scripts")
@pytest.mark.parametrize(
    ("function", "body", "status", "message"),
    [
        ("create", {"path": "p", "handler_script_path": SEED_DRIVE_PATH}, 400, "id in the URL: must be 1-128"),
        ("get", None, 404, "no endpoint with id 'my-endpoint-id\\n'"),
        ("update", {"enabled": False}, 404, "no endpoint with id 'my-endpoint-id\\n'"),
        ("delete", None, 404, "no endpoint with id 'my-endpoint-id\\n'"),
        ("invocations", None, 404, "no endpoint with id 'my-endpoint-id\\n'"),
    ],
)
def test_an_id_with_a_final_newline_never_reaches_the_id_without_it(
    function: str, body: dict[str, Any] | None, status: int, message: str
) -> None:
    """A route pattern ending in `$` also matches before a final newline: `/my-endpoint-id%0A` must not act on
    `my-endpoint-id` (nor create it)."""
    assert create("my-endpoint-id", path="p0")[0] == 201
    before = items()
    event = api_event(function, path_parameters={"id": "my-endpoint-id\n"}, body=body)
    event["path"] = "/api/v1/http-endpoint/my-endpoint-id\n" + ("/invocations" * (function == "invocations"))
    status_code, answer = invoke(event, function)
    assert (status_code, set(answer)) == (status, {"error"}), answer
    assert answer["error"].startswith(message)
    assert items() == before


@pytest.mark.usefixtures("scripts")
def test_the_routes_hang_under_the_templates_base_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same function under another base path (as the template may set it) serves the same route there."""
    create()
    monkeypatch.setenv("API_BASE_PATH", "/elsewhere")
    get = container("get", 0)
    event = api_event("get", path_parameters={"id": "my-endpoint-id"})
    event["path"] = "/elsewhere/my-endpoint-id"
    assert get(event)["statusCode"] == 200
    event["path"] = "/api/v1/http-endpoint/my-endpoint-id"
    assert get(event)["statusCode"] == 404


# ---------------------------------------------------------------------------------------------- operations


@pytest.mark.usefixtures("scripts")
def test_the_operations_take_and_return_plain_values() -> None:
    """No HTTP around them: an account, an id and a model in; an endpoint, a page or a ServiceError out."""
    request = CreateRequest(path="helloworld", handler_script_path=SEED_DRIVE_PATH)
    created = operations.create_endpoint("jaydoe", "my-endpoint-id", request)
    assert (created.id, created.account, created.path, created.enabled) == (
        "my-endpoint-id",
        "jaydoe",
        "helloworld",
        True,
    )
    assert operations.get_endpoint("jaydoe", "my-endpoint-id") == created
    with pytest.raises(NotFound):
        operations.get_endpoint("someone-else", "my-endpoint-id")
    with pytest.raises(BadRequest, match="id in the URL"):
        operations.create_endpoint("jaydoe", "list", request)
    with pytest.raises(BadRequest, match="differs from"):
        operations.update_endpoint("jaydoe", "my-endpoint-id", UpdateRequest(id="other", enabled=False))
    updated = operations.update_endpoint("jaydoe", "my-endpoint-id", UpdateRequest(enabled=False))
    assert updated.enabled is False
    page = operations.list_endpoints("jaydoe", parse_list_query({}))
    assert page.model_dump() == {
        "id": None,
        "endpoints": [
            {
                "id": "my-endpoint-id",
                "path": "helloworld",
                "handler_script_path": SEED_DRIVE_PATH,
                "handler_script_version": created.handler_script_version,
                "state": "DISABLED",
                "auth": "bearer",
                "secrets": [],
            }
        ],
        "next_offset": None,
    }
    assert operations.delete_endpoint("jaydoe", "my-endpoint-id").id == "my-endpoint-id"
    with pytest.raises(NotFound):
        operations.delete_endpoint("jaydoe", "my-endpoint-id")
