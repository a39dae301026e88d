"""The management routes over HTTP on the local stack: the seed's snippets verbatim, then the contract's edges."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.stack import RunningStack

pytestmark = pytest.mark.e2e

# The seed's handler function example, as the seed prints it.
SEED_HELLO = """from flask import Request, Response
from typing import Any
def handler(request:Request, *args: Any, **kwargs: Any):
    if request.method == "GET":
        return Response("Hello World", mimetype="text/plain")
    else:
        return Response(status=404)
"""
SEED_DRIVE_PATH = "/jaydoe/my_repo/fs/Instabase Drive/handlers/hello.py"


def upload(stack: RunningStack, tmp_path: Path, drive_path: str, source: str) -> None:
    local = tmp_path / f"{uuid.uuid4().hex}.py"
    local.write_text(source)
    stack.httpep(*stack.target, "script", "put", str(local), drive_path)


def fresh_endpoint(stack: RunningStack, tmp_path: Path, account: str = "jaydoe") -> tuple[str, str, str]:
    """A new endpoint of `account`: (id, path, handler_script_path)."""
    name = uuid.uuid4().hex[:12]
    drive_path = f"/{account}/e2e/{name}.py"
    upload(stack, tmp_path, drive_path, "def handler(request):\n    return 'ok'\n")
    response = requests.put(
        f"{stack.api_root}/id-{name}",
        json={"path": f"p-{name}", "handler_script_path": drive_path},
        headers=stack.headers(account),
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return f"id-{name}", f"p-{name}", drive_path


def test_every_seed_management_snippet_verbatim(stack: RunningStack, tmp_path: Path) -> None:
    token = stack.token("jaydoe")
    api_root = stack.api_root
    upload(stack, tmp_path, SEED_DRIVE_PATH, SEED_HELLO)
    # Other tests on this stack also play the seed's example; start from a clean slate.
    requests.delete(api_root + "/my-endpoint-id", headers=stack.headers(), timeout=30)

    # Create.
    id = "my-endpoint-id"
    url = api_root + f"/{id}"
    headers = {"Authorization": "Bearer {0}".format(token)}  # noqa: UP030, UP032 (the seed's spelling)
    args: dict[str, Any] = {  # annotated only because the seed reuses the name for the update's args
        "path": "helloworld",
        "handler_script_path": "/jaydoe/my_repo/fs/Instabase Drive/handlers/hello.py",
    }
    r = requests.put(url, data=json.dumps(args), headers=headers)
    resp_data = json.loads(r.content)
    assert r.status_code == 201
    assert resp_data == {"id": "my-endpoint-id"}

    # Update.
    id = "my-endpoint-id"
    url = api_root + f"/{id}"
    headers = {"Authorization": "Bearer {0}".format(token)}  # noqa: UP030, UP032
    args = {
        "id": id,
        "path": "helloworld",
        "handler_script_path": "/jaydoe/my_repo/fs/Instabase Drive/handlers/hello.py",
        "enabled": True,
    }
    json_data = json.dumps(args)
    r = requests.patch(url, data=json_data, headers=headers)
    resp_data = json.loads(r.content)
    assert r.status_code == 200
    assert resp_data == {"id": "my-endpoint-id"}

    # Get.
    url = api_root + f"/{id}"
    headers = {"Authorization": "Bearer {0}".format(token)}  # noqa: UP030, UP032
    r = requests.get(url, headers=headers)
    resp_data = json.loads(r.content)
    assert r.status_code == 200
    pinned = resp_data["handler_script_version"]  # not in the seed: the version the endpoint runs
    assert resp_data == {
        "id": "my-endpoint-id",
        "path": "helloworld",
        "handler_script_path": "/jaydoe/my_repo/fs/Instabase Drive/handlers/hello.py",
        "handler_script_version": pinned,
        "state": "ENABLED",
        "auth": "bearer",  # not in the seed: who may call its trigger
        "secrets": [],  # not in the seed: the names of its secrets
    }

    # List.
    id = "my-endpoint-id"
    url = api_root + f"/list?id={id}"
    headers = {"Authorization": "Bearer {0}".format(token)}  # noqa: UP030, UP032
    r = requests.get(url, headers=headers)
    resp_data = json.loads(r.content)
    assert r.status_code == 200
    assert resp_data == {
        "id": "my-endpoint-id",
        "endpoints": [
            {
                "id": "my-endpoint-id",
                "path": "helloworld",
                "handler_script_path": "/jaydoe/my_repo/fs/Instabase Drive/handlers/hello.py",
                "handler_script_version": pinned,
                "state": "ENABLED",
                "auth": "bearer",
                "secrets": [],
            }
        ],
        "next_offset": None,
    }

    # Delete.
    url = api_root + f"/{id}"
    headers = {"Authorization": "Bearer {0}".format(token)}  # noqa: UP030, UP032
    r = requests.delete(url, headers=headers)
    resp_data = json.loads(r.content)
    assert r.status_code == 200
    assert resp_data == {"id": "my-endpoint-id"}

    gone = requests.get(url, headers=headers)
    assert gone.status_code == 404
    assert "error" in gone.json()


def test_a_disable_is_seen_by_the_next_request(stack: RunningStack, tmp_path: Path) -> None:
    endpoint_id, path, _ = fresh_endpoint(stack, tmp_path)
    patch = requests.patch(
        f"{stack.api_root}/{endpoint_id}", data=json.dumps({"enabled": False}), headers=stack.headers(), timeout=30
    )
    assert patch.status_code == 200
    got = requests.get(f"{stack.api_root}/{endpoint_id}", headers=stack.headers(), timeout=30)
    assert got.json()["state"] == "DISABLED"
    trigger = requests.get(f"{stack.api_root}/u/{path}", headers=stack.headers(), timeout=30)
    assert trigger.status_code == 503


def test_a_moved_path_is_free_at_once(stack: RunningStack, tmp_path: Path) -> None:
    endpoint_id, path, drive_path = fresh_endpoint(stack, tmp_path)
    moved = requests.patch(
        f"{stack.api_root}/{endpoint_id}", json={"path": path + "-moved"}, headers=stack.headers(), timeout=30
    )
    assert moved.status_code == 200
    reuse = requests.put(
        f"{stack.api_root}/{endpoint_id}-2",
        json={"path": path, "handler_script_path": drive_path},
        headers=stack.headers(),
        timeout=30,
    )
    assert reuse.status_code == 201, reuse.text


def test_list_filters_arrive_through_the_query_string(stack: RunningStack, tmp_path: Path) -> None:
    endpoint_id, path, drive_path = fresh_endpoint(stack, tmp_path)
    response = requests.get(
        f"{stack.api_root}/list",
        params={"handler": drive_path, "state": "enabled", "path": path},
        headers=stack.headers(),
        timeout=30,
    )
    assert response.status_code == 200
    assert [e["id"] for e in response.json()["endpoints"]] == [endpoint_id]
    repeated = requests.get(f"{stack.api_root}/list?limit=1&limit=2", headers=stack.headers(), timeout=30)
    assert repeated.status_code == 400
    assert "limit" in repeated.json()["error"]


def test_an_id_with_a_final_newline_is_never_the_id_without_it(stack: RunningStack, tmp_path: Path) -> None:
    endpoint_id, path, drive_path = fresh_endpoint(stack, tmp_path)
    url, headers = f"{stack.api_root}/{endpoint_id}", stack.headers()
    created = requests.put(
        f"{url}x%0A", json={"path": f"{path}x", "handler_script_path": drive_path}, headers=headers, timeout=30
    )
    assert created.status_code == 400 and "id in the URL" in created.json()["error"], created.text
    assert requests.get(f"{url}x", headers=headers, timeout=30).status_code == 404  # nothing was created
    for method, body in (("GET", None), ("PATCH", {"enabled": False}), ("DELETE", None)):
        answer = requests.request(method, f"{url}%0A", json=body, headers=headers, timeout=30)
        assert answer.status_code == 404, (method, answer.text)
        assert repr(f"{endpoint_id}\n") in answer.json()["error"], (method, answer.text)
    kept = requests.get(url, headers=headers, timeout=30)
    assert (kept.status_code, kept.json()["state"]) == (200, "ENABLED")


def test_another_account_sees_nothing(stack: RunningStack, tmp_path: Path) -> None:
    endpoint_id, path, _ = fresh_endpoint(stack, tmp_path)
    other = stack.headers("someone-else")
    url = f"{stack.api_root}/{endpoint_id}"
    assert requests.get(url, headers=other, timeout=30).status_code == 404
    assert requests.patch(url, json={"enabled": False}, headers=other, timeout=30).status_code == 404
    assert requests.delete(url, headers=other, timeout=30).status_code == 404
    listed = requests.get(f"{stack.api_root}/list", params={"path": path}, headers=other, timeout=30)
    assert listed.json() == {"id": None, "endpoints": [], "next_offset": None}
    assert requests.get(url, headers=stack.headers(), timeout=30).status_code == 200


@pytest.mark.parametrize(
    ("body", "headers", "fragment"),
    [
        (b'{"path": "x",', {}, "not valid JSON"),
        (b'["a list"]', {}, "must be a JSON object"),
        (b"path=x&handler_script_path=/jaydoe/x.py", {"Content-Type": "application/x-www-form-urlencoded"}, "JSON"),
        (b'{"path": "x", "handler_script_path": "/jaydoe/x.py", "account": "jaydoe"}', {}, "account"),
    ],
)
def test_bad_bodies_are_json_400s(stack: RunningStack, body: bytes, headers: dict[str, str], fragment: str) -> None:
    response = requests.put(f"{stack.api_root}/bad-body", data=body, headers={**stack.headers(), **headers}, timeout=30)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    assert fragment in response.json()["error"]
