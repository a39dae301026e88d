"""The local stack's servers (kept-alive connections, a clean stop) and its opt-in authorizer cache: the same token
on the same method ARN, for a while, and nothing else; `httpep serve` and the state file it shares with another
stack's."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from httpep.local import server, state
from httpep.local.server import AuthorizerCache, LocalStack, PortInUse, ThreadedServer, _no_telemetry_events
from tests.support.local import ok_app
from tests.support.repo import TEMPLATE_PATH
from tests.unit.cli.test_client import cli, one_error_line, write_state

ARN = "arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/api/v1/http-endpoint/u/hook"


def token_event(token: str, arn: str = ARN) -> dict[str, str]:
    return {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": arn}


def test_an_answer_is_reused_for_the_same_token_and_method_until_it_expires() -> None:
    cache = AuthorizerCache(0.2)
    key = AuthorizerCache.key(token_event("hep_a"))
    assert key is not None
    cache.put(key, '{"principalId": "jaydoe"}')
    assert cache.get(key) == '{"principalId": "jaydoe"}'
    assert cache.get(str(AuthorizerCache.key(token_event("hep_b")))) is None
    assert cache.get(str(AuthorizerCache.key(token_event("hep_a", ARN.replace("GET", "POST"))))) is None
    time.sleep(0.25)
    assert cache.get(key) is None


def test_events_that_are_not_token_authorizer_events_are_never_cached() -> None:
    assert AuthorizerCache.key({"httpMethod": "GET", "requestContext": {"requestId": "r"}}) is None
    assert AuthorizerCache.key({"type": "REQUEST", "methodArn": ARN}) is None
    assert AuthorizerCache.key("not a dict") is None


def test_the_servers_keep_connections_open_and_name_the_address_they_serve() -> None:
    """Two calls on one keep-alive session reach the app over one connection (one client port), and the
    app sees the served address as SERVER_NAME (what the control plane's guard matches connections on)."""
    seen: list[tuple[str, str, str]] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        seen.append((environ["SERVER_NAME"], environ["SERVER_PORT"], environ["REMOTE_PORT"]))
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    stack = LocalStack(template_path=Path("template.yaml"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    stack._serve(app, port, threads=2)
    try:
        with requests.Session() as session:
            answers = [session.get(f"http://127.0.0.1:{port}/", timeout=10) for _ in range(2)]
    finally:
        stack.stop()
    assert [answer.text for answer in answers] == ["ok", "ok"]
    assert all("close" not in answer.headers.get("Connection", "") for answer in answers)
    assert seen[0][:2] == ("127.0.0.1", str(port))
    assert seen[0][2] == seen[1][2]  # the same client port: one connection for both calls


def test_a_server_stops_with_a_connection_open_its_thread_ends_and_its_port_is_free() -> None:
    """Its sockets are closed by its own thread: closed under a poll in progress, they made that thread die
    of EBADF, which pytest reports as an unhandled thread exception."""

    server = ThreadedServer(ok_app, "127.0.0.1", 0, threads=2)
    failures: list[threading.ExceptHookArgs] = []
    original, threading.excepthook = threading.excepthook, failures.append
    try:
        with requests.Session() as session:  # keeps its connection open through the stop
            assert session.get(f"http://127.0.0.1:{server.port}/", timeout=10).text == "ok"
            server.stop()
            assert f"serve-{server.port}" not in {thread.name for thread in threading.enumerate()}
    finally:
        threading.excepthook = original
    assert failures == []
    with socket.socket() as again:  # as a restarted stack's server would bind it
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", server.port))
        again.listen()


def test_a_server_on_a_host_of_two_addresses_serves_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host name with several addresses (localhost, where it has an IPv6 one too) gets a server per address
    from waitress, on one map: the stack starts and stops on it as on one address."""
    import waitress

    create = waitress.create_server

    def two_addresses(app: Any, **options: Any) -> Any:
        options.pop("host"), options.pop("port")
        return create(app, listen="127.0.0.1:0 127.0.0.2:0", **options)

    monkeypatch.setattr(waitress, "create_server", two_addresses)

    server = ThreadedServer(ok_app, "localhost", 0, threads=2)
    assert type(server.server).__name__ == "MultiSocketServer"
    assert requests.get(f"http://127.0.0.1:{server.port}/", timeout=10).text == "ok"
    server.stop()
    server.stop()  # once is enough; again does nothing
    assert f"serve-{server.port}" not in {thread.name for thread in threading.enumerate()}


def test_a_server_whose_wake_up_pipe_is_gone_still_stops_and_frees_its_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stop does not depend on waitress's wake-up pipe (CI once saw EBADF on its write, when a request
    thread's pull had run the old stop's callback, which closed the pipe): with every write to it failing, the
    serving loop still ends at its next turn, and only then are its sockets closed."""
    import errno

    from waitress.trigger import trigger

    def gone(_: trigger) -> None:
        raise OSError(errno.EBADF, "Bad file descriptor")

    server = ThreadedServer(ok_app, "127.0.0.1", 0, threads=2)
    failures: list[threading.ExceptHookArgs] = []
    original, threading.excepthook = threading.excepthook, failures.append
    try:
        with requests.Session() as session:
            assert session.get(f"http://127.0.0.1:{server.port}/", timeout=10).text == "ok"
            monkeypatch.setattr(trigger, "_physical_pull", gone)
            server.stop()
            assert f"serve-{server.port}" not in {thread.name for thread in threading.enumerate()}
    finally:
        threading.excepthook = original
    assert failures == []
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", server.port))
        again.listen()


def test_a_wake_up_pulled_after_the_stop_writes_nowhere() -> None:
    """A request thread that outlives the stop pulls its server's wake-up pipe once its answer is written, as
    waitress does after every answer: that pull must not write to the closed pipe's number (EBADF, or a
    stray byte in whatever file took the number since)."""
    server = ThreadedServer(ok_app, "127.0.0.1", 0, threads=2)
    assert requests.get(f"http://127.0.0.1:{server.port}/", timeout=10).text == "ok"
    server.stop()
    server.server.pull_trigger()  # what the request thread calls


def test_with_telemetry_off_the_local_api_records_no_telemetry_events(monkeypatch: pytest.MonkeyPatch) -> None:
    from samcli.lib.telemetry.event import EventName, EventTracker, UsedFeature

    def track() -> None:  # what the local API Gateway records on every request
        EventTracker.track_event(EventName.USED_FEATURE.value, UsedFeature.INVOKED_CUSTOM_LAMBDA_AUTHORIZERS.value)

    monkeypatch.setattr(EventTracker, "track_event", EventTracker.track_event)  # put back after the test
    monkeypatch.setattr(EventTracker, "_events", [])
    monkeypatch.setenv("SAM_CLI_TELEMETRY", "1")
    _no_telemetry_events()
    track()
    assert len(EventTracker.get_tracked_events()) == 1  # telemetry on: SAM CLI's as it was
    monkeypatch.setenv("SAM_CLI_TELEMETRY", "0")
    _no_telemetry_events()
    track()
    assert len(EventTracker.get_tracked_events()) == 1


# ------------------------------------------------------------------------------------------ serve and its state file

OTHER_API = "http://127.0.0.1:3000/api/v1/http-endpoint"


@dataclass
class FakeStack:
    """Stands in for LocalStack in `serve`: records what serve does with it and never listens."""

    on_start: Callable[[], None]
    events: list[str] = field(default_factory=list)

    def __call__(self, **_: Any) -> FakeStack:  # serve builds LocalStack(**settings)
        return self

    def start(self) -> None:
        self.events.append("start")
        self.on_start()

    def stop(self) -> None:
        self.events.append("stop")

    def state(self, pid: int) -> state.LocalState:
        raise AssertionError("serve wrote its state over another stack's")


@pytest.fixture
def other_stack() -> Iterator[subprocess.Popen[bytes]]:
    """A live process, started before its state file is written, as another `httpep serve` is."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process
    process.kill()
    process.wait()


def serve(state_file: Path) -> Any:
    return cli("serve", "--template", str(TEMPLATE_PATH), env={"HTTPEP_LOCAL_STATE": str(state_file)})


def test_serve_refuses_to_start_beside_a_running_stack_and_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, other_stack: subprocess.Popen[bytes]
) -> None:
    stack = FakeStack(on_start=lambda: None)
    monkeypatch.setattr(server, "LocalStack", stack)
    state_file = write_state(tmp_path, OTHER_API, pid=other_stack.pid)
    before = state_file.read_text()
    line = one_error_line(serve(state_file))
    assert f"pid {other_stack.pid}" in line and OTHER_API in line and str(state_file) in line
    assert f"kill {other_stack.pid}" in line and "Ctrl-C" in line
    assert stack.events == []  # refused before binding any port
    assert state_file.read_text() == before


def test_serve_refuses_when_another_stack_wrote_the_state_file_while_it_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, other_stack: subprocess.Popen[bytes]
) -> None:
    def other_stack_wrote_its_file() -> None:
        write_state(tmp_path, OTHER_API, pid=other_stack.pid)

    stack = FakeStack(on_start=other_stack_wrote_its_file)
    monkeypatch.setattr(server, "LocalStack", stack)
    line = one_error_line(serve(tmp_path / "local.json"))
    assert f"pid {other_stack.pid}" in line
    assert stack.events == ["start", "stop"]  # its own servers stopped again
    assert json.loads((tmp_path / "local.json").read_text())["pid"] == other_stack.pid


def exited_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_serve_replaces_the_state_file_of_a_stack_that_has_exited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def ports_taken() -> None:  # as far as the test follows serve: past the state file's check
        raise PortInUse("API port 3000 on 127.0.0.1 is already in use (Address already in use)")

    monkeypatch.setattr(server, "LocalStack", FakeStack(on_start=ports_taken))
    line = one_error_line(serve(write_state(tmp_path, OTHER_API, pid=exited_pid())))
    assert "API port 3000 on 127.0.0.1 is already in use" in line


def test_a_state_file_names_a_running_stack_only_while_that_process_lives(
    tmp_path: Path, other_stack: subprocess.Popen[bytes]
) -> None:
    assert state.running(tmp_path / "none.json") is None
    assert state.running(write_state(tmp_path, OTHER_API, pid=exited_pid())) is None
    running = state.running(write_state(tmp_path, OTHER_API, pid=other_stack.pid))
    assert running is not None and running.pid == other_stack.pid


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process start times are read from /proc")
def test_a_pid_taken_by_a_process_started_after_the_file_was_written_is_not_the_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, other_stack: subprocess.Popen[bytes]
) -> None:
    """After a reboot, or a long while, the pid of a stack that died without removing its file names another
    process: one that started after the file was written."""
    state_file = write_state(tmp_path, OTHER_API, pid=other_stack.pid)
    day_ago = time.time() - 86400
    os.utime(state_file, (day_ago, day_ago))
    assert state.running(state_file) is None
    monkeypatch.setenv("HTTPEP_LOCAL_STATE", str(state_file))
    with pytest.raises(state.NoLocalStack, match="has exited"):
        state.read()


def test_a_stack_never_removes_a_state_file_it_did_not_write(tmp_path: Path) -> None:
    state_file = write_state(tmp_path, OTHER_API, pid=os.getpid() + 1)
    state.remove(state_file, os.getpid())
    assert state_file.exists()
    state.remove(write_state(tmp_path, OTHER_API, pid=os.getpid()), os.getpid())
    assert not state_file.exists()


def test_serve_help_names_the_environment_variables_make_dev_passes() -> None:
    result = cli("serve", "--help")
    assert result.exit_code == 0, result.stderr
    for option, variable in (("--port", "PORT"), ("--aws-port", "AWS_PORT"), ("--lambda-port", "LAMBDA_PORT")):
        row = " ".join(result.stdout[result.stdout.index(f"  {option} ") :].split("  --")[1].split())
        assert f"env var: {variable};" in row, row


def test_a_stack_with_a_state_file_of_its_own_says_so_in_the_command_it_suggests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--local` commands find that stack only when given the same file: the banner's command carries it."""
    state_file = tmp_path / "second.json"

    class Running(FakeStack):
        api_root = aws_endpoint = lambda_endpoint = "http://127.0.0.1:1"

        def state(self, pid: int) -> state.LocalState:
            return state.LocalState(pid, self.api_root, self.aws_endpoint, self.lambda_endpoint, "us-east-1", "")

    previous = signal.getsignal(signal.SIGTERM)

    def stop_serve() -> None:
        """serve runs until SIGTERM: sent once serve handles it (sent before, it would end the test run)."""
        deadline = time.monotonic() + 30
        while signal.getsignal(signal.SIGTERM) is previous:
            if time.monotonic() > deadline:
                os.kill(os.getpid(), signal.SIGINT)  # serve's other way out; the test then fails on its output
                return
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    stack = Running(on_start=lambda: threading.Thread(target=stop_serve, daemon=True).start())
    monkeypatch.setattr(server, "LocalStack", stack)
    try:
        result = serve(state_file)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert result.exit_code == 0, result.stderr
    assert f"HTTPEP_LOCAL_STATE={state_file} .venv/bin/httpep --local token create" in result.stderr
    assert not state_file.exists()  # removed as it stopped


@pytest.mark.parametrize("pid", [0, -1, "123"])
def test_a_state_file_with_no_process_id_names_no_running_stack(tmp_path: Path, pid: object) -> None:
    path = write_state(tmp_path, OTHER_API)
    path.write_text(json.dumps({**json.loads(path.read_text()), "pid": pid}))
    assert state.running(path) is None
