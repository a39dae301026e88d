"""The service's limits over HTTP on the local stack, each a clear JSON error; the template's limit parameters
reach the functions (a second stack runs with small ones)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.stack import E2E_PARAMETERS, RunningStack, start_stack

# The module's own stack is started once: keep its tests on one worker under `pytest -n --dist loadgroup`.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("limits_e2e")]

SMALL_LIMITS = {"MaxEndpointsPerAccount": "3", "MaxScriptBytes": "1024"}
ECHO_LENGTH = "def handler(request):\n    return str(len(request.get_data()))\n"


@pytest.fixture(scope="module")
def small_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("limits"), {**E2E_PARAMETERS, **SMALL_LIMITS})
    yield running
    running.stop()


def new_account() -> str:
    """An account of its own, so that counts and paths start from nothing on a shared stack."""
    return f"limits-{uuid.uuid4().hex[:10]}"


def upload(stack: RunningStack, tmp_path: Path, account: str, source: str) -> str:
    drive_path = f"/{account}/limits/{uuid.uuid4().hex[:8]}.py"
    local = tmp_path / "script.py"
    local.write_text(source)
    stack.httpep(*stack.target, "script", "put", str(local), drive_path)
    return drive_path


def create(stack: RunningStack, account: str, endpoint_id: str, body: dict[str, Any]) -> requests.Response:
    return requests.put(f"{stack.api_root}/{endpoint_id}", json=body, headers=stack.headers(account), timeout=30)


def json_error(response: requests.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    error = response.json()["error"]
    assert isinstance(error, str) and error
    return error


# ---------------------------------------------------------------------------------------------- trigger body


def test_a_body_over_the_trigger_limit_is_a_413_json_error(stack: RunningStack, tmp_path: Path) -> None:
    account = new_account()
    drive_path = upload(stack, tmp_path, account, ECHO_LENGTH)
    path = f"len-{uuid.uuid4().hex[:10]}"
    assert create(stack, account, f"id-{path}", {"path": path, "handler_script_path": drive_path}).status_code == 201
    url = f"{stack.api_root}/u/{path}"

    # Well under the router's limit, the handler sees every byte.
    under = requests.post(url, data=b"x" * (4 * 1024 * 1024), headers=stack.headers(account), timeout=60)
    assert (under.status_code, under.text) == (200, str(4 * 1024 * 1024))
    # 7 MB is more than a Lambda invoke can carry once encoded: the local API accepts it, the router refuses it.
    over = requests.post(url, data=b"x" * (7 * 1024 * 1024), headers=stack.headers(account), timeout=60)
    assert "too large" in json_error(over, 413)
    assert set(over.json()) == {"error", "request_id"}
    # And the endpoint is none the worse for it.
    after = requests.post(url, data=b"abc", headers=stack.headers(account), timeout=30)
    assert (after.status_code, after.text) == (200, "3")


# ---------------------------------------------------------------------------------------------- lengths


@pytest.mark.parametrize(
    ("endpoint_id", "path", "script_name", "message"),
    [
        ("x" * 129, "ok", "a.py", "id in the URL: must be 1-128 characters"),
        ("ok", "p" * 129, "a.py", "path: must be 1-128 characters"),
        ("ok", "ok", "a" * 1021 + ".py", "handler_script_path: must be at most 1024 characters"),
    ],
)
def test_an_id_path_or_script_path_over_its_length_is_a_400_naming_it(
    stack: RunningStack, endpoint_id: str, path: str, script_name: str, message: str
) -> None:
    account = new_account()
    body = {"path": path, "handler_script_path": f"/{account}/{script_name}"}
    assert json_error(create(stack, account, endpoint_id, body), 400).startswith(message)


def test_the_longest_id_and_path_are_accepted(stack: RunningStack, tmp_path: Path) -> None:
    account = new_account()
    drive_path = upload(stack, tmp_path, account, "def handler(request):\n    return 'long'\n")
    endpoint_id = "L" + uuid.uuid4().hex + "x" * (127 - 32)
    path = "P" + uuid.uuid4().hex + "y" * (127 - 32)
    assert (len(endpoint_id), len(path)) == (128, 128)
    assert create(stack, account, endpoint_id, {"path": path, "handler_script_path": drive_path}).status_code == 201
    served = requests.get(f"{stack.api_root}/u/{path}", headers=stack.headers(account), timeout=30)
    assert (served.status_code, served.text) == (200, "long")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("id", "x" * 129),
        ("path", "p" * 129),
        ("handler", "/jaydoe/" + "a" * 1020 + ".py"),
        ("limit", "1001"),
        ("offset", "1" * 10),
    ],
)
def test_a_list_filter_over_its_limit_is_a_400_naming_it(stack: RunningStack, name: str, value: str) -> None:
    response = requests.get(f"{stack.api_root}/list", params={name: value}, headers=stack.headers(), timeout=30)
    assert json_error(response, 400).startswith(f"{name}: ")


# ---------------------------------------------------------------------------------------------- template parameters


@pytest.mark.local_only  # a second local stack with small limits
def test_max_endpoints_per_account_comes_from_the_template(
    stack: RunningStack, small_stack: RunningStack, tmp_path: Path
) -> None:
    account = new_account()
    drive_path = upload(small_stack, tmp_path, account, "def handler(request):\n    return 'ok'\n")
    suffix = uuid.uuid4().hex[:8]

    def endpoint(n: int) -> tuple[str, dict[str, str]]:
        return f"id-{n}-{suffix}", {"path": f"p-{n}-{suffix}", "handler_script_path": drive_path}

    for n in range(3):
        assert create(small_stack, account, *endpoint(n)).status_code == 201
    error = json_error(create(small_stack, account, *endpoint(3)), 409)
    assert error == f"account {account!r} already has the maximum of 3 endpoints"
    # Nothing of the refused endpoint was kept: neither its id nor its path.
    listed = requests.get(f"{small_stack.api_root}/list", headers=small_stack.headers(account), timeout=30).json()
    assert [e["id"] for e in listed["endpoints"]] == [endpoint(n)[0] for n in range(3)]
    trigger = requests.get(f"{small_stack.api_root}/u/p-3-{suffix}", headers=small_stack.headers(account), timeout=30)
    json_error(trigger, 404)
    # Another account has a count of its own, and a delete makes room again.
    other = new_account()
    other_script = upload(small_stack, tmp_path, other, "def handler(request):\n    return 'ok'\n")
    body = {"path": f"q-{suffix}", "handler_script_path": other_script}
    assert create(small_stack, other, f"other-{suffix}", body).status_code == 201
    deleted = requests.delete(
        f"{small_stack.api_root}/{endpoint(0)[0]}", headers=small_stack.headers(account), timeout=30
    )
    assert deleted.status_code == 200
    assert create(small_stack, account, *endpoint(3)).status_code == 201

    # The default stack (MaxEndpointsPerAccount 1000) takes a fourth endpoint of one account.
    drive_path = upload(stack, tmp_path, account, "def handler(request):\n    return 'ok'\n")
    for n in range(4):
        assert create(stack, account, *endpoint(n)).status_code == 201


@pytest.mark.local_only  # a second local stack with small limits
def test_max_script_bytes_comes_from_the_template(
    stack: RunningStack, small_stack: RunningStack, tmp_path: Path
) -> None:
    account = new_account()
    fits = "def handler(request):\n    return 'fits'\n"
    fits += "#" * (1024 - len(fits) - 1) + "\n"
    too_big = fits + "#\n"
    assert (len(fits.encode()), len(too_big.encode())) == (1024, 1026)
    small_fits = upload(small_stack, tmp_path, account, fits)
    small_too_big = upload(small_stack, tmp_path, account, too_big)
    suffix = uuid.uuid4().hex[:8]

    refused = create(
        small_stack, account, f"big-{suffix}", {"path": f"big-{suffix}", "handler_script_path": small_too_big}
    )
    assert json_error(refused, 400) == f"handler_script_path: {small_too_big} is larger than the limit of 1024 bytes"
    body = {"path": f"fits-{suffix}", "handler_script_path": small_fits}
    assert create(small_stack, account, f"fits-{suffix}", body).status_code == 201
    update = requests.patch(
        f"{small_stack.api_root}/fits-{suffix}",
        json={"handler_script_path": small_too_big},
        headers=small_stack.headers(account),
        timeout=30,
    )
    assert json_error(update, 400) == f"handler_script_path: {small_too_big} is larger than the limit of 1024 bytes"
    got = requests.get(f"{small_stack.api_root}/fits-{suffix}", headers=small_stack.headers(account), timeout=30)
    assert got.json()["handler_script_path"] == small_fits

    # The default stack (MaxScriptBytes 262144) takes the same script.
    default_too_big = upload(stack, tmp_path, account, too_big)
    body = {"path": f"big-{suffix}", "handler_script_path": default_too_big}
    assert create(stack, account, f"big-{suffix}", body).status_code == 201
