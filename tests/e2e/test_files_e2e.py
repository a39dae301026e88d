"""The files API over HTTP on the local stack: a tenant with only a token saves, calls, breaks, rolls back."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest
import requests

from tests.support.stack import RunningStack

pytestmark = pytest.mark.e2e

HELLO = b"def handler(request):\n    return 'Hello World'\n"
SECOND = b"def handler(request):\n    return 'second'\n"
BROKEN = b"def handler(request):\n    return 'oops'\n\ndef broken(:\n    pass\n"


def files_url(stack: RunningStack, drive_path: str) -> str:
    base = stack.api_root.removesuffix("/api/v1/http-endpoint")
    return f"{base}/api/v2/files/{quote(drive_path.lstrip('/'), safe='/')}"


def unique_folder() -> str:
    return f"/jaydoe/e2e files/{uuid.uuid4().hex[:8]} ünï"


def test_spaces_and_non_ascii_round_trip_over_http(stack: RunningStack, http: requests.Session) -> None:
    drive_path = f"{unique_folder()}/héllo wörld.py"
    url = files_url(stack, drive_path)
    assert "%20" in url and "%C3%A9" in url
    saved = http.put(url, data=HELLO, headers=stack.headers())
    assert saved.status_code == 201, saved.text
    assert saved.json()["path"] == drive_path
    read = http.get(url, headers=stack.headers())
    assert (read.status_code, read.content) == (200, HELLO)
    folder = drive_path.rsplit("/", 1)[0]
    listed = http.get(files_url(stack, folder), params={"list": "true"}, headers=stack.headers()).json()
    assert [node["path"] for node in listed["nodes"]] == [drive_path]


def test_binary_bytes_survive_the_gateway(stack: RunningStack, http: requests.Session) -> None:
    data = bytes(range(256)) * 8
    url = files_url(stack, f"{unique_folder()}/blob.bin")
    assert http.put(url, data=data, headers=stack.headers()).status_code == 201
    assert http.get(url, headers=stack.headers()).content == data


def test_errors_are_json_naming_the_problem(stack: RunningStack, http: requests.Session) -> None:
    other = http.put(files_url(stack, "/someone-else/x.py"), data=HELLO, headers=stack.headers())
    assert other.status_code == 403 and "/jaydoe/" in other.json()["error"]
    missing = http.get(files_url(stack, f"{unique_folder()}/none.py"), headers=stack.headers())
    assert missing.status_code == 404 and "does not exist" in missing.json()["error"]
    empty = http.put(files_url(stack, "/jaydoe/a") + "//b.py", data=HELLO, headers=stack.headers())
    assert empty.status_code == 400 and "empty segments" in empty.json()["error"]
    no_token = http.put(files_url(stack, "/jaydoe/x.py"), data=HELLO)
    assert no_token.status_code == 401


@pytest.mark.parametrize("character", ["\n", "\r", "\x7f", "\x85", "\x9b", "\u2028"])
def test_a_control_character_or_line_break_in_a_drive_path_is_400_on_every_route(
    stack: RunningStack, http: requests.Session, character: str
) -> None:
    drive_path = f"{unique_folder()}/a{character}b.py"
    for method in ("PUT", "GET", "DELETE"):
        answer = http.request(method, files_url(stack, drive_path), data=HELLO, headers=stack.headers())
        assert answer.status_code == 400 and "control characters" in answer.json()["error"], (method, answer.text)
    listed = http.get(files_url(stack, drive_path.rsplit("/", 1)[0]), params={"list": "true"}, headers=stack.headers())
    assert (listed.status_code, listed.json()["nodes"]) == (200, []), listed.text  # nothing was stored


def test_a_tenant_saves_calls_breaks_and_rolls_back_with_only_a_token(
    stack: RunningStack, http: requests.Session
) -> None:
    drive_path = f"{unique_folder()}/hello.py"
    url = files_url(stack, drive_path)
    headers = stack.headers()
    first = http.put(url, data=HELLO, headers=headers).json()["version"]
    endpoint_id = f"files-{uuid.uuid4().hex[:8]}"
    created = http.put(
        f"{stack.api_root}/{endpoint_id}",
        json={"path": endpoint_id, "handler_script_path": drive_path},
        headers=headers,
    )
    assert created.status_code == 201, created.text

    def call() -> str:
        return http.get(f"{stack.api_root}/u/{endpoint_id}", headers=headers).text

    assert call() == "Hello World"
    saved = http.put(url, data=SECOND, headers=headers)
    assert saved.status_code == 200 and saved.json()["endpoints"] == {"updated": [endpoint_id], "kept": []}
    assert call() == "second"
    broken = http.put(url, data=BROKEN, headers=headers).json()
    assert broken["endpoints"]["updated"] == [] and broken["endpoints"]["kept"][0]["id"] == endpoint_id
    assert "syntax error at line 4" in broken["endpoints"]["kept"][0]["error"]
    assert call() == "second"
    rolled = http.patch(f"{stack.api_root}/{endpoint_id}", json={"handler_script_version": first}, headers=headers)
    assert rolled.status_code == 200, rolled.text
    assert call() == "Hello World"
    got = http.get(f"{stack.api_root}/{endpoint_id}", headers=headers).json()
    assert got["handler_script_version"] == first
    in_use = http.delete(url, headers=headers)
    assert in_use.status_code == 409 and endpoint_id in in_use.json()["error"]
