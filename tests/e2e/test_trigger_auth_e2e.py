"""Trigger authentication and secrets over HTTP on the local stack: no authorizer on `u/<path>`, the router
decides by the endpoint's `auth`; secrets reach the handler's environment and nothing else."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from pathlib import Path

import pytest
import requests

from tests.support.stack import RunningStack, Stack

pytestmark = pytest.mark.e2e

ENVIRONMENT = """
import hashlib
import json
import os


def handler(request):
    value = os.environ.get("API_KEY", "")
    if request.args.get("leak") == "print":
        print("the key is", value)
    if request.args.get("leak") == "raise":
        raise RuntimeError("bad key " + value)
    return json.dumps({"sha256": hashlib.sha256(value.encode()).hexdigest(), "aws": sorted(
        name for name in os.environ if name.startswith("AWS_"))})
"""


def register(stack: Stack, tmp_path: Path, source: str, settings: dict[str, object], account: str = "jaydoe") -> str:
    name = uuid.uuid4().hex[:10]
    local = tmp_path / f"{name}.py"
    local.write_text(source)
    drive_path = f"/{account}/my_repo/fs/Instabase Drive/handlers/{name}.py"
    stack.httpep(*stack.target, "script", "put", str(local), drive_path)
    body = {"path": name, "handler_script_path": drive_path, **settings}
    response = requests.put(f"{stack.api_root}/ep-{name}", json=body, headers=stack.headers(account), timeout=30)
    assert response.status_code == 201, response.text
    return name


def test_secrets_reach_the_handler_and_appear_nowhere_else(stack: RunningStack, tmp_path: Path) -> None:
    secret = "sk-" + uuid.uuid4().hex
    path = register(stack, tmp_path, ENVIRONMENT, {"auth": "none", "secrets": {"API_KEY": secret}})
    url = f"{stack.api_root}/u/{path}"
    seen = requests.get(url, timeout=30).json()
    assert seen == {"sha256": hashlib.sha256(secret.encode()).hexdigest(), "aws": []}
    assert requests.get(url, params={"leak": "print"}, timeout=30).status_code == 200
    failed = requests.get(url, params={"leak": "raise"}, timeout=30)
    assert failed.status_code == 500
    assert failed.json()["error"] == "RuntimeError: bad key ***"
    endpoint = requests.get(f"{stack.api_root}/ep-{path}", headers=stack.headers(), timeout=30)
    assert endpoint.json()["secrets"] == ["API_KEY"]
    listing = requests.get(f"{stack.api_root}/list", params={"path": path}, headers=stack.headers(), timeout=30)
    assert listing.json()["endpoints"][0]["secrets"] == ["API_KEY"]
    for answer in (endpoint, listing):
        assert secret not in answer.text
    # Everything the local stack and its functions (router, sandbox) wrote.
    assert secret not in stack.logs()


def test_an_anonymous_caller_learns_nothing_about_bearer_endpoints(stack: RunningStack, tmp_path: Path) -> None:
    path = register(stack, tmp_path, "def handler(request):\n    return 'private'\n", {})
    known = requests.get(f"{stack.api_root}/u/{path}", timeout=30)
    unknown = requests.get(f"{stack.api_root}/u/nothing-{uuid.uuid4().hex[:8]}", timeout=30)
    assert known.status_code == unknown.status_code == 401
    assert known.json() == unknown.json()
    other = requests.get(f"{stack.api_root}/u/{path}", headers=stack.headers("someone-else"), timeout=30)
    assert other.status_code == 404
    mine = requests.get(f"{stack.api_root}/u/{path}", headers=stack.headers(), timeout=30)
    assert (mine.status_code, mine.text) == (200, "private")


def test_a_signed_delivery_runs_the_handler_and_a_forged_one_does_not(stack: RunningStack, tmp_path: Path) -> None:
    secret = uuid.uuid4().hex
    settings: dict[str, object] = {
        "auth": "hmac",
        "hmac": {"header": "X-Hub-Signature-256", "secret": "GITHUB_SECRET", "prefix": "sha256="},
        "secrets": {"GITHUB_SECRET": secret},
    }
    source = "def handler(request):\n    print('ran')\n    return request.get_data(as_text=True)\n"
    path = register(stack, tmp_path, source, settings)
    body = json.dumps({"zen": "Keep it logically awesome."}).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    url = f"{stack.api_root}/u/{path}"
    signed = requests.post(url, data=body, headers={"X-Hub-Signature-256": signature}, timeout=30)
    assert (signed.status_code, signed.content) == (200, body)
    forged = requests.post(url, data=body + b" ", headers={"X-Hub-Signature-256": signature}, timeout=30)
    assert forged.status_code == 401
    assert "signature" in forged.json()["error"]
