"""The stack's socket: the router's sandbox invokes and the functions' AWS requests cross it, and only the stack's
own user may use it."""

from __future__ import annotations

import errno
import io
import json
import os
import re
import socket
import stat
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest
from botocore.compat import HTTPHeaders
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError
from moto import mock_aws
from samcli.commands.local.lib.exceptions import TenantIdValidationError

from httpendpoint.core.errors import Unavailable
from httpendpoint.trigger.sandbox_client import LambdaSandbox
from httpep.local import channel as channel_module
from httpep.local.channel import ChannelClient, ChannelSandbox, ChannelTransport, ScopeOnlySigning, StackChannel
from httpep.local.defaults import CREDENTIALS, REGION, STACK_CHANNEL_VARIABLE
from httpep.local.runner import LocalLambdaRunner, TenantPools, Worker
from httpep.local.server import ThreadedServer
from httpep.local.template import LocalTemplate
from tests.support.local import UNREACHABLE_ENDPOINT, as_user, aws_client_through, aws_session, aws_session_through
from tests.support.repo import REPO_ROOT

ANOTHER_UID = 65_000
# The Authorization header of a request signed by scope only (ScopeOnlySigning): the fake key, a day, the region.
SCOPE_ONLY = (
    r"AWS4-HMAC-SHA256 Credential=testing/\d{{8}}/us-east-1/{service}/aws4_request, SignedHeaders=host, "
    r"Signature=unchecked"
)
# A SigV4 signature, as botocore computes it.
SIGV4 = (
    r"AWS4-HMAC-SHA256 Credential=testing/\d{{8}}/us-east-1/{service}/aws4_request, SignedHeaders=[a-z0-9;-]+, "
    r"Signature=[0-9a-f]{{64}}"
)


class FakeInvoker:
    """Answers as the runner would, and remembers what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, str | None]] = []
        self.answer: dict[str, Any] = {"result": json.dumps({"outcome": "response", "response": {"ok": True}})}
        self.refusal: Exception | None = None

    def call(self, function_identifier: str, event: str, tenant_id: str | None = None) -> dict[str, Any]:
        self.calls.append((function_identifier, json.loads(event), tenant_id))
        if self.refusal is not None:
            raise self.refusal
        return self.answer


@pytest.fixture
def invoker() -> FakeInvoker:
    return FakeInvoker()


@pytest.fixture
def channel(invoker: FakeInvoker) -> Iterator[StackChannel]:
    served = StackChannel(invoker)
    yield served
    served.stop()


def sandbox_at(path: str) -> ChannelSandbox:
    return ChannelSandbox("SandboxFunction", ChannelClient(path))


def run(sandbox: ChannelSandbox, payload: dict[str, Any], tenant: str = "jaydoe") -> dict[str, Any]:
    return sandbox.run(payload, json.dumps(payload).encode(), tenant)


def test_an_invoke_crosses_with_its_function_and_tenant_and_the_answer_comes_back(
    channel: StackChannel, invoker: FakeInvoker
) -> None:
    sandbox = sandbox_at(channel.path)
    assert [run(sandbox, {"n": n, "text": "é" * 100_000}) for n in range(2)] == [
        {"outcome": "response", "response": {"ok": True}}
    ] * 2  # one connection, kept for the next invoke
    assert invoker.calls == [("SandboxFunction", {"n": n, "text": "é" * 100_000}, "jaydoe") for n in range(2)]


def test_a_failed_function_is_reported_as_lambda_reports_its_function_error(
    channel: StackChannel, invoker: FakeInvoker
) -> None:
    invoker.answer = {"error": {"errorType": "Runtime.ExitError", "errorMessage": "exit status 3"}}
    outcome = run(sandbox_at(channel.path), {})
    assert outcome == {"outcome": "crashed", "error": "the sandbox failed: Runtime.ExitError"}


def test_what_the_lambda_service_refuses_leaves_the_sandbox_unavailable(
    channel: StackChannel, invoker: FakeInvoker
) -> None:
    invoker.refusal = TenantIdValidationError("SandboxFunction is a PER_TENANT function: an invoke must name one")
    with pytest.raises(Unavailable, match=r"could not be reached \(TenantIdValidationError\)") as refused:
        run(sandbox_at(channel.path), {})
    assert "PER_TENANT" not in str(refused.value)  # the stack's own words stay in the stack, as Lambda's would


def test_the_stack_goes_on_accepting_after_a_failed_accept(
    channel: StackChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of descriptors for a moment (EMFILE), say: the next worker that connects is still served."""
    monkeypatch.setattr(channel_module, "SANDBOX_ANSWER_SECONDS", 5)

    class FailsOnce:
        def __init__(self, listener: socket.socket) -> None:
            self.listener, self.failed = listener, False

        def accept(self) -> tuple[socket.socket, Any]:
            if not self.failed:
                self.failed = True
                raise OSError(errno.EMFILE, "Too many open files")
            return self.listener.accept()

        def __getattr__(self, name: str) -> Any:
            return getattr(self.listener, name)

    real = channel._listener
    channel._listener = FailsOnce(real)  # type: ignore[assignment]
    assert run(sandbox_at(channel.path), {})["outcome"] == "response"  # the pending accept
    assert run(sandbox_at(channel.path), {})["outcome"] == "response"  # after the failure
    channel._listener = real


@contextmanager
def fake_stack(path: Path, answer: bytes | None) -> Iterator[str]:
    """A socket at `path` that answers the first request with `answer` as it is (None: never answers)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen(1)

        def answer_once() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.recv(1 << 16)
                if answer is not None:
                    connection.sendall(answer)

        if answer is not None:
            threading.Thread(target=answer_once, daemon=True).start()
        yield str(path)


@pytest.mark.parametrize("answer", [b"", b"not json\n", b'{"size": 10}\nshort', b'{"no size": 1}\n'])
def test_an_answer_cut_off_or_garbled_leaves_the_sandbox_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: bytes
) -> None:
    monkeypatch.setattr(channel_module, "SANDBOX_ANSWER_SECONDS", 5)
    with fake_stack(tmp_path / "fake.sock", answer) as path, pytest.raises(Unavailable, match="could not be reached"):
        run(sandbox_at(path), {})


def test_a_stack_that_never_answers_leaves_the_sandbox_unavailable_in_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(channel_module, "SANDBOX_ANSWER_SECONDS", 0.2)
    with (
        fake_stack(tmp_path / "silent.sock", None) as path,
        pytest.raises(Unavailable, match=r"could not be reached \(TimeoutError\)"),
    ):
        run(sandbox_at(path), {})


def test_a_garbled_request_ends_its_connection_and_nothing_else(channel: StackChannel) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
        raw.settimeout(5)
        raw.connect(channel.path)
        raw.sendall(b"not json\n")
        assert raw.recv(100) == b""  # closed without an answer
    assert run(sandbox_at(channel.path), {})["outcome"] == "response"


def test_without_the_stack_the_sandbox_is_unavailable_and_a_new_stack_is_found_again(invoker: FakeInvoker) -> None:
    channel = StackChannel(invoker)
    sandbox = sandbox_at(channel.path)
    assert run(sandbox, {})["outcome"] == "response"
    channel.stop()
    assert not channel.directory.exists()
    with pytest.raises(Unavailable, match="could not be reached"):
        run(sandbox, {})
    again = StackChannel(invoker)
    try:
        sandbox.client.path = again.path
        assert run(sandbox, {})["outcome"] == "response"
    finally:
        again.stop()


def test_the_socket_lies_where_only_the_stacks_user_may_enter(channel: StackChannel) -> None:
    info = channel.directory.stat()
    assert info.st_uid == os.geteuid()
    assert stat.S_IMODE(info.st_mode) == 0o700


def _aws_attempt(path: str) -> bytes:
    """An AWS request through the socket at `path`: the name of what it raised, or "answered"."""
    try:
        aws_client_through(path, "dynamodb", attempts=1).list_tables()
    except Exception as exc:
        return type(exc).__name__.encode()
    return b"answered"


def _as_another_user(path: str) -> str:
    """What a process of another user gets from the socket: an exception's name, or the answer's outcome."""

    def invoke() -> bytes:
        try:
            return str(run(sandbox_at(path), {})["outcome"]).encode()
        except Unavailable as exc:
            return f"Unavailable: {exc}".encode()

    return as_user(ANOTHER_UID, invoke).decode()


@pytest.mark.skipif(os.geteuid() != 0, reason="handlers run as users of their own only under root")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_process_of_another_user_can_neither_reach_the_socket_nor_be_answered(
    invoker: FakeInvoker, recording_app: RecordingApp
) -> None:
    logged: list[str] = []
    channel = StackChannel(invoker, recording_app, lambda source, line: logged.append(f"{source}: {line}"))
    try:
        assert _as_another_user(channel.path) == "Unavailable: the sandbox could not be reached (PermissionError)"
        assert as_user(ANOTHER_UID, lambda: _aws_attempt(channel.path)) == b"EndpointConnectionError"
        assert logged == []  # turned away by the directory: the stack never saw it
        # As if it had found a way in to the socket itself: the stack still answers only its own user.
        channel.directory.chmod(0o755)
        Path(channel.path).chmod(0o777)
        assert _as_another_user(channel.path) in {
            f"Unavailable: the sandbox could not be reached ({error})"
            for error in ("ConnectionResetError", "BrokenPipeError")
        }
        assert as_user(ANOTHER_UID, lambda: _aws_attempt(channel.path)) == b"EndpointConnectionError"
    finally:
        channel.stop()
    assert invoker.calls == []
    assert recording_app.requests == []
    assert logged == [f"guard: refused a connection to the stack's socket from uid {ANOTHER_UID}"] * 2


@pytest.fixture
def template() -> LocalTemplate:
    return LocalTemplate(REPO_ROOT / "template.yaml")


def test_functions_with_aws_permissions_are_told_where_the_socket_is_and_the_sandbox_is_not(
    template: LocalTemplate,
) -> None:
    runner = LocalLambdaRunner(template, "http://127.0.0.1:1", "http://127.0.0.1:2", lambda *_: None)
    try:
        router, sandbox = runner.pools["RouterFunction"], runner.pools["SandboxFunction"]
        assert router.env[STACK_CHANNEL_VARIABLE] == runner.channel.path
        assert isinstance(sandbox, TenantPools) and STACK_CHANNEL_VARIABLE not in sandbox.env
    finally:
        runner.stop()
    assert not Path(runner.channel.path).exists()


PROBE_HANDLER = """
import os
from httpendpoint.trigger import sandbox_client

def handler(event, context):
    executor = sandbox_client.current()
    return {"executor": type(executor).__name__, "path": getattr(getattr(executor, "client", None), "path", None),
            "variable": os.environ.get(event["variable"])}
"""


@pytest.mark.parametrize("given", [True, False])
def test_a_worker_whose_code_invokes_the_sandbox_does_so_through_the_socket_it_was_given(
    tmp_path: Path, given: bool
) -> None:
    (tmp_path / "probe.py").write_text(PROBE_HANDLER)
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT / "layers" / "shared"), *sys.path]),
        "SANDBOX_FUNCTION": "SandboxFunction",
    }
    if given:
        env[STACK_CHANNEL_VARIABLE] = "/run/the-stacks.sock"
    worker = Worker("Probe", "probe.handler", tmp_path, env, lambda *_: None)
    try:
        answer = worker.invoke(json.dumps({"variable": STACK_CHANNEL_VARIABLE}), 30, "probe")
    finally:
        worker.kill()
    found = json.loads(answer["result"])
    if given:  # and the function's own code does not see the variable: Lambda has none such
        assert found == {"executor": ChannelSandbox.__name__, "path": "/run/the-stacks.sock", "variable": None}
    else:
        assert found == {"executor": LambdaSandbox.__name__, "path": None, "variable": None}


@pytest.fixture
def embedded_aws(invoker: FakeInvoker) -> Iterator[StackChannel]:
    """A stack's socket in front of moto's server application, as the local stack has (server.py)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    with mock_aws():  # moto's state, new for this test and gone after it
        served = StackChannel(invoker, DomainDispatcherApplication(create_backend_app))
        yield served
        served.stop()


def test_dynamodb_requests_cross_the_socket_and_their_answers_and_errors_come_back(
    embedded_aws: StackChannel,
) -> None:
    dynamodb = aws_client_through(embedded_aws.path, "dynamodb")
    dynamodb.create_table(
        TableName="things",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    item = {"pk": {"S": "é/a b?c"}, "blob": {"B": bytes(range(256))}, "n": {"N": "3"}}
    dynamodb.put_item(TableName="things", Item=item)
    assert dynamodb.get_item(TableName="things", Key={"pk": item["pk"]})["Item"] == item
    assert dynamodb.list_tables()["TableNames"] == ["things"]
    with pytest.raises(ClientError) as missing:
        dynamodb.get_item(TableName="nothing", Key={"pk": {"S": "a"}})
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_s3_objects_with_awkward_keys_and_binary_bodies_cross_the_socket_whole(embedded_aws: StackChannel) -> None:
    s3 = aws_client_through(embedded_aws.path, "s3")
    s3.create_bucket(Bucket="drive")
    keys = ["jaydoe/a b/é+x%2Fy?.py", "jaydoe/plain.py", "jaydoe//double.py", "other/a&b=c.py"]
    bodies = [bytes(range(256)) * 4096, b"", b"print('hi')\n", b"x"]
    for key, body in zip(keys, bodies, strict=True):
        s3.put_object(Bucket="drive", Key=key, Body=io.BytesIO(body))  # a file-like body, as uploads are
    for key, body in zip(keys, bodies, strict=True):
        got = s3.get_object(Bucket="drive", Key=key)
        assert (got["Body"].read(), got["ContentLength"]) == (body, len(body))
    listed = s3.list_objects_v2(Bucket="drive", Prefix="jaydoe/")["Contents"]  # the query string crosses
    assert sorted(entry["Key"] for entry in listed) == sorted(keys[:3])
    assert [entry["Key"] for entry in s3.list_objects_v2(Bucket="drive", Prefix="other/a&b")["Contents"]] == keys[3:]
    with pytest.raises(ClientError) as missing:
        s3.head_object(Bucket="drive", Key="jaydoe/none.py")
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


class Answer(list[bytes]):
    """An application's answer that knows whether the server closed it, as WSGI asks."""

    closed = False

    def close(self) -> None:
        self.closed = True


class RecordingApp:
    """A WSGI app that remembers each request and answers 200 (taking `seconds` to), or fails as told."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[Answer] = []
        self.fail = False
        self.seconds = 0.0
        self.running = self.most_at_once = 0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Answer:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(self.seconds)
        with self._lock:
            self.running -= 1
        self.requests.append(
            {
                "method": environ["REQUEST_METHOD"],
                "path": environ["PATH_INFO"],
                "raw": environ.get("RAW_URI"),  # werkzeug sets it; waitress does not
                "query": environ["QUERY_STRING"],
                "host": environ["HTTP_HOST"],
                "type": environ.get("CONTENT_TYPE"),
                "authorization": environ.get("HTTP_AUTHORIZATION", ""),
                "body": environ["wsgi.input"].read(),
            }
        )
        if self.fail:
            raise RuntimeError("the application failed")
        start_response(
            "200 OK", [("Content-Type", "application/x-amz-json-1.0"), ("X-Twice", "one"), ("X-Twice", "two")]
        )
        self.answers.append(Answer([b'{"TableNames": []}']))
        return self.answers[-1]


@pytest.fixture
def recording_app() -> RecordingApp:
    return RecordingApp()


def test_the_stack_sees_the_request_botocore_built_and_signed_and_botocore_sees_the_answer(
    invoker: FakeInvoker, recording_app: RecordingApp
) -> None:
    channel = StackChannel(invoker, recording_app)
    try:
        answer = aws_client_through(channel.path, "dynamodb").list_tables(Limit=5)
    finally:
        channel.stop()
    assert answer["TableNames"] == []
    assert answer["ResponseMetadata"]["HTTPHeaders"]["x-twice"] == "one, two"  # as urllib3 joins them
    assert [each.closed for each in recording_app.answers] == [True]
    authorization = recording_app.requests[0].pop("authorization")
    assert recording_app.requests == [
        {
            "method": "POST",
            "path": "/",
            "raw": "/",
            "query": "",
            "host": "127.0.0.1:1",
            "type": "application/x-amz-json-1.0",
            "body": b'{"Limit": 5}',
        }
    ]
    assert re.fullmatch(SCOPE_ONLY.format(service="dynamodb"), authorization)


def test_a_request_to_another_endpoint_is_signed_as_ever(invoker: FakeInvoker, recording_app: RecordingApp) -> None:
    """The stack's Lambda service, say: only the embedded AWS is trusted to read the scope alone."""
    server = ThreadedServer(recording_app, "127.0.0.1", 0, 2)
    channel = StackChannel(invoker, recording_app)
    try:
        session = aws_session_through(channel.path)
        for endpoint in (UNREACHABLE_ENDPOINT, f"http://127.0.0.1:{server.port}"):
            session.client("dynamodb", endpoint_url=endpoint).list_tables()
    finally:
        channel.stop()
        server.stop()
    through_socket, over_http = (each["authorization"] for each in recording_app.requests)
    assert re.fullmatch(SCOPE_ONLY.format(service="dynamodb"), through_socket), through_socket
    assert re.fullmatch(SIGV4.format(service="dynamodb"), over_http), over_http


def test_s3_requests_stay_signed_as_botocore_chooses(embedded_aws: StackChannel) -> None:
    """botocore names SigV4 for S3's operations itself, before any other choice of signer is asked."""
    seen: list[str] = []

    def authorization(request: AWSPreparedRequest, **_: Any) -> None:
        value = request.headers["Authorization"]
        seen.append(value.decode() if isinstance(value, bytes) else value)

    session = aws_session_through(embedded_aws.path)
    session.events.register_first("before-send", authorization)
    s3 = session.client("s3", endpoint_url=UNREACHABLE_ENDPOINT)
    s3.create_bucket(Bucket="drive")
    s3.put_object(Bucket="drive", Key="k", Body=b"x")
    assert s3.get_object(Bucket="drive", Key="k")["Body"].read() == b"x"
    assert len(seen) == 3
    assert [each for each in seen if not re.fullmatch(SIGV4.format(service="s3"), each)] == []


def test_without_credentials_a_request_fails_as_botocore_says_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        monkeypatch.setenv(name, str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    session = boto3.session.Session(region_name=REGION)
    ScopeOnlySigning(UNREACHABLE_ENDPOINT, session.get_credentials).register(session.events)
    with pytest.raises(NoCredentialsError):
        session.client("dynamodb", endpoint_url=UNREACHABLE_ENDPOINT).list_tables()


def test_a_failing_application_is_a_500_as_over_http(invoker: FakeInvoker, recording_app: RecordingApp) -> None:
    recording_app.fail = True
    channel = StackChannel(invoker, recording_app)
    try:
        with pytest.raises(ClientError) as failed:
            aws_client_through(channel.path, "dynamodb", attempts=2).list_tables()
    finally:
        channel.stop()
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert len(recording_app.requests) == 2  # retried, as botocore retries a 500


def test_without_the_stack_an_aws_request_cannot_connect(invoker: FakeInvoker, recording_app: RecordingApp) -> None:
    channel = StackChannel(invoker, recording_app)
    dynamodb = aws_client_through(channel.path, "dynamodb", attempts=1)
    assert dynamodb.list_tables()["TableNames"] == []
    channel.stop()
    with pytest.raises(EndpointConnectionError):
        dynamodb.list_tables()


def test_requests_to_anywhere_but_the_embedded_aws_are_left_to_botocore(channel: StackChannel) -> None:
    transport = ChannelTransport(ChannelClient(channel.path), "http://127.0.0.1:4566")
    for url in ("http://127.0.0.1:45661/", "http://127.0.0.1:3001/2015-03-31/functions", "https://example.com/"):
        assert transport(AWSPreparedRequest("POST", url, HTTPHeaders(), b"{}", False)) is None


AWS_PROBE_HANDLER = """
from httpendpoint.core import aws

def handler(event, context):
    try:
        return {"tables": aws.client("dynamodb").list_tables()["TableNames"]}
    except Exception as exc:
        return {"error": type(exc).__name__}
"""


def _probe_worker(tmp_path: Path, channel_path: str | None) -> Worker:
    """A worker of AWS_PROBE_HANDLER, given the stack's socket at `channel_path` (if any), with moto's endpoint
    where nothing listens: its AWS requests are answered only if they go through the socket."""
    (tmp_path / "probe.py").write_text(AWS_PROBE_HANDLER)
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT / "layers" / "shared"), *sys.path]),
        "AWS_ENDPOINT_URL": UNREACHABLE_ENDPOINT,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_MAX_ATTEMPTS": "1",
        **CREDENTIALS,
    }
    if channel_path is not None:
        env[STACK_CHANNEL_VARIABLE] = channel_path
    return Worker("Probe", "probe.handler", tmp_path, env, lambda *_: None)


@pytest.mark.parametrize("given", [True, False])
def test_a_workers_aws_requests_go_through_the_socket_it_was_given(
    tmp_path: Path, embedded_aws: StackChannel, given: bool
) -> None:
    worker = _probe_worker(tmp_path, embedded_aws.path if given else None)
    try:
        answer = worker.invoke("{}", 30, "probe")
    finally:
        worker.kill()
    expected: dict[str, Any] = {"tables": []} if given else {"error": "EndpointConnectionError"}
    assert json.loads(answer["result"]) == expected


def test_a_workers_aws_requests_are_signed_by_scope_only(
    tmp_path: Path, invoker: FakeInvoker, recording_app: RecordingApp
) -> None:
    channel = StackChannel(invoker, recording_app)
    worker = _probe_worker(tmp_path, channel.path)
    try:
        answer = worker.invoke("{}", 30, "probe")
    finally:
        worker.kill()
        channel.stop()
    assert json.loads(answer["result"]) == {"tables": []}
    assert [
        re.fullmatch(SCOPE_ONLY.format(service="dynamodb"), each["authorization"]) is not None
        for each in recording_app.requests
    ] == [True]


def test_a_str_body_crosses_as_its_utf8_bytes(invoker: FakeInvoker, recording_app: RecordingApp) -> None:
    channel = StackChannel(invoker, recording_app)
    try:
        transport = ChannelTransport(ChannelClient(channel.path), UNREACHABLE_ENDPOINT)
        request = AWSPreparedRequest("PUT", f"{UNREACHABLE_ENDPOINT}/b/k?x=1", HTTPHeaders(), "é", False)
        answer = transport(request)
    finally:
        channel.stop()
    assert answer is not None and answer.status_code == 200
    assert [(each["path"], each["query"], each["body"]) for each in recording_app.requests] == [
        ("/b/k", "x=1", "é".encode())
    ]


def test_calls_made_at_once_on_threads_run_at_once(invoker: FakeInvoker, recording_app: RecordingApp) -> None:
    """As over HTTP with botocore's pool: a save re-pins endpoints on several threads."""
    recording_app.seconds = 0.3
    channel = StackChannel(invoker, recording_app)
    dynamodb = aws_client_through(channel.path, "dynamodb")
    try:
        threads = [threading.Thread(target=dynamodb.list_tables) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        channel.stop()
    assert len(recording_app.requests) == 4
    assert recording_app.most_at_once == 4


def test_an_answer_later_than_the_clients_limit_is_botocores_read_timeout(
    invoker: FakeInvoker, recording_app: RecordingApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(channel_module, "AWS_ANSWER_SECONDS", 0.2)
    recording_app.seconds = 1.0
    channel = StackChannel(invoker, recording_app)
    try:
        with pytest.raises(ReadTimeoutError):
            aws_client_through(channel.path, "dynamodb", attempts=1).list_tables()
    finally:
        channel.stop()


def test_a_malformed_aws_request_to_a_stack_with_aws_is_refused(
    invoker: FakeInvoker, recording_app: RecordingApp
) -> None:
    channel = StackChannel(invoker, recording_app)
    client = ChannelClient(channel.path)
    try:
        for bad in (["GET", "http://h:notaport/", []], "nonsense"):
            with pytest.raises(channel_module.Refused, match="MalformedRequest"):
                client.exchange({"aws": bad}, b"", 1, 5)
        assert run(ChannelSandbox("SandboxFunction", client), {})["outcome"] == "response"
    finally:
        channel.stop()
    assert recording_app.requests == []


def test_where_the_stack_serves_no_aws_the_requests_go_over_http(
    channel: StackChannel, recording_app: RecordingApp
) -> None:
    server = ThreadedServer(recording_app, "127.0.0.1", 0, 2)
    endpoint = f"http://127.0.0.1:{server.port}"
    try:
        session = aws_session()
        transport = ChannelTransport(ChannelClient(channel.path), endpoint)
        session.events.register("before-send", transport)  # type: ignore[arg-type]
        dynamodb = session.client("dynamodb", endpoint_url=endpoint)
        assert [dynamodb.list_tables()["TableNames"] for _ in range(2)] == [[], []]
    finally:
        server.stop()
    assert len(recording_app.requests) == 2  # served over HTTP
    assert transport.aws_here is False  # and the socket asked only once
