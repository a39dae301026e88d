"""The HTTP client and the `endpoint` / `call` commands against a fake API on loopback.

The fake answers whatever a test scripts, so pagination, retries and error shapes that the real service
rarely produces are checked exactly; tests/e2e/test_client_e2e.py runs the same commands on the local stack.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner, Result

from httpep import client as client_module
from httpep.cli import main
from httpep.client import ApiClient, ApiError, Unreachable, authorization
from tests.support.stack import free_port

ROOT_PATH = "/api/v1/http-endpoint"
# None of the developer's own settings may leak into a test.
CLEAN_ENV = {"HTTPEP_API_URL": None, "HTTPEP_TOKEN": None, "PORT": None, "AWS_PORT": None}


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    status: int = 200
    body: bytes | dict[str, Any] | list[Any] = b""
    headers: dict[str, str] = field(default_factory=dict)


Responder = Callable[[Seen], Answer]


class FakeApi:
    """An HTTP server whose answers come from `self.respond`; it records every request."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.respond: Responder = lambda seen: Answer(404, {"error": "nothing scripted"})
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    self.command, parts.path, parse_qs(parts.query), dict(self.headers), self.rfile.read(length)
                )
                fake.requests.append(seen)
                answer = fake.respond(seen)
                body = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
                self.send_response(answer.status)
                headers = {"Content-Type": "application/json", **answer.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_PATCH = do_DELETE = do_POST = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.api_root = f"http://127.0.0.1:{self.server.server_address[1]}{ROOT_PATH}"

    def route(self, seen: Seen) -> str:
        return seen.path.removeprefix(ROOT_PATH)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "BACKOFF_SECONDS", 0.001)


def write_state(directory: Path, api_root: str, pid: int | None = None) -> Path:
    """The state file `httpep serve` writes, naming `api_root` (and this process, which is alive)."""
    path = directory / "local.json"
    fields = {"pid": pid or os.getpid(), "api_root": api_root, "aws_endpoint": "http://127.0.0.1:1"}
    fields |= {"lambda_endpoint": "http://127.0.0.1:1", "region": "us-east-1", "template": "template.yaml"}
    path.write_text(json.dumps(fields))
    return path


def cli(*args: str, env: Mapping[str, str | None] | None = None, stdin: bytes | None = None) -> Result:
    return CliRunner(mix_stderr=False).invoke(main, list(args), env={**CLEAN_ENV, **(env or {})}, input=stdin)


def api_cli(fake: FakeApi, *args: str, stdin: bytes | None = None) -> Result:
    return cli("--api-url", fake.api_root, "--token", "hep_test", *args, stdin=stdin)


def one_error_line(result: Result) -> str:
    assert result.exit_code != 0, result.stdout
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def endpoints(count: int) -> list[dict[str, str]]:
    return [
        {"id": f"ep-{n:03d}", "path": f"p{n:03d}", "handler_script_path": "/jaydoe/h.py", "state": "ENABLED"}
        for n in range(count)
    ]


def paged(items: list[dict[str, str]]) -> Responder:
    """The list route's paging: `offset` and `limit` in, one page and `next_offset` out."""

    def respond(seen: Seen) -> Answer:
        offset = int(seen.query.get("offset", ["0"])[0])
        limit = int(seen.query.get("limit", ["100"])[0])
        page = items[offset : offset + limit]
        more = offset + limit < len(items)
        return Answer(200, {"id": None, "endpoints": page, "next_offset": offset + limit if more else None})

    return respond


# ---------------------------------------------------------------------------------------------- the client


def test_every_page_is_fetched_in_order(fake: FakeApi) -> None:
    fake.respond = paged(endpoints(250))
    listed = ApiClient(fake.api_root, "hep_test").list_endpoints({"state": "ENABLED"}, page_size=100)
    assert [item["id"] for item in listed] == [item["id"] for item in endpoints(250)]
    assert [(r.query["offset"], r.query["limit"], r.query["state"]) for r in fake.requests] == [
        (["0"], ["100"], ["ENABLED"]),
        (["100"], ["100"], ["ENABLED"]),
        (["200"], ["100"], ["ENABLED"]),
    ]


def test_a_next_offset_that_does_not_advance_stops_the_client(fake: FakeApi) -> None:
    fake.respond = lambda seen: Answer(200, {"id": None, "endpoints": endpoints(1), "next_offset": 0})
    with pytest.raises(ApiError, match="next_offset"):
        ApiClient(fake.api_root, "hep_test").list_endpoints({})
    assert len(fake.requests) == 1


def test_a_management_503_is_tried_again(fake: FakeApi) -> None:
    answers = iter([Answer(503, {"error": "try again"}), Answer(503, {"error": "try again"}), Answer(201, {"id": "a"})])
    fake.respond = lambda seen: next(answers)
    assert ApiClient(fake.api_root, "hep_test").create_endpoint("a", "p", "/jaydoe/h.py") == {"id": "a"}
    assert len(fake.requests) == 3
    assert json.loads(fake.requests[-1].body) == {"path": "p", "handler_script_path": "/jaydoe/h.py"}


def test_a_lasting_503_is_an_error_after_a_few_tries(fake: FakeApi) -> None:
    fake.respond = lambda seen: Answer(503, {"error": "endpoint store unavailable"})
    with pytest.raises(ApiError) as raised:
        ApiClient(fake.api_root, "hep_test", retries_on_503=2).get_endpoint("a")
    assert (raised.value.status, raised.value.message) == (503, "endpoint store unavailable")
    assert len(fake.requests) == 3


def test_a_trigger_is_never_retried_nor_raised(fake: FakeApi) -> None:
    fake.respond = lambda seen: Answer(503, {"error": "endpoint 'a' is disabled"}, {"Retry-After": "30"})
    response = ApiClient(fake.api_root, "hep_test").trigger("hello?x=1", "POST", b"body", {"X-Test": "1"})
    assert response.status_code == 503
    assert len(fake.requests) == 1
    seen = fake.requests[0]
    assert (seen.method, fake.route(seen), seen.query, seen.body) == ("POST", "/u/hello", {"x": ["1"]}, b"body")
    assert seen.headers["X-Test"] == "1"
    assert seen.headers["Authorization"] == "Bearer hep_test"


@pytest.mark.parametrize(
    ("answer", "message", "gateway"),
    [
        (Answer(404, {"error": "no endpoint with id 'a'"}), "no endpoint with id 'a'", False),
        (Answer(401, {"message": "Unauthorized"}), "Unauthorized", True),
        (Answer(403, {"error": "Missing Authentication Token", "message": "Missing Authentication Token"}), "", True),
        (Answer(502, b"<html>bad gateway</html>", {"Content-Type": "text/html"}), "Bad Gateway", False),
        (Answer(400, {"error": "path: must be\n 1-128 characters"}), "path: must be 1-128 characters", False),
    ],
)
def test_errors_carry_the_status_and_the_service_s_words(
    fake: FakeApi, answer: Answer, message: str, gateway: bool
) -> None:
    fake.respond = lambda seen: answer
    with pytest.raises(ApiError) as raised:
        ApiClient(fake.api_root, "hep_test").get_endpoint("a")
    assert raised.value.status == answer.status
    assert raised.value.message == (message or "Missing Authentication Token")
    assert raised.value.gateway is gateway


def test_ids_are_quoted_into_one_path_segment(fake: FakeApi) -> None:
    fake.respond = lambda seen: Answer(404, {"error": "no endpoint"})
    with pytest.raises(ApiError):
        ApiClient(fake.api_root + "/", "hep_test").get_endpoint("a/../list")
    assert fake.route(fake.requests[0]) == "/a%2F..%2Flist"


def test_a_refused_connection_is_unreachable() -> None:
    root = f"http://127.0.0.1:{free_port()}{ROOT_PATH}"
    with pytest.raises(Unreachable) as raised:
        ApiClient(root, "hep_test").get_endpoint("a")
    assert (raised.value.url, raised.value.reason) == (root, "connection refused")


@pytest.mark.parametrize(("token", "header"), [("hep_x", "Bearer hep_x"), ("Bearer hep_x", "Bearer hep_x")])
def test_the_bearer_scheme_is_added_once(token: str, header: str) -> None:
    assert authorization(token) == header


# ---------------------------------------------------------------------------------------------- endpoint commands


def test_list_prints_a_table_of_every_page(fake: FakeApi) -> None:
    fake.respond = paged(endpoints(250))
    result = api_cli(fake, "endpoint", "list", "--page-size", "100")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["id", "path", "state", "auth", "handler_script_path", "handler_script_version"]
    assert set(lines[1]) <= {"-", " "}
    assert [line.split()[0] for line in lines[2:]] == [f"ep-{n:03d}" for n in range(250)]
    assert result.stderr == "250 endpoints\n"


def test_list_json_is_a_json_array_of_every_endpoint(fake: FakeApi) -> None:
    fake.respond = paged(endpoints(250))
    result = api_cli(fake, "endpoint", "list", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == endpoints(250)
    assert [r.query["limit"] for r in fake.requests] == [["1000"]]


@pytest.mark.parametrize(
    ("command", "given"),
    [
        (("endpoint", "list"), ("-o", "table", "--json")),
        (("endpoint", "list"), ("--json", "--output", "table")),
        (("logs", "hook"), ("--json", "-o", "table")),
    ],
)
def test_json_with_an_explicit_table_output_is_refused_before_any_request(
    fake: FakeApi, command: tuple[str, ...], given: tuple[str, ...]
) -> None:
    result = api_cli(fake, *command, *given)
    assert result.exit_code == 2
    assert "--json and --output table contradict each other" in result.stderr
    assert fake.requests == []
    fake.respond = paged([])
    assert api_cli(fake, "endpoint", "list", "-o", "json", "--json").exit_code == 0  # the two agree


def test_list_filters_become_query_parameters(fake: FakeApi) -> None:
    fake.respond = paged([])
    args = ("--id", "a", "--path", "p", "--handler", "/jaydoe/h.py", "--state", "Disabled")
    result = api_cli(fake, "endpoint", "list", *args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == "no endpoints match the filters\n"
    query = {name: values for name, values in fake.requests[0].query.items() if name not in ("offset", "limit")}
    assert query == {"id": ["a"], "path": ["p"], "handler": ["/jaydoe/h.py"], "state": ["DISABLED"]}


def test_numbers_in_a_table_stay_as_they_are(fake: FakeApi) -> None:
    fake.respond = paged([{"id": "007", "path": "1e3", "handler_script_path": "/jaydoe/h.py", "state": "ENABLED"}])
    result = api_cli(fake, "endpoint", "list")
    assert result.stdout.splitlines()[2].split()[:2] == ["007", "1e3"]


def test_create_get_update_delete_send_the_contract_s_requests(fake: FakeApi) -> None:
    fake.respond = lambda seen: Answer(201 if seen.method == "PUT" else 200, {"id": "hello"})
    assert api_cli(fake, "endpoint", "create", "hello", "--path", "hw", "--handler", "/jaydoe/h.py").exit_code == 0
    assert api_cli(fake, "endpoint", "get", "hello").exit_code == 0
    assert api_cli(fake, "endpoint", "update", "hello", "--disable", "--path", "hw2").exit_code == 0
    assert api_cli(fake, "endpoint", "update", "hello", "--enable").exit_code == 0
    deleted = api_cli(fake, "endpoint", "delete", "hello")
    assert deleted.exit_code == 0
    assert json.loads(deleted.stdout) == {"id": "hello"}
    sent = [(r.method, fake.route(r), json.loads(r.body) if r.body else None) for r in fake.requests]
    assert sent == [
        ("PUT", "/hello", {"path": "hw", "handler_script_path": "/jaydoe/h.py"}),
        ("GET", "/hello", None),
        ("PATCH", "/hello", {"path": "hw2", "enabled": False}),
        ("PATCH", "/hello", {"enabled": True}),
        ("DELETE", "/hello", None),
    ]


def test_create_says_where_the_endpoint_answers(fake: FakeApi) -> None:
    fake.respond = lambda seen: Answer(201, {"id": "hello"})
    result = api_cli(fake, "endpoint", "create", "hello", "--path", "hw", "--handler", "/jaydoe/h.py")
    assert json.loads(result.stdout) == {"id": "hello"}
    assert result.stderr == f"serving {fake.api_root}/u/hw\n"


def test_an_api_error_is_one_line_with_its_status(fake: FakeApi) -> None:
    fake.respond = lambda seen: Answer(409, {"error": "path 'hw' is already taken"})
    result = api_cli(fake, "endpoint", "create", "hello", "--path", "hw", "--handler", "/jaydoe/h.py")
    assert one_error_line(result) == "Error: 409 path 'hw' is already taken"
    assert result.stdout == ""


def test_a_refused_token_says_how_to_get_one(fake: FakeApi) -> None:
    fake.respond = lambda seen: Answer(401, {"message": "Unauthorized"})
    line = one_error_line(api_cli(fake, "endpoint", "get", "a"))
    assert line.startswith("Error: 401 Unauthorized")
    assert "httpep --local token create --account NAME" in line


def test_a_token_the_trigger_route_does_not_know_says_how_to_get_one(fake: FakeApi) -> None:
    from httpendpoint.trigger.access import UNAUTHORIZED

    fake.respond = lambda seen: Answer(401, {"error": UNAUTHORIZED, "message": "Unauthorized"})
    line = one_error_line(api_cli(fake, "call", "helloworld"))
    assert line.startswith(f"Error: 401 {UNAUTHORIZED} (the token is unknown or revoked")


def test_an_unknown_route_suggests_checking_the_api_url(fake: FakeApi) -> None:
    fake.respond = lambda seen: Answer(403, {"message": "Missing Authentication Token"})
    line = one_error_line(api_cli(fake, "endpoint", "list"))
    assert "403 Missing Authentication Token" in line and "/api/v1/http-endpoint" in line


@pytest.mark.parametrize(
    ("status", "body", "args"),
    [
        # The router's 401s say what is wrong: a webhook's signature, a token for other endpoints.
        (
            401,
            {"error": "missing or invalid signature in X-Hub-Signature-256", "message": "Unauthorized"},
            ("call", "hook"),
        ),
        (401, {"error": "this token may not call endpoint 'dict'", "message": "Unauthorized"}, ("call", "dict")),
        # A call-scope token on a management route: the route exists.
        (
            403,
            {"error": "this token has scope call: it may only trigger endpoints", "message": "Forbidden"},
            ("endpoint", "list"),
        ),
    ],
)
def test_refusals_that_say_what_is_wrong_get_no_misleading_hint(
    fake: FakeApi, status: int, body: dict[str, str], args: tuple[str, ...]
) -> None:
    fake.respond = lambda seen: Answer(status, body)
    assert one_error_line(api_cli(fake, *args)) == f"Error: {status} {body['error']}"


def test_update_without_a_change_is_refused_before_any_request(fake: FakeApi) -> None:
    result = api_cli(fake, "endpoint", "update", "hello")
    assert "--enable/--disable" in one_error_line(result)
    assert result.exit_code == 2
    assert fake.requests == []


def test_enable_and_disable_together_are_refused_before_any_request(fake: FakeApi) -> None:
    result = api_cli(fake, "endpoint", "update", "hello", "--enable", "--disable")
    assert "--enable and --disable contradict each other" in one_error_line(result)
    assert result.exit_code == 2
    assert fake.requests == []


# ---------------------------------------------------------------------------------------------- call


def test_call_writes_the_body_byte_for_byte_and_headers_only_with_i(fake: FakeApi) -> None:
    body = bytes(range(256))
    fake.respond = lambda seen: Answer(200, body, {"Content-Type": "text/plain", "X-Custom": "yes"})
    plain = api_cli(fake, "call", "bin")
    assert plain.exit_code == 0, plain.stderr
    assert (plain.stdout_bytes, plain.stderr) == (body, "")
    included = api_cli(fake, "call", "-i", "bin")
    assert included.stdout_bytes == body
    head = included.stderr.splitlines()
    assert head[0] == "HTTP/1.0 200 OK"  # what http.server speaks
    assert "X-Custom: yes" in head and head[-1] == ""


def test_call_sends_method_data_and_headers_like_curl(fake: FakeApi, tmp_path: Path) -> None:
    fake.respond = lambda seen: Answer(200, b"ok", {"Content-Type": "text/plain"})
    payload = tmp_path / "payload.bin"
    payload.write_bytes(b"\x00\xffraw")
    assert api_cli(fake, "call", "hook", "-d", f"@{payload}", "-H", "X-Signature: sha256=ab").exit_code == 0
    assert api_cli(fake, "call", "hook", "-X", "patch", "--json", '{"a": 1}').exit_code == 0
    assert api_cli(fake, "call", "hook", "-X", "PUT", "-d", "@-", stdin=b"from stdin").exit_code == 0
    assert api_cli(fake, "call", "/hook?x=1", "-H", "Content-Type: text/plain", "-d", "text").exit_code == 0
    first, second, third, fourth = fake.requests
    assert (first.method, first.body, first.headers["X-Signature"]) == ("POST", b"\x00\xffraw", "sha256=ab")
    assert first.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert (second.method, second.body, second.headers["Content-Type"]) == ("PATCH", b'{"a": 1}', "application/json")
    assert second.headers["Accept"] == "application/json"
    assert (third.method, third.body) == ("PUT", b"from stdin")
    assert (fake.route(fourth), fourth.query, fourth.headers["Content-Type"]) == ("/u/hook", {"x": ["1"]}, "text/plain")


def test_call_exits_1_for_an_error_status_after_printing_the_body(fake: FakeApi) -> None:
    fake.respond = lambda seen: Answer(401, {"error": "missing or invalid X-Signature"})
    result = api_cli(fake, "call", "hook")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"error": "missing or invalid X-Signature"}
    # A handler's own 401 is not a token problem: no hint about tokens.
    assert one_error_line(result) == "Error: 401 missing or invalid X-Signature"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("call", "p", "-H", "no colon"), "Name: value"),
        (("call", "p", "-d", "a", "--json", "{}"), "either"),
        (("call", "p", "-X", "HEAD"), "HEAD"),
        (("call", "p", "-d", "@/no/such/file"), "cannot read"),
        (("endpoint", "list", "--page-size", "1001"), "1001"),
        (("endpoint", "list", "--state", "on"), "on"),
    ],
)
def test_bad_client_arguments_are_one_line(fake: FakeApi, args: tuple[str, ...], fragment: str) -> None:
    result = api_cli(fake, *args)
    assert fragment in one_error_line(result)
    assert result.exit_code == 2
    assert fake.requests == []


# ---------------------------------------------------------------------------------------------- configuration


def test_the_api_url_flag_beats_the_environment(fake: FakeApi) -> None:
    fake.respond = paged(endpoints(1))
    dead = f"http://127.0.0.1:{free_port()}{ROOT_PATH}"
    env = {"HTTPEP_API_URL": dead, "HTTPEP_TOKEN": "hep_env"}
    result = cli("--api-url", fake.api_root, "endpoint", "list", env=env)
    assert result.exit_code == 0, result.stderr
    assert fake.requests[0].headers["Authorization"] == "Bearer hep_env"


def test_the_environment_beats_local(fake: FakeApi) -> None:
    fake.respond = paged(endpoints(1))
    env = {"HTTPEP_API_URL": fake.api_root, "HTTPEP_TOKEN": "hep_env", "PORT": str(free_port())}
    result = cli("--local", "--token", "hep_flag", "endpoint", "list", env=env)
    assert result.exit_code == 0, result.stderr
    assert fake.requests[0].headers["Authorization"] == "Bearer hep_flag"


def test_local_finds_the_stack_through_its_state_file(tmp_path: Path, fake: FakeApi) -> None:
    fake.respond = paged(endpoints(1))
    state_file = write_state(tmp_path, fake.api_root)
    env = {"HTTPEP_TOKEN": "hep_x", "HTTPEP_LOCAL_STATE": str(state_file), "PORT": str(free_port())}
    result = cli("endpoint", "list", "--local", env=env)
    assert result.exit_code == 0, result.stderr
    assert fake.requests[0].path == f"{ROOT_PATH}/list"


def test_local_with_a_stopped_stack_says_what_to_run(tmp_path: Path) -> None:
    port = free_port()
    state_file = write_state(tmp_path, f"http://127.0.0.1:{port}{ROOT_PATH}")
    line = one_error_line(
        cli("--local", "endpoint", "list", env={"HTTPEP_TOKEN": "hep_x", "HTTPEP_LOCAL_STATE": str(state_file)})
    )
    assert line == (
        f"Error: cannot reach http://127.0.0.1:{port}/api/v1/http-endpoint (connection refused);"
        " is the stack running? start it with `make dev`"
    )


def test_a_remote_api_that_cannot_be_reached_is_one_line() -> None:
    line = one_error_line(cli("--api-url", "http://no-such-host.invalid/api", "--token", "t", "call", "p"))
    assert line.startswith("Error: cannot reach http://no-such-host.invalid/api: ")
    assert "make dev" not in line


def test_no_api_is_one_line_naming_every_way_to_give_it() -> None:
    line = one_error_line(cli("--token", "hep_x", "endpoint", "list"))
    for way in ("--api-url", "HTTPEP_API_URL", "--local", "--stack"):
        assert way in line


@pytest.mark.parametrize("target", [("--local",), ("--api-url", "http://127.0.0.1:1/api/v1/http-endpoint")])
def test_no_token_says_how_to_get_one(target: tuple[str, ...]) -> None:
    result = cli(*target, "call", "p")
    assert one_error_line(result) == (
        "Error: no token: pass --token TOKEN or set HTTPEP_TOKEN;"
        " get one with `httpep --local token create --account NAME`"
    )
    assert result.exit_code == 1


def test_a_token_with_a_line_break_is_refused() -> None:
    result = cli("--api-url", "http://127.0.0.1:1/api", "--token", "hep_a\nhep_b", "endpoint", "list")
    assert "spaces or line breaks" in one_error_line(result)


@pytest.mark.parametrize("url", ["127.0.0.1:3000/api/v1/http-endpoint", "ftp://example.com/api", "http://"])
def test_a_bad_api_url_is_one_line(url: str) -> None:
    result = cli("--api-url", url, "--token", "t", "endpoint", "list")
    assert "--api-url" in one_error_line(result)
    assert result.exit_code == 2


def test_upload_saves_through_the_files_api_with_the_token_then_creates(fake: FakeApi, tmp_path: Path) -> None:
    source = b"def handler(request):\n    return 'hi'\n"
    script = tmp_path / "hello.py"
    script.write_bytes(source)

    def respond(seen: Seen) -> Answer:
        if seen.path.startswith("/api/v2/files/"):
            return Answer(201, {"path": "/jaydoe/h 1.py", "version": "v1", "size": len(source), "endpoints": {}})
        return Answer(201, {"id": "a"})

    fake.respond = respond
    result = api_cli(
        fake, "endpoint", "create", "a", "--path", "p", "--handler", "/jaydoe/h 1.py", "--upload", str(script)
    )
    assert result.exit_code == 0, result.stderr
    saved, created = fake.requests
    # No AWS credentials or stack needed: the token and the API's URL are enough.
    assert (saved.method, saved.path, saved.body) == ("PUT", "/api/v2/files/jaydoe/h%201.py", source)
    assert saved.headers["Authorization"] == "Bearer hep_test"
    assert (created.method, created.path) == ("PUT", ROOT_PATH + "/a")
    assert result.stderr.splitlines()[0] == f"uploaded {script} to /jaydoe/h 1.py (version v1)"


def test_a_refused_upload_creates_nothing(fake: FakeApi, tmp_path: Path) -> None:
    script = tmp_path / "hello.py"
    script.write_text("def handler(request):\n    return 'x'\n")
    fake.respond = lambda seen: Answer(403, {"error": "path must be in your own drive (start with /jaydoe/)"})
    result = api_cli(
        fake, "endpoint", "create", "a", "--path", "p", "--handler", "/other/h.py", "--upload", str(script)
    )
    assert "403 path must be in your own drive" in one_error_line(result)
    assert [seen.method for seen in fake.requests] == ["PUT"]


def test_upload_to_a_bad_drive_path_is_refused_before_anything_is_sent(fake: FakeApi, tmp_path: Path) -> None:
    script = tmp_path / "hello.py"
    script.write_text("")
    args = ("endpoint", "create", "a", "--path", "p", "--handler", "jaydoe/h.py", "--upload", str(script))
    result = cli("--local", "--api-url", fake.api_root, "--token", "t", *args, env={"AWS_PORT": str(free_port())})
    assert "--handler" in one_error_line(result)
    assert fake.requests == []


def test_no_token_for_a_remote_api_points_to_the_deployed_stack() -> None:
    line = one_error_line(cli("--api-url", "https://api.example.invalid/Prod/api/v1/http-endpoint", "call", "p"))
    assert line.endswith("get one with `httpep --stack NAME token create --account NAME`")


@pytest.mark.parametrize("prefix", ["cae", "1", "ABC"])
def test_a_hash_prefix_too_short_to_name_one_token_is_refused_with_the_rule(prefix: str) -> None:
    line = one_error_line(cli("--local", "token", "revoke", prefix))
    expected = f"a hash prefix needs at least 4 hex digits of the hash `token list` shows; {prefix.lower()!r}"
    assert line == f"Error: {expected} has {len(prefix)}"
