"""The local stack's servers (kept-alive connections, a clean stop) and its opt-in authorizer cache: the same token
on the same method ARN, for a while, and nothing else."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from httpep.local.server import AuthorizerCache, LocalStack, ThreadedServer, _no_telemetry_events
from tests.support.local import ok_app

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
