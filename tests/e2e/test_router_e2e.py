"""The trigger route over HTTP on the local stack: the seed's snippets verbatim, faults, limits, isolation."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import requests

from tests.support.stack import RunningStack

pytestmark = pytest.mark.e2e

HANDLERS = Path(__file__).resolve().parents[1] / "handlers"


def register(stack: RunningStack, tmp_path: Path, source: str, account: str = "jaydoe") -> str:
    """Upload a script and create an endpoint for it; returns the endpoint's path."""
    name = uuid.uuid4().hex[:10]
    local = tmp_path / f"{name}.py"
    local.write_text(source)
    drive_path = f"/{account}/my_repo/fs/Instabase Drive/handlers/{name}.py"
    stack.httpep(*stack.target, "script", "put", str(local), drive_path)
    response = requests.put(
        f"{stack.api_root}/ep-{name}",
        data=json.dumps({"path": name, "handler_script_path": drive_path}),
        headers=stack.headers(account),
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return name


def test_the_seed_hello_example_verbatim(stack: RunningStack, tmp_path: Path) -> None:
    token = stack.token("jaydoe")
    api_root = stack.api_root
    hello = tmp_path / "hello.py"
    hello.write_text((HANDLERS / "hello.py").read_text())
    stack.httpep(*stack.target, "script", "put", str(hello), "/jaydoe/my_repo/fs/Instabase Drive/handlers/hello.py")
    requests.delete(api_root + "/my-endpoint-id", headers={"Authorization": f"Bearer {token}"}, timeout=30)

    # The seed's create snippet.
    id = "my-endpoint-id"
    url = api_root + f"/{id}"
    headers = {"Authorization": f"Bearer {token}"}
    args = {
        "path": "helloworld",
        "handler_script_path": "/jaydoe/my_repo/fs/Instabase Drive/handlers/hello.py",
    }
    r = requests.put(url, data=json.dumps(args), headers=headers)
    assert r.status_code == 201
    assert json.loads(r.content) == {"id": "my-endpoint-id"}

    # The seed's trigger snippet.
    path = "helloworld"
    url = api_root + f"/u/{path}"
    headers = {"Authorization": f"Bearer {token}"}
    r = requests.get(url, headers=headers)
    assert r.status_code == 200
    assert r.content == b"Hello World"
    for method in ("put", "patch", "delete"):
        r = getattr(requests, method)(url, headers=headers)
        assert r.status_code == 404
        assert r.content == b""


def test_edit_then_call_and_disable(stack: RunningStack, tmp_path: Path) -> None:
    path = register(stack, tmp_path, "def handler(request):\n    return 'v1'\n")
    url = f"{stack.api_root}/u/{path}"
    assert requests.get(url, headers=stack.headers(), timeout=30).text == "v1"
    local = tmp_path / "v2.py"
    local.write_text("def handler(request):\n    return 'v2'\n")
    stack.httpep(*stack.target, "script", "put", str(local), f"/jaydoe/my_repo/fs/Instabase Drive/handlers/{path}.py")
    assert requests.get(url, headers=stack.headers(), timeout=30).text == "v2"
    patch = requests.patch(
        f"{stack.api_root}/ep-{path}", data=json.dumps({"enabled": False}), headers=stack.headers(), timeout=30
    )
    assert patch.status_code == 200
    disabled = requests.post(url, headers=stack.headers(), timeout=30)
    assert disabled.status_code == 503
    assert disabled.headers["Retry-After"]
    assert "error" in disabled.json()


def test_a_slow_handler_gets_504_and_the_next_call_is_served(stack: RunningStack, tmp_path: Path) -> None:
    path = register(
        stack,
        tmp_path,
        "import time\n\n"
        "def handler(request):\n"
        "    if request.args.get('sleep'):\n"
        "        time.sleep(30)\n"
        "    return 'ok'\n",
    )
    url = f"{stack.api_root}/u/{path}"
    slow = requests.get(url, params={"sleep": "1"}, headers=stack.headers(), timeout=60)
    assert slow.status_code == 504
    assert "error" in slow.json()
    assert requests.get(url, headers=stack.headers(), timeout=30).text == "ok"


def test_user_faults_are_json_500s_without_our_traceback(stack: RunningStack, tmp_path: Path) -> None:
    path = register(stack, tmp_path, "def handler(request):\n    return {'not': 'allowed'}\n")
    response = requests.get(f"{stack.api_root}/u/{path}", headers=stack.headers(), timeout=30)
    assert response.status_code == 500
    body = response.json()
    assert "dict" in body["error"]
    assert body["request_id"]
    assert "Traceback" not in response.text


def test_another_accounts_endpoint_is_404_on_the_trigger(stack: RunningStack, tmp_path: Path) -> None:
    path = register(stack, tmp_path, "def handler(request):\n    return 'mine'\n")
    other = requests.get(f"{stack.api_root}/u/{path}", headers=stack.headers("mallory"), timeout=30)
    assert other.status_code == 404
    assert "error" in other.json()


def test_a_handler_finds_no_credentials_and_can_do_nothing(stack: RunningStack, tmp_path: Path) -> None:
    path = register(stack, tmp_path, (HANDLERS / "credentials_hunter.py").read_text())
    response = requests.get(f"{stack.api_root}/u/{path}", headers=stack.headers(), timeout=60)
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["environ"] == []
    assert found["proc_self_environ_has_key"] in (False, "unreadable")
    assert found["other_environs_with_keys"] == []
    assert found["botocore_credentials"] == 0
    assert found["dynamodb"].startswith("failed")
    assert found["s3"].startswith("failed")


def test_a_call_token_triggers_only_the_endpoints_it_names(stack: RunningStack, tmp_path: Path) -> None:
    covered = register(stack, tmp_path, "def handler(request):\n    return 'covered'\n")
    other = register(stack, tmp_path, "def handler(request):\n    return 'other'\n")
    minted = stack.httpep(
        *stack.target, "token", "create", "--account", "jaydoe", "--scope", "call", "--endpoint", f"ep-{covered}"
    )
    headers = {"Authorization": f"Bearer {minted.stdout.strip()}"}
    assert requests.get(f"{stack.api_root}/u/{covered}", headers=headers, timeout=30).text == "covered"
    refused = requests.get(f"{stack.api_root}/u/{other}", headers=headers, timeout=30)
    assert refused.status_code == 401 and "error" in refused.json()
    managing = requests.get(f"{stack.api_root}/ep-{covered}", headers=headers, timeout=30)
    assert managing.status_code == 403 and "scope call" in managing.json()["error"]
