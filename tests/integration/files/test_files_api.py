"""The files API on moto: every route and status, re-pinning on save, broken saves kept, rollback, races."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from httpendpoint.files import drive
from httpendpoint.stores import endpoint_store, script_store, token_store
from httpendpoint.trigger import sandbox_client, script_cache
from tests.support.aws import aws_client
from tests.support.events import api_event, create_endpoint, files_request, load_event
from tests.support.functions import FakeContext, load_function
from tests.support.sandbox import InProcessSandbox

HELLO = b"def handler(request):\n    return 'Hello World'\n"
SECOND = b"def handler(request):\n    return 'second'\n"
BROKEN = b"def handler(request):\n    return 'oops'\n\ndef broken(:\n    pass\n"
SCRIPT = "/jaydoe/my_repo/fs/Instabase Drive/handlers/hello.py"


@pytest.fixture(autouse=True)
def stack(aws: Any) -> Iterator[None]:
    script_cache.clear()
    sandbox_client.use(InProcessSandbox())
    yield
    sandbox_client.use(None)
    script_cache.clear()


def put(drive_path: str, data: bytes, account: str = "jaydoe") -> tuple[int, Any]:
    return parsed(files_request("PUT", drive_path, body=data, account=account))


def get(drive_path: str, account: str = "jaydoe", **query: str) -> dict[str, Any]:
    return files_request("GET", drive_path, query={k: [v] for k, v in query.items()} or None, account=account)


def parsed(response: dict[str, Any]) -> tuple[int, Any]:
    assert response["multiValueHeaders"]["Content-Type"] == ["application/json"], response
    return int(response["statusCode"]), json.loads(response["body"])


def bytes_of(response: dict[str, Any]) -> bytes:
    assert response["statusCode"] == 200, response
    assert response["isBase64Encoded"] is True
    return base64.b64decode(response["body"])


def create(endpoint_id: str, path: str, drive_path: str = SCRIPT, **extra: str) -> tuple[int, Any]:
    if not extra:
        response = create_endpoint(endpoint_id, path, drive_path)
    else:
        event = api_event(
            "create",
            path_parameters={"id": endpoint_id},
            body={"path": path, "handler_script_path": drive_path, **extra},
        )
        response = load_function("create").lambda_handler(event, FakeContext())
    return int(response["statusCode"]), json.loads(response["body"])


def patch(endpoint_id: str, body: dict[str, Any]) -> tuple[int, Any]:
    event = api_event("update", path_parameters={"id": endpoint_id}, body=body)
    response = load_function("update").lambda_handler(event, FakeContext())
    return int(response["statusCode"]), json.loads(response["body"])


def pinned(endpoint_id: str) -> str | None:
    event = api_event("get", path_parameters={"id": endpoint_id})
    body = json.loads(load_function("get").lambda_handler(event, FakeContext())["body"])
    route = endpoint_store.get_route(body["path"])
    assert route is not None and route.handler_script_version == body["handler_script_version"]
    return str(body["handler_script_version"])


def trigger(path: str) -> bytes:
    # No authorizer on the trigger route: the router reads the token itself.
    credentials = {"Authorization": [f"Bearer {token_store.create_token('jaydoe')}"]}
    event = api_event("router", path_parameters={"path": path}, headers=credentials)
    response = load_function("router").lambda_handler(event, FakeContext())
    raw = response.get("body") or ""
    return base64.b64decode(raw) if response.get("isBase64Encoded") else str(raw).encode()


def object_versions() -> int:
    listed = aws_client("s3").list_object_versions(Bucket=os.environ["SCRIPT_BUCKET"])
    return len(listed.get("Versions", []))


# ---------------------------------------------------------------------------------------------- write / read


def test_write_is_201_when_new_and_200_when_replaced_and_reads_back_every_version() -> None:
    status, first = put(SCRIPT, HELLO)
    assert status == 201
    assert first == {
        "path": SCRIPT,
        "version": first["version"],
        "size": len(HELLO),
        "endpoints": {"updated": [], "kept": []},
    }
    status, second = put(SCRIPT, SECOND)
    assert status == 200 and second["version"] != first["version"]
    assert bytes_of(get(SCRIPT)) == SECOND
    assert bytes_of(get(SCRIPT, version=first["version"])) == HELLO
    response = get(SCRIPT)
    assert response["multiValueHeaders"]["X-Content-Type-Options"] == ["nosniff"]


def test_binary_bytes_round_trip_unchanged() -> None:
    data = bytes(range(256)) * 4
    assert put("/jaydoe/blob.bin", data)[0] == 201
    assert bytes_of(get("/jaydoe/blob.bin")) == data


@pytest.mark.parametrize("drive_path", ["/jaydoe/with space/ünïcødé 文件.py", "/jaydoe/a+b/%41.py"])
def test_spaces_non_ascii_and_percent_signs_round_trip(drive_path: str) -> None:
    status, body = put(drive_path, HELLO)
    assert (status, body["path"]) == (201, drive_path)
    assert bytes_of(get(drive_path)) == HELLO
    folder = drive_path.rsplit("/", 1)[0]
    _, listing = parsed(get(folder, list="true"))
    assert [node["path"] for node in listing["nodes"]] == [drive_path]


def test_missing_file_and_unknown_version_are_404() -> None:
    status, body = parsed(get("/jaydoe/nothing.py"))
    assert status == 404 and "does not exist" in body["error"]
    put(SCRIPT, HELLO)
    assert parsed(get(SCRIPT, version="no-such-version"))[0] == 404


def test_versions_newest_first_with_the_current_one_marked() -> None:
    versions = [put(SCRIPT, data)[1]["version"] for data in (HELLO, SECOND, BROKEN)]
    status, body = parsed(get(SCRIPT, versions="true"))
    assert status == 200 and body["path"] == SCRIPT
    assert [v["version"] for v in body["versions"]] == versions[::-1]
    assert [v["current"] for v in body["versions"]] == [True, False, False]
    assert [v["size"] for v in body["versions"]] == [len(BROKEN), len(SECOND), len(HELLO)]
    # A longer key sharing the prefix is another file.
    put(SCRIPT + ".bak", HELLO)
    assert len(parsed(get(SCRIPT, versions="true"))[1]["versions"]) == 3
    assert parsed(get("/jaydoe/nothing.py", versions="true"))[0] == 404


def test_list_a_folder_with_folders_and_files_and_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("b.py", "a.py", "sub/c.py", "sub/deeper/d.py"):
        put(f"/jaydoe/repo/{name}", HELLO)
    put("/jaydoe/repository/x.py", HELLO)  # shares the prefix `repo`, is not in the folder
    status, body = parsed(get("/jaydoe/repo", list="true"))
    assert status == 200 and body["next_page_token"] is None
    assert [(n["name"], n["path"], n["type"]) for n in body["nodes"]] == [
        ("a.py", "/jaydoe/repo/a.py", "file"),
        ("b.py", "/jaydoe/repo/b.py", "file"),
        ("sub", "/jaydoe/repo/sub", "folder"),
    ]
    assert body["nodes"][0]["size"] == len(HELLO) and body["nodes"][2]["size"] is None
    monkeypatch.setattr(drive, "LIST_PAGE_SIZE", 1)
    seen, token = [], None
    while True:
        _, page = parsed(get("/jaydoe/repo", list="true", **({"page_token": token} if token else {})))
        seen += [node["name"] for node in page["nodes"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert seen == ["a.py", "b.py", "sub"]


# ---------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("drive_path", "named"),
    [
        ("/jaydoe/../someone-else/x.py", "'..'"),
        ("/jaydoe/a//b.py", "empty segments"),
        ("/jaydoe/a/", "empty segments"),
        ("/jaydoe/a\nb.py", "control characters"),
        ("/jaydoe/a\x9bb.py", "control characters"),
        ("/jaydoe/a\u2028b.py", "control characters"),
        ("/jaydoe/" + "x" * 1100, "at most 1024"),
    ],
)
def test_bad_paths_are_400_on_every_route_and_nothing_is_stored(drive_path: str, named: str) -> None:
    for method in ("PUT", "GET", "DELETE"):
        status, body = parsed(files_request(method, drive_path, body=HELLO if method == "PUT" else None))
        assert status == 400 and named in body["error"], (method, body)
    assert object_versions() == 0


def test_another_accounts_drive_is_403_on_every_route() -> None:
    put("/someone-else/h.py", HELLO, account="someone-else")
    for method, query in (("PUT", None), ("GET", None), ("GET", {"list": ["true"]}), ("GET", {"versions": ["true"]})):
        response = files_request(method, "/someone-else/h.py", body=HELLO if method == "PUT" else None, query=query)
        status, body = parsed(response)
        assert status == 403 and "/jaydoe/" in body["error"], (method, query, body)
    assert parsed(files_request("DELETE", "/someone-else/h.py"))[0] == 403
    assert parsed(get("/someone-else", list="true"))[0] == 403
    assert object_versions() == 1


def test_a_call_scope_token_is_403() -> None:
    response = files_request("PUT", SCRIPT, body=HELLO, authorizer={"scope": "call"})
    status, body = parsed(response)
    assert status == 403 and "manage" in body["error"]
    assert object_versions() == 0


def test_over_max_script_bytes_is_413_and_nothing_is_stored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_SCRIPT_BYTES", "1024")
    status, body = put(SCRIPT, b"#" * 1025)
    assert status == 413 and "1024" in body["error"]
    assert object_versions() == 0
    assert put(SCRIPT, b"#" * 1024)[0] == 201


# ---------------------------------------------------------------------------------------------- delete


def test_delete_is_409_naming_the_endpoints_that_use_it_then_200_then_404() -> None:
    put(SCRIPT, HELLO)
    create("one", "one")
    create("two", "two")
    status, body = parsed(files_request("DELETE", SCRIPT))
    assert status == 409 and "one, two" in body["error"]
    assert bytes_of(get(SCRIPT)) == HELLO
    for endpoint_id in ("one", "two"):
        event = api_event("delete", path_parameters={"id": endpoint_id})
        assert load_function("delete").lambda_handler(event, FakeContext())["statusCode"] == 200
    assert parsed(files_request("DELETE", SCRIPT)) == (200, {"path": SCRIPT})
    assert parsed(get(SCRIPT))[0] == 404
    assert parsed(files_request("DELETE", SCRIPT))[0] == 404
    # Deleting hides the file; no version is ever removed.
    assert object_versions() == 1


# ---------------------------------------------------------------------------------------------- versions


def test_create_pins_the_current_version_or_the_one_given() -> None:
    old = put(SCRIPT, HELLO)[1]["version"]
    new = put(SCRIPT, SECOND)[1]["version"]
    assert create("current", "current")[0] == 201
    assert pinned("current") == new
    assert create("older", "older", handler_script_version=old)[0] == 201
    assert pinned("older") == old
    assert trigger("older") == b"Hello World"
    status, body = create("bogus", "bogus", handler_script_version="no-such-version")
    assert status == 400 and "handler_script_version" in body["error"]


def test_saving_re_pins_every_endpoint_that_runs_the_file_and_the_next_call_runs_it() -> None:
    put(SCRIPT, HELLO)
    put("/jaydoe/other.py", HELLO)
    create("a", "a")
    create("b", "b")
    create("unrelated", "unrelated", "/jaydoe/other.py")
    assert trigger("a") == b"Hello World"
    status, body = put(SCRIPT, SECOND)
    assert status == 200
    assert body["endpoints"] == {"updated": ["a", "b"], "kept": []}
    assert pinned("a") == pinned("b") == body["version"]
    assert trigger("a") == trigger("b") == b"second"
    assert trigger("unrelated") == b"Hello World"


def test_another_accounts_endpoints_on_the_same_named_file_are_not_touched() -> None:
    put("/someone-else/h.py", HELLO, account="someone-else")
    create_endpoint("theirs", "theirs", "/someone-else/h.py", "someone-else")
    put("/jaydoe/h.py", HELLO)
    before = endpoint_store.get("theirs", "someone-else")
    assert put("/someone-else/h.py", SECOND, account="someone-else")[1]["endpoints"]["updated"] == ["theirs"]
    assert endpoint_store.get("theirs", "someone-else") != before


def test_a_broken_save_is_stored_and_live_endpoints_keep_the_last_good_version() -> None:
    good = put(SCRIPT, HELLO)[1]["version"]
    create("live", "live")
    status, body = put(SCRIPT, BROKEN)
    assert status == 200
    assert body["endpoints"]["updated"] == []
    (kept,) = body["endpoints"]["kept"]
    assert kept["id"] == "live"
    assert "syntax error at line 4" in kept["error"] and good in kept["error"]
    assert bytes_of(get(SCRIPT)) == BROKEN  # it is a filesystem: the bytes are stored
    assert pinned("live") == good
    assert trigger("live") == b"Hello World"


def test_rollback_pins_an_older_version_and_a_broken_one_is_refused() -> None:
    first = put(SCRIPT, HELLO)[1]["version"]
    create("ep", "ep")
    second = put(SCRIPT, SECOND)[1]["version"]
    broken = put(SCRIPT, BROKEN)[1]["version"]
    assert pinned("ep") == second and trigger("ep") == b"second"
    assert patch("ep", {"handler_script_version": first}) == (200, {"id": "ep"})
    assert pinned("ep") == first and trigger("ep") == b"Hello World"
    status, body = patch("ep", {"handler_script_version": broken})
    assert status == 400 and "syntax error" in body["error"]
    assert pinned("ep") == first
    assert patch("ep", {"handler_script_version": "nope"})[0] == 400


def test_changing_the_script_path_pins_that_files_current_version() -> None:
    put(SCRIPT, HELLO)
    other = put("/jaydoe/other.py", SECOND)[1]["version"]
    create("ep", "ep")
    assert patch("ep", {"handler_script_path": "/jaydoe/other.py"})[0] == 200
    assert pinned("ep") == other
    # Now it runs other.py: a save of hello.py leaves it alone, a save of other.py moves it.
    assert put(SCRIPT, SECOND)[1]["endpoints"]["updated"] == []
    assert put("/jaydoe/other.py", HELLO)[1]["endpoints"]["updated"] == ["ep"]


def test_a_concurrent_patch_wins_over_a_re_pin() -> None:
    first = put(SCRIPT, HELLO)[1]["version"]
    create("ep", "ep")
    second = put(SCRIPT, SECOND)[1]["version"]
    (seen,) = endpoint_store.running("jaydoe", SCRIPT)  # what a save read, before...
    assert patch("ep", {"handler_script_version": first})[0] == 200  # ...a rollback commits
    third = script_store.put(SCRIPT, b"def handler(request):\n    return 'third'\n").version
    reason = endpoint_store.repin(seen, third)
    assert reason is not None and "concurrent" in reason
    assert pinned("ep") == first != second


def test_a_re_pin_between_an_updates_read_and_write_is_not_overwritten(monkeypatch: pytest.MonkeyPatch) -> None:
    put(SCRIPT, HELLO)
    create("ep", "ep")
    original_get = endpoint_store.get
    saved: list[str] = []

    def get_then_save(endpoint_id: str, account: str) -> Any:
        current = original_get(endpoint_id, account)
        if not saved:  # a save lands right after the update read the endpoint
            saved.append(put(SCRIPT, SECOND)[1]["version"])
        return current

    monkeypatch.setattr(endpoint_store, "get", get_then_save)
    assert patch("ep", {"enabled": False})[0] == 200
    monkeypatch.setattr(endpoint_store, "get", original_get)
    stored = endpoint_store.get("ep", "jaydoe")
    assert stored is not None and stored.enabled is False
    assert stored.handler_script_version == saved[0]


def test_the_endpoints_of_a_file_are_found_by_one_key_conditioned_query(monkeypatch: pytest.MonkeyPatch) -> None:
    put(SCRIPT, HELLO)
    put("/jaydoe/other.py", HELLO)
    for n in range(30):
        endpoint_store.create(f"o-{n:02d}", "jaydoe", f"o-{n:02d}", "/jaydoe/other.py", max_endpoints=1000)
    create("mine", "mine")
    from httpendpoint.core.aws import client

    dynamodb = client("dynamodb")
    calls: list[tuple[str, dict[str, Any], int]] = []
    original_query = dynamodb.query

    def query(**arguments: Any) -> Any:
        response = original_query(**arguments)
        calls.append(("Query", arguments, int(response["ScannedCount"])))
        return response

    monkeypatch.setattr(dynamodb, "query", query)
    monkeypatch.setattr(dynamodb, "scan", lambda **_: pytest.fail("a save must never scan"))
    assert put(SCRIPT, SECOND)[1]["endpoints"]["updated"] == ["mine"]
    ((_, arguments, scanned),) = calls
    assert arguments["IndexName"] == "by-script" and "FilterExpression" not in arguments
    assert scanned == 1


def test_a_save_that_changes_nothing_for_an_endpoint_already_on_it_is_quiet() -> None:
    put(SCRIPT, HELLO)
    create("ep", "ep")
    assert put("/jaydoe/unused.py", BROKEN)[1]["endpoints"] == {"updated": [], "kept": []}


def test_the_sample_event_saves_the_seed_handler() -> None:
    event = load_event("files")
    assert event["isBase64Encoded"] is True
    status, body = parsed(load_function("files").lambda_handler(event, FakeContext()))
    assert (status, body["path"]) == (201, SCRIPT)
    assert bytes_of(get(SCRIPT)) == base64.b64decode(event["body"])


def test_the_router_cache_is_bounded_by_bytes_and_keyed_by_version(monkeypatch: pytest.MonkeyPatch) -> None:
    versions = [put(SCRIPT, HELLO + b"#" * n)[1]["version"] for n in range(3)]
    monkeypatch.setattr(script_cache.entries, "max_size", 2 * len(HELLO) + 3)  # room for the two newest
    fetches = script_cache.stats.fetches
    for version in versions:
        assert script_cache.load(SCRIPT, version).version == version
    assert script_cache.stats.fetches == fetches + 3
    # The oldest entry made room; the two newest are served without a fetch.
    script_cache.load(SCRIPT, versions[2])
    script_cache.load(SCRIPT, versions[1])
    assert script_cache.stats.fetches == fetches + 3
    script_cache.load(SCRIPT, versions[0])
    assert script_cache.stats.fetches == fetches + 4
