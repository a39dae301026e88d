"""`make dev`'s stack over HTTP: routes from the template, the authorizer, errors and lifecycle."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from httpep.local.console import Console
from httpep.local.server import LocalStack
from tests.support.repo import REPO_ROOT
from tests.support.stack import RunningStack, free_port

pytestmark = pytest.mark.e2e

ROUTES = [
    ("PUT", "/some-id"),
    ("GET", "/some-id"),
    ("PATCH", "/some-id"),
    ("DELETE", "/some-id"),
    ("GET", "/list"),
    *((method, "/u/some-path") for method in ("GET", "POST", "PUT", "PATCH", "DELETE")),
]


@pytest.mark.parametrize(("method", "route"), ROUTES)
def test_every_route_requires_a_token(stack: RunningStack, http: requests.Session, method: str, route: str) -> None:
    response = http.request(method, stack.api_root + route)
    assert response.status_code == 401
    if "/u/" in route:  # no authorizer: the router refuses, whether or not the path exists
        assert response.json()["error"].startswith("Unauthorized")
    else:
        assert response.json() == {"message": "Unauthorized"}


@pytest.mark.parametrize(("method", "route"), ROUTES)
def test_every_route_reaches_its_function(stack: RunningStack, http: requests.Session, method: str, route: str) -> None:
    response = http.request(method, stack.api_root + route, headers=stack.headers(), json={})
    assert response.status_code not in (401, 403, 502), response.text
    assert response.headers["Content-Type"].startswith("application/json")


def test_unknown_route_is_a_json_error(stack: RunningStack, http: requests.Session) -> None:
    response = http.get(stack.api_root + "/u/a/b/c", headers=stack.headers())
    assert response.status_code == 403
    assert response.json()["error"] == "Missing Authentication Token"


@pytest.mark.local_only
def test_a_port_in_use_is_one_line(stack: RunningStack, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "httpep", "serve", "--port", str(stack.port), "--aws-port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        # A state file of its own: a stack a developer runs in this checkout would be refused first.
        env={**os.environ, "HTTPEP_LOCAL_STATE": str(tmp_path / "local.json")},
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert f"port {stack.port}" in result.stderr and "already in use" in result.stderr


@pytest.mark.local_only
@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["in-a-terminal", "in-a-scripts-background"])
def test_ctrl_c_stops_everything(tmp_path: Path, sigint_ignored: bool) -> None:
    from tests.support.stack import start_stack

    running = start_stack(tmp_path, {}, sigint_ignored=sigint_ignored)
    state = json.loads(running.state_path.read_text())
    assert (state["pid"], state["api_root"]) == (running.process.pid, running.api_root)
    running.process.send_signal(signal.SIGINT)
    assert running.process.wait(timeout=30) == 0
    assert not running.state_path.exists()  # removed on exit: --local then says no stack runs
    assert "Traceback" not in running.logs()
    with pytest.raises(requests.ConnectionError):
        requests.get(running.api_root + "/list", timeout=2)


@pytest.mark.local_only
def test_a_route_changed_in_the_template_is_served_with_no_other_edit() -> None:
    changed = REPO_ROOT / f".template-{uuid.uuid4().hex[:8]}.yaml"
    original = (REPO_ROOT / "template.yaml").read_text()
    changed.write_text(original.replace("Path: /api/v1/http-endpoint/list", "Path: /api/v1/http-endpoint/all"))
    quiet = Console(stream=io.StringIO())
    stack = LocalStack(
        port=free_port(), aws_port=free_port(), lambda_port=free_port(), template_path=changed, console=quiet
    )
    try:
        stack.start()
        moved = requests.get(stack.api_root + "/all", timeout=30)
        assert moved.status_code == 401  # served (behind the authorizer) at the new path
        old = requests.get(stack.api_root + "/list", timeout=30)
        assert old.status_code == 401  # now matched by GET /{id}, also behind the authorizer
        assert {r.path for r in stack.template.api.routes} >= {"/api/v1/http-endpoint/all"}
    finally:
        stack.stop()
        changed.unlink()


@pytest.mark.parametrize("route", ["/u/a%0Ab", "/a%0Ab"])
def test_a_newline_in_the_path_reaches_the_function(stack: RunningStack, http: requests.Session, route: str) -> None:
    response = http.get(stack.api_root + route, headers=stack.headers())
    assert response.status_code == 404
    assert "error" in response.json()
