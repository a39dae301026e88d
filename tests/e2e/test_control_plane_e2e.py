"""The local control plane is out of a handler's reach: moto's tables and bucket, the local Lambda Invoke API.

A handler of one account tries them all over loopback, with the credentials any local client uses, a forged
authorizer context and a sandbox timeout far above the function's. Outbound network stays open.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from httpep.local.template import LocalTemplate
from tests.e2e.test_router_e2e import register
from tests.support.repo import TEMPLATE_PATH
from tests.support.stack import RunningStack

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.local_only,  # it attacks the local stack itself
    pytest.mark.skipif(os.geteuid() != 0, reason="handlers are told apart from the stack by their uid, as root"),
]

HANDLERS = Path(__file__).resolve().parents[1] / "handlers"
ATTEMPTS = [
    "dynamodb_list",
    "dynamodb_read",
    "dynamodb_write",
    "s3_list",
    "s3_read",
    "s3_write",
    "invoke_list",
    "invoke_sandbox",
]


@pytest.fixture(scope="module")
def intruder(patient_stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], str]:
    """Runs one attempt of the intruder's handler; returns what it found."""
    stack = patient_stack
    tmp_path = tmp_path_factory.mktemp("intruder")
    victim = register(stack, tmp_path, "def handler(request):\n    return 'victim'\n", account="victim")
    path = register(stack, tmp_path, (HANDLERS / "control_plane_intruder.py").read_text(), account="intruder")
    names = LocalTemplate(TEMPLATE_PATH).local_names
    query: dict[str, str | int] = {
        "aws_port": stack.aws_port,
        "lambda_port": stack.lambda_port,
        "api_port": stack.port,
        "table": names["EndpointsTable"],
        "bucket": names["ScriptBucket"],
        "key": f"victim/my_repo/fs/Instabase Drive/handlers/{victim}.py",
        "victim": "victim",
        "list_function": "ListEndpointsFunction",
        "sandbox_function": "SandboxFunction",
    }

    def attempt(name: str) -> str:
        response = requests.get(
            f"{stack.api_root}/u/{path}",
            params={**query, "attempt": name},
            headers=stack.headers("intruder"),
            timeout=60,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["result"])

    return attempt


@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_a_handler_cannot_reach_the_local_control_plane(intruder: Callable[[str], str], attempt: str) -> None:
    assert intruder(attempt) == "failed: ClientError 403"


def test_a_handler_still_reaches_the_network(intruder: Callable[[str], str]) -> None:
    # The local API Gateway answers the intruder (401 without a token): loopback as such stays open.
    assert intruder("api") == "reached: 401"


def test_the_stacks_own_clients_still_reach_moto_and_lambda(stack: RunningStack) -> None:
    assert stack.httpep("--local", "token", "create", "--account", "owner").returncode == 0
    response = requests.post(
        f"http://127.0.0.1:{stack.lambda_port}/2015-03-31/functions/ListEndpointsFunction/invocations",
        json={"requestContext": {"authorizer": {"account": "owner"}}, "httpMethod": "GET"},
        timeout=60,
    )
    assert response.status_code == 200
