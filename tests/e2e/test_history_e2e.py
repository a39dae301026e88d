"""Invocation history over HTTP on the local stack: what a handler printed and raised, readable within 2 s."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.test_router_e2e import register as register_script
from tests.support.stack import RunningStack

pytestmark = pytest.mark.e2e

HANDLER = """\
import sys


def handler(request):
    print("processing order", request.args.get("order"))
    print("warning: slow path", file=sys.stderr)
    if request.args.get("fail"):
        raise RuntimeError("payment service said no")
    return "ok"
"""
# The guarantee: a record is readable this long after the trigger answered.
READABLE_WITHIN_SECONDS = 2.0


def register(stack: RunningStack, tmp_path: Path, account: str = "jaydoe") -> tuple[str, str]:
    """The chatty handler as an endpoint: its id and its path."""
    path = register_script(stack, tmp_path, HANDLER, account)
    return f"ep-{path}", path


def invocations(stack: RunningStack, endpoint_id: str, account: str = "jaydoe", **query: str) -> requests.Response:
    return requests.get(
        f"{stack.api_root}/{endpoint_id}/invocations", params=query, headers=stack.headers(account), timeout=30
    )


def record_within(stack: RunningStack, endpoint_id: str, request_id: str | None = None) -> dict[str, Any]:
    """The record of `request_id` (or the newest one), read within the guaranteed time."""
    deadline = time.monotonic() + READABLE_WITHIN_SECONDS
    while True:
        response = invocations(stack, endpoint_id)
        assert response.status_code == 200, response.text
        found = [r for r in response.json()["invocations"] if request_id in (None, r["request_id"])]
        if found:
            return dict(found[0])
        assert time.monotonic() < deadline, f"no record of {request_id} within {READABLE_WITHIN_SECONDS} s"
        time.sleep(0.1)


def test_a_handlers_output_and_traceback_are_readable_over_http(stack: RunningStack, tmp_path: Path) -> None:
    endpoint_id, path = register(stack, tmp_path)
    ok = requests.get(f"{stack.api_root}/u/{path}?order=41", headers=stack.headers("jaydoe"), timeout=30)
    failed = requests.post(f"{stack.api_root}/u/{path}?order=42&fail=1", headers=stack.headers("jaydoe"), timeout=30)
    assert (ok.status_code, failed.status_code) == (200, 500)
    request_id = failed.json()["request_id"]

    record = record_within(stack, endpoint_id, request_id)
    assert (record["method"], record["status"]) == ("POST", 500)
    assert record["error"] == "RuntimeError: payment service said no"
    output = record["output"]
    assert output.index("processing order 42") < output.index("warning: slow path") < output.index("Traceback")
    assert output.rstrip().endswith("RuntimeError: payment service said no")

    newest, older = invocations(stack, endpoint_id, limit="2").json()["invocations"]
    assert newest["request_id"] == request_id
    assert (older["status"], older["error"]) == (200, None)
    assert older["output"] == "processing order 41\nwarning: slow path\n"


def test_another_account_cannot_read_the_history_and_a_bad_limit_is_400(stack: RunningStack, tmp_path: Path) -> None:
    endpoint_id, path = register(stack, tmp_path)
    requests.get(f"{stack.api_root}/u/{path}", headers=stack.headers("jaydoe"), timeout=30)
    assert invocations(stack, endpoint_id, account="acme").status_code == 404
    assert invocations(stack, endpoint_id, limit="0").status_code == 400
    assert invocations(stack, endpoint_id, limit="101").status_code == 400


def test_httpep_logs_shows_the_same_records(stack: RunningStack, tmp_path: Path) -> None:
    endpoint_id, path = register(stack, tmp_path)
    requests.get(f"{stack.api_root}/u/{path}?order=7", headers=stack.headers("jaydoe"), timeout=30)
    record_within(stack, endpoint_id)
    shown = stack.httpep(*stack.target, "--token", stack.token("jaydoe"), "logs", endpoint_id)
    lines = shown.stdout.splitlines()
    assert " GET 200 " in lines[0]
    assert lines[1:3] == ["    processing order 7", "    warning: slow path"]
