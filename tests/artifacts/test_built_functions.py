"""What `sam build` ships runs: every built function, in a clean Python 3.13 with nothing but its build
directory and the built layer on sys.path, against moto over HTTP.

Nothing may come from the venv or from src/: the interpreter starts isolated and without site-packages (`-I -S`),
and each run reports any module loaded from outside the build and the standard library. The router reaches the
sandbox through a Lambda endpoint that runs the built sandbox the same way.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from packaging.utils import canonicalize_name

from httpendpoint.stores import token_store
from httpep.local.resources import create_resources
from httpep.local.runner import function_environment
from httpep.local.template import LOCAL_REGION, LocalTemplate
from tests.support.events import api_event
from tests.support.repo import REPO_ROOT

BUILD_DIR = REPO_ROOT / ".aws-sam" / "build"
VENV_BIN = Path(sys.executable).parent
# The interpreter the venv was made from: a plain Python 3.13 with none of the venv's packages.
CLEAN_PYTHON = getattr(sys, "_base_executable", sys.executable)
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": LOCAL_REGION}
HELLO = b"from flask import Request\n\ndef handler(request: Request):\n    return 'Hello ' + request.path\n"
HELLO_PATH = "/jaydoe/my_repo/fs/Instabase Drive/handlers/hello.py"

# Runs in the clean interpreter: argv = function dir, layer dir, result file; the event on stdin.
RUNNER = """
import json, sys, sysconfig
function_dir, layer_dir, result_file = sys.argv[1:4]
sys.path[:0] = [function_dir, layer_dir]
class Context:
    function_name = "built"; function_version = "$LATEST"; memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:built"
    aws_request_id = "11111111-2222-3333-4444-555555555555"
    log_group_name = "/aws/lambda/built"; log_stream_name = "built"
    def get_remaining_time_in_millis(self): return 20000
event = json.load(sys.stdin)
try:
    import app
    outcome = {"result": app.lambda_handler(event, Context())}
except Exception as exc:
    outcome = {"error": type(exc).__name__, "message": str(exc)}
allowed = (function_dir, layer_dir, sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
outcome["outside"] = sorted({
    str(module.__file__) for module in list(sys.modules.values())
    if getattr(module, "__file__", None) and not str(module.__file__).startswith(allowed)
})
outcome["path"] = sys.path
with open(result_file, "w") as f:
    json.dump(outcome, f)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def built() -> Path:
    """`sam build` as `make deploy` runs it (the venv's Python 3.13 first on PATH), from the layer's lock."""
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", "SAM_CLI_TELEMETRY": "0"}
    command = [str(VENV_BIN / "sam"), "build", "--template-file", "template.yaml", "--build-dir", str(BUILD_DIR)]
    subprocess.run([*command, "--cached", "--parallel"], cwd=REPO_ROOT, env=env, check=True, timeout=900)
    return BUILD_DIR


class BuiltStack:
    """The built functions, run one invocation at a time, with the environment the template gives them."""

    def __init__(self, build_dir: Path, aws_endpoint: str) -> None:
        self.build_dir = build_dir
        self.aws_endpoint = aws_endpoint
        self.lambda_endpoint = ""
        self.template = LocalTemplate()
        self.functions = {function.name: function for function in self.template.functions()}
        self.invoked: set[str] = set()

    def invoke(self, name: str, event: dict[str, Any]) -> dict[str, Any]:
        function = self.functions[name]
        env = function_environment(self.template, function, self.aws_endpoint, self.lambda_endpoint)
        env.pop("PYTHONPATH")  # ignored under -I anyway; the runner puts only the build on sys.path
        env["LAMBDA_TASK_ROOT"] = str(self.build_dir / name)
        env["LD_LIBRARY_PATH"] = os.environ.get("LD_LIBRARY_PATH", "")
        layer = self.build_dir / "SharedLayer" / "python"
        with tempfile.NamedTemporaryFile(suffix=".json") as result:
            process = subprocess.run(
                [CLEAN_PYTHON, "-I", "-S", "-c", RUNNER, str(self.build_dir / name), str(layer), result.name],
                input=json.dumps(event).encode(),
                env=env,
                capture_output=True,
                timeout=120,
                check=False,
            )
            assert process.returncode == 0, process.stderr.decode()[-3000:]
            outcome = dict(json.loads(Path(result.name).read_text()))
        self.invoked.add(name)
        assert outcome["outside"] == [], f"{name} imported from outside its build: {outcome['outside']}"
        assert not any(".venv" in entry or "/src" in entry for entry in outcome["path"]), outcome["path"]
        return outcome


@pytest.fixture(scope="module")
def stack(built: Path) -> Iterator[BuiltStack]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    stack = BuiltStack(built, f"http://127.0.0.1:{port}")
    create_resources(stack.template, lambda service: client(stack, service))

    class LambdaEndpoint(BaseHTTPRequestHandler):
        """Lambda's Invoke API, running the built function named in the path (the router calls the sandbox)."""

        def do_POST(self) -> None:
            name = self.path.split("/functions/", 1)[1].split("/", 1)[0]
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            outcome = stack.invoke(name, payload)
            body = json.dumps(outcome.get("result", outcome)).encode()
            self.send_response(200)
            if "error" in outcome:
                self.send_header("X-Amz-Function-Error", "Unhandled")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reports what matters."""

    lambda_server = ThreadingHTTPServer(("127.0.0.1", free_port()), LambdaEndpoint)
    threading.Thread(target=lambda_server.serve_forever, daemon=True).start()
    stack.lambda_endpoint = f"http://127.0.0.1:{lambda_server.server_address[1]}"
    yield stack
    lambda_server.shutdown()
    server.stop()


def client(stack: BuiltStack, service: str) -> Any:
    return boto3.client(service, endpoint_url=stack.aws_endpoint, **CREDENTIALS)  # type: ignore[call-overload]


def body(outcome: dict[str, Any]) -> Any:
    assert "result" in outcome, outcome
    return json.loads(outcome["result"]["body"])


def test_the_layer_ships_the_locked_sdk(built: Path) -> None:
    from tests.unit.project.test_layer_lock import locked

    layer = built / "SharedLayer" / "python"
    shipped = {
        str(canonicalize_name(path.name.split("-")[0])): path.name.split("-")[1].removesuffix(".dist")
        for path in layer.glob("*.dist-info")
    }
    assert {name: shipped.get(name) for name in locked()} == locked()


def test_every_built_function_serves_the_walkthrough(stack: BuiltStack) -> None:
    names = stack.template.local_names
    token = token_store.create_token("jaydoe", table=names["TokensTable"], dynamodb=client(stack, "dynamodb"))
    allowed = stack.invoke("AuthorizerFunction", {**_authorizer_event(), "authorizationToken": f"Bearer {token}"})
    assert allowed["result"]["principalId"] == "jaydoe"
    assert allowed["result"]["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    refused = stack.invoke("AuthorizerFunction", {**_authorizer_event(), "authorizationToken": "Bearer hep_nope"})
    assert refused.get("message") == "Unauthorized", refused

    # The tenant saves the script through the files API (the built files function), as the README does.
    saved = stack.invoke(
        "FilesFunction",
        api_event("files", method="PUT", path_parameters={"path": HELLO_PATH.lstrip("/")}, body=HELLO),
    )
    assert saved["result"]["statusCode"] == 201, saved
    created = stack.invoke(
        "CreateEndpointFunction",
        api_event(
            "create", path_parameters={"id": "hello-id"}, body={"path": "hello", "handler_script_path": HELLO_PATH}
        ),
    )
    assert created["result"]["statusCode"] == 201, created
    got = stack.invoke("GetEndpointFunction", api_event("get", path_parameters={"id": "hello-id"}))
    assert body(got)["path"] == "hello"
    updated = stack.invoke(
        "UpdateEndpointFunction", api_event("update", path_parameters={"id": "hello-id"}, body={"path": "greet"})
    )
    assert updated["result"]["statusCode"] == 200, updated
    listed = stack.invoke("ListEndpointsFunction", api_event("list", query={}))
    assert [endpoint["id"] for endpoint in body(listed)["endpoints"]] == ["hello-id"]

    # No authorizer on the trigger route: the router reads the token itself.
    credentials = {"Authorization": [f"Bearer {token}"]}
    triggered = stack.invoke(
        "RouterFunction", api_event("router", path_parameters={"path": "greet"}, headers=credentials)
    )
    assert triggered["result"]["statusCode"] == 200, triggered
    raw = triggered["result"]["body"]
    text = base64.b64decode(raw) if triggered["result"].get("isBase64Encoded") else raw.encode()
    assert text == b"Hello /api/v1/http-endpoint/u/greet", text
    assert "SandboxFunction" in stack.invoked
    history = stack.invoke("InvocationsFunction", api_event("invocations", path_parameters={"id": "hello-id"}))
    assert [record["status"] for record in body(history)["invocations"]] == [200], history

    deleted = stack.invoke("DeleteEndpointFunction", api_event("delete", path_parameters={"id": "hello-id"}))
    assert deleted["result"]["statusCode"] == 200, deleted
    assert stack.invoked == set(stack.functions)


def _authorizer_event() -> dict[str, Any]:
    from tests.support.events import load_event

    return load_event("authorizer")
