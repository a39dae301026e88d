"""`httpep endpoint ...` and `httpep call` as a user runs them: subprocesses against the local stack."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from httpep.client import ApiClient
from tests.support.repo import REPO_ROOT
from tests.support.stack import RunningStack, free_port

pytestmark = pytest.mark.e2e

HANDLERS = REPO_ROOT / "tests" / "handlers"


def httpep(
    stack: RunningStack, *args: str, token: str | None = None, env: dict[str, str] | None = None, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    """The CLI with the stack's state file and nothing of the developer's own HTTPEP_* settings."""
    base = own_settings_removed(stack.env)
    if token is not None:
        base["HTTPEP_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "httpep", *args],
        env={**base, **(env or {})},
        input=stdin,
        capture_output=True,
        cwd=REPO_ROOT,
        timeout=120,
    )


def own_settings_removed(env: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if not key.startswith("HTTPEP_") or key == "HTTPEP_LOCAL_STATE"}


def ok(result: subprocess.CompletedProcess[bytes]) -> str:
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def error_line(result: subprocess.CompletedProcess[bytes]) -> str:
    assert result.returncode == 1, result.stdout
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in lines[0]
    return lines[0]


class Account:
    """A fresh account on the shared stack: its token, and unique names for ids and paths."""

    def __init__(self, stack: RunningStack) -> None:
        self.stack = stack
        self.name = "cli-" + uuid.uuid4().hex[:10]
        self.token = stack.token(self.name)

    def unique(self, stem: str) -> str:
        return f"{stem}-{uuid.uuid4().hex[:8]}"

    def drive(self, file_name: str) -> str:
        return f"/{self.name}/repo/fs/Instabase Drive/handlers/{file_name}"

    def run(self, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        return httpep(self.stack, *self.stack.target, *args, token=self.token, stdin=stdin)

    def register(self, handler: Path) -> str:
        """Upload `handler` and create an endpoint for it in one step; returns its path."""
        path = self.unique(handler.stem.replace("_", "-"))
        ok(
            self.run(
                "endpoint",
                "create",
                path,
                "--path",
                path,
                "--handler",
                self.drive(handler.name),
                "--upload",
                str(handler),
            )
        )
        return path


@pytest.fixture
def account(stack: RunningStack) -> Account:
    return Account(stack)


def test_an_endpoint_s_whole_life(account: Account) -> None:
    endpoint_id, path, drive_path = account.unique("hello"), account.unique("hello"), account.drive("hello.py")
    created = account.run(
        "endpoint",
        "create",
        endpoint_id,
        "--path",
        path,
        "--handler",
        drive_path,
        "--upload",
        str(HANDLERS / "hello.py"),
    )
    assert json.loads(ok(created)) == {"id": endpoint_id}
    uploaded, serving = created.stderr.decode().splitlines()
    assert uploaded.startswith(f"uploaded {HANDLERS / 'hello.py'} to {drive_path} (version ")
    assert serving == f"serving {account.stack.api_root}/u/{path}"
    got = json.loads(ok(account.run("endpoint", "get", endpoint_id)))
    version = got.pop("handler_script_version")
    assert isinstance(version, str) and version  # the version the upload stored, pinned at create
    assert got == {
        "id": endpoint_id,
        "path": path,
        "handler_script_path": drive_path,
        "state": "ENABLED",
        "auth": "bearer",
        "secrets": [],
    }
    assert ok(account.run("call", path)) == "Hello World"

    assert json.loads(ok(account.run("endpoint", "update", endpoint_id, "--disable"))) == {"id": endpoint_id}
    disabled = account.run("call", "-i", path)
    assert disabled.returncode == 1
    head = disabled.stderr.decode().splitlines()
    assert head[0].startswith("HTTP/1.1 503 ") and "Retry-After: 30" in head
    assert head[-1] == f"Error: 503 endpoint '{endpoint_id}' is disabled"
    assert json.loads(disabled.stdout) == {"error": f"endpoint '{endpoint_id}' is disabled"}

    moved = account.unique("moved")
    ok(account.run("endpoint", "update", endpoint_id, "--enable", "--path", moved))
    assert ok(account.run("call", moved)) == "Hello World"
    assert error_line(account.run("call", path)) == f"Error: 404 no endpoint at path '{path}'"

    ok(account.run("script", "put", str(HANDLERS / "returns.py"), account.drive("returns.py")))
    ok(account.run("endpoint", "update", endpoint_id, "--handler", account.drive("returns.py")))
    assert ok(account.run("call", moved)) == "plain text"

    assert json.loads(ok(account.run("endpoint", "delete", endpoint_id))) == {"id": endpoint_id}
    assert error_line(account.run("endpoint", "get", endpoint_id)) == f"Error: 404 no endpoint with id '{endpoint_id}'"


def test_api_errors_are_one_line_with_their_status(account: Account, stack: RunningStack) -> None:
    path = account.register(HANDLERS / "hello.py")
    hello = account.drive("hello.py")
    cases = {
        ("create", path, "--path", account.unique("p"), "--handler", hello): "409 endpoint id",
        ("create", account.unique("id"), "--path", path, "--handler", hello): "409 path",
        ("create", account.unique("id"), "--path", account.unique("p"), "--handler", "/someone-else/h.py"): "403",
        ("create", account.unique("id"), "--path", account.unique("p"), "--handler", account.drive("nope.py")): "400",
        ("get", "no-such-id"): "404 no endpoint with id 'no-such-id'",
        ("delete", "no-such-id"): "404",
    }
    for args, fragment in cases.items():
        line = error_line(account.run("endpoint", *args))
        assert line.startswith(f"Error: {fragment}"), (args, line)
    # What the service would refuse with a 400 is refused before sending, with the same rule.
    for args, rule in {
        ("update", path, "--path", "not a path"): "path 'not a path' must be 1-128 characters",
        ("list", "--id", "bad id"): "id 'bad id' must be 1-128 characters",
    }.items():
        refused = account.run("endpoint", *args)
        assert refused.returncode == 2 and rule in refused.stderr.decode(), (args, refused.stderr)
    # Another account's endpoint is one that does not exist.
    other = Account(stack)
    assert error_line(other.run("endpoint", "get", path)) == f"Error: 404 no endpoint with id '{path}'"
    assert error_line(other.run("call", path)) == f"Error: 404 no endpoint at path '{path}'"


def test_a_script_without_a_handler_is_neither_uploaded_nor_created(account: Account) -> None:
    drive_path = account.drive("no_handler.py")
    endpoint_id = account.unique("id")
    args = ("--path", account.unique("p"), "--handler", drive_path, "--upload", str(HANDLERS / "no_handler.py"))
    result = account.run("endpoint", "create", endpoint_id, *args)
    line = error_line(result)
    assert line.startswith(f"Error: not uploaded: {HANDLERS / 'no_handler.py'} does not define")
    assert "def handler" in line
    assert error_line(account.run("endpoint", "get", endpoint_id)).startswith("Error: 404")


def test_update_upload_replaces_the_endpoint_s_script(account: Account, tmp_path: Path) -> None:
    path = account.register(HANDLERS / "hello.py")
    assert ok(account.run("call", path)) == "Hello World"
    changed = tmp_path / "changed.py"
    changed.write_text("def handler(request):\n    return 'Hello again'\n")
    result = account.run("endpoint", "update", path, "--upload", str(changed))
    assert json.loads(ok(result)) == {"id": path}
    assert ok(account.run("call", path)) == "Hello again"


def test_list_prints_all_of_250_endpoints(account: Account) -> None:
    drive_path = account.drive("hello.py")
    ok(account.run("script", "put", str(HANDLERS / "hello.py"), drive_path))
    ids = [f"many-{account.name}-{n:03d}" for n in range(250)]
    api = ApiClient(account.stack.api_root, account.token)

    def create(endpoint_id: str) -> None:
        api.create_endpoint(endpoint_id, endpoint_id, drive_path)

    # A few at a time: creates of one account contend for its endpoint count (the client retries a 503).
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(create, ids))
    for endpoint_id in ids[:3]:
        api.update_endpoint(endpoint_id, enabled=False)

    table = account.run("endpoint", "list")
    lines = ok(table).splitlines()
    assert lines[0].split() == ["id", "path", "state", "auth", "handler_script_path", "handler_script_version"]
    # The drive path may hold spaces: it lies between the auth mode and the version.
    rows = [[*line.split(maxsplit=4)[:4], *line.split(maxsplit=4)[4].rsplit(maxsplit=1)] for line in lines[2:]]
    assert [row[0] for row in rows] == ids  # ordered by id
    assert all(row[1] == row[0] and row[3] == "bearer" and row[4] == drive_path and row[5] for row in rows)
    assert [row[2] for row in rows] == ["DISABLED"] * 3 + ["ENABLED"] * 247
    assert table.stderr.decode() == "250 endpoints\n"

    as_json = json.loads(ok(account.run("endpoint", "list", "--json")))
    assert [item["id"] for item in as_json] == ids
    assert as_json[0] == {
        "id": ids[0],
        "path": ids[0],
        "handler_script_path": drive_path,
        "handler_script_version": as_json[1]["handler_script_version"],  # all pinned to the one version
        "state": "DISABLED",
        "auth": "bearer",
        "secrets": [],
    }
    assert json.loads(ok(account.run("endpoint", "list", "--json", "--page-size", "100"))) == as_json

    disabled = json.loads(ok(account.run("endpoint", "list", "--json", "--state", "disabled")))
    assert [item["id"] for item in disabled] == ids[:3]
    one = ok(account.run("endpoint", "list", "--path", ids[42])).splitlines()
    assert [line.split()[0] for line in one[2:]] == [ids[42]]


def test_call_sends_method_query_headers_and_a_binary_body(account: Account, tmp_path: Path) -> None:
    path = account.register(HANDLERS / "echo.py")
    payload = bytes(range(256)) * 64
    body_file = tmp_path / "payload.bin"
    body_file.write_bytes(payload)
    result = account.run("call", f"{path}?x=1&x=2", "-X", "PUT", "-d", f"@{body_file}", "-H", "X-Test: yes")
    seen = json.loads(ok(result))
    assert (seen["method"], seen["args"], seen["headers"]["x-test"]) == ("PUT", {"x": ["1", "2"]}, "yes")
    assert (seen["body_length"], seen["body_sha256"]) == (len(payload), hashlib.sha256(payload).hexdigest())

    posted = json.loads(ok(account.run("call", path, "--json", '{"order": 7}')))
    assert (posted["method"], posted["json"], posted["headers"]["content-type"]) == (
        "POST",
        {"order": 7},
        "application/json",
    )
    piped = json.loads(ok(account.run("call", path, "-d", "@-", stdin=b"from stdin")))
    assert piped["body_sha256"] == hashlib.sha256(b"from stdin").hexdigest()


def test_call_prints_the_body_byte_for_byte(account: Account, tmp_path: Path) -> None:
    handler = tmp_path / "binary_body.py"
    handler.write_text(
        "from flask import Response\n\n\ndef handler(request):\n"
        "    return Response(bytes(range(256)), mimetype='text/plain')\n"
    )
    path = account.register(handler)
    result = account.run("call", path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == bytes(range(256))
    assert result.stderr == b""


def test_call_i_prints_status_and_headers_to_stderr(account: Account) -> None:
    path = account.register(HANDLERS / "returns.py")
    result = account.run("call", "-i", f"{path}?kind=custom")
    assert json.loads(ok(result)) == {"created": True}
    head = result.stderr.decode().splitlines()
    assert head[0].startswith("HTTP/1.1 201 ")
    assert "X-Custom: yes" in head and "Content-Type: application/json" in head
    assert head[-1] == ""


def test_a_handler_fault_exits_1_with_the_service_s_error(account: Account) -> None:
    path = account.register(HANDLERS / "returns.py")
    result = account.run("call", f"{path}?kind=html")
    line = error_line(result)
    assert line.startswith("Error: 500 the handler returned a Response of mimetype 'text/html'")
    assert json.loads(result.stdout)["error"] in line


@pytest.mark.local_only
def test_the_api_url_can_come_from_the_environment(account: Account, stack: RunningStack) -> None:
    """HTTPEP_API_URL with no --local at all: what a user of a deployed stack sets once."""
    path = account.register(HANDLERS / "hello.py")
    env = {"HTTPEP_API_URL": stack.api_root, "HTTPEP_LOCAL_STATE": str(REPO_ROOT / "no-such-state.json")}
    assert ok(httpep(stack, "call", path, token=account.token, env=env)) == "Hello World"
    # The flag beats the environment; the environment beats --local (whose state file does not exist).
    bad_env = {"HTTPEP_API_URL": f"http://127.0.0.1:{free_port()}/api/v1/http-endpoint"}
    assert ok(httpep(stack, "--api-url", stack.api_root, "call", path, token=account.token, env=bad_env))
    assert ok(httpep(stack, "--local", "call", path, token=account.token, env=env)) == "Hello World"


def test_the_token_flag_beats_the_environment(account: Account, stack: RunningStack) -> None:
    path = account.register(HANDLERS / "hello.py")
    result = httpep(stack, *stack.target, "--token", account.token, "call", path, token="hep_not-a-real-token")
    assert ok(result) == "Hello World"


@pytest.mark.local_only  # the hint names the local stack
def test_an_unknown_token_says_how_to_get_one(stack: RunningStack) -> None:
    line = error_line(httpep(stack, "--local", "endpoint", "list", token="hep_not-a-real-token"))
    assert line.startswith("Error: 401 Unauthorized")
    assert "httpep --local token create --account NAME" in line


@pytest.mark.local_only
def test_a_stopped_stack_says_how_to_start_it(stack: RunningStack, tmp_path: Path) -> None:
    env = {"HTTPEP_LOCAL_STATE": str(tmp_path / "local.json")}
    line = error_line(httpep(stack, "--local", "endpoint", "list", token="hep_x", env=env))
    assert line == "Error: no local stack running: run make dev"


@pytest.mark.local_only
def test_options_go_after_the_subcommand_and_the_target_is_named_once(account: Account, stack: RunningStack) -> None:
    path = account.register(HANDLERS / "hello.py")
    assert ok(httpep(stack, "call", path, "--local", token=account.token)) == "Hello World"
    env = {"HTTPEP_TARGET": "local"}
    assert ok(httpep(stack, "call", path, token=account.token, env=env)) == "Hello World"
    listed = json.loads(ok(httpep(stack, "endpoint", "list", "-o", "json", token=account.token, env=env)))
    assert [item["path"] for item in listed] == [path]


def test_the_console_script_is_the_same_tool(account: Account) -> None:
    """`.venv/bin/httpep` (what the README runs) has the client commands too."""
    script = Path(sys.executable).parent / "httpep"
    env = {**own_settings_removed(account.stack.env), "HTTPEP_TOKEN": account.token}
    result = subprocess.run(
        [str(script), *account.stack.target, "endpoint", "list", "--json"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
