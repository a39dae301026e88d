"""The guard of the local control plane: a connection is served only while a process of the stack's user holds
its client end."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from httpep.local import guard
from httpep.local.guard import connection_owner, owner_only
from httpep.local.runner import CHILD_UID_BASE
from httpep.local.server import ThreadedServer
from tests.support.local import as_user, ok_app


@pytest.fixture(autouse=True, params=["socket diagnostics", "socket table"])
def lookup(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test with either way of finding a connection's owner (the table where the kernel has no diagnostics)."""
    if request.param == "socket table":

        def no_diagnostics(*_: object) -> None:
            raise OSError("no socket diagnostics")

        monkeypatch.setattr(guard, "_diag_owner", no_diagnostics)


def send_and_close(port: int, uid: int) -> None:
    """A handler's process (another user's) sends a request to the control plane and closes its end at once,
    without waiting for the answer (a write needs none)."""

    def send() -> bytes:
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"PUT /victims-table HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
        return b""

    as_user(uid, send)


@pytest.mark.skipif(os.geteuid() != 0, reason="handlers are told apart from the stack by their uid, as root")
# The forked child makes only system calls (no lock of this process's threads), then leaves with os._exit.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_request_whose_sender_closed_its_end_is_not_served() -> None:
    """Once its process closed it, the client's end belongs to no one, and the kernel shows the closing socket
    as root's: the stack's own user when it runs as root. The request must still be refused."""
    served: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        served.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]

    guarded = owner_only(app)

    def busy(environ: dict[str, Any], start_response: Any) -> Any:
        time.sleep(0.5)  # a loaded stack: the request waits for a thread while its sender is gone
        return guarded(environ, start_response)

    server = make_server("127.0.0.1", 0, busy, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        send_and_close(server.server_port, CHILD_UID_BASE + 999)
        time.sleep(1.5)
    finally:
        server.shutdown()
    assert served == []


def test_the_owner_of_a_closed_connection_is_unknown() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        accepted, address = listener.accept()
        with accepted:
            assert connection_owner(address, listener.getsockname()) == os.geteuid()
            client.close()
            time.sleep(0.2)
            assert connection_owner(address, listener.getsockname()) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_the_owner_of_a_connection_is_found_on_either_family(host: str) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.create_server((host, 0), family=family)
    with listener, socket.create_connection(listener.getsockname()[:2]) as client:
        assert connection_owner(client.getsockname()[:2], listener.getsockname()[:2]) == os.geteuid()
        assert connection_owner(client.getsockname()[:2], (host, 1)) is None


@pytest.fixture
def waitress_port(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, list[tuple[str, int]]]]:
    """The guard behind waitress (the local stack's server), and the connections it looked up."""
    looked_up: list[tuple[str, int]] = []
    find = guard.connection_owner

    def counted(client: tuple[str, int], server: tuple[str, int]) -> int | None:
        looked_up.append(client)
        return find(client, server)

    monkeypatch.setattr(guard, "connection_owner", counted)
    server = ThreadedServer(owner_only(ok_app), "127.0.0.1", 0, threads=2)  # as the local stack serves it
    try:
        yield server.port, looked_up
    finally:
        server.stop()


def test_a_connection_is_looked_up_once_however_many_requests_it_carries(
    waitress_port: tuple[int, list[tuple[str, int]]],
) -> None:
    port, looked_up = waitress_port
    with requests.Session() as session:
        assert [session.get(f"http://127.0.0.1:{port}/", timeout=10).text for _ in range(3)] == ["ok"] * 3
    with requests.Session() as session:
        assert session.get(f"http://127.0.0.1:{port}/", timeout=10).text == "ok"
    assert len(looked_up) == 2 and looked_up[0] != looked_up[1]  # one lookup per connection


@pytest.mark.skipif(os.geteuid() != 0, reason="handlers are told apart from the stack by their uid, as root")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_every_request_of_another_user_s_connection_is_refused(
    waitress_port: tuple[int, list[tuple[str, int]]],
) -> None:
    """A handler's process keeps its connection open and sends request after request: none is served."""
    port, _ = waitress_port

    def three_requests() -> bytes:
        with socket.create_connection(("127.0.0.1", port)) as s, s.makefile("rb") as answers:
            statuses = []
            for _ in range(3):
                s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                statuses.append(answers.readline().split()[1])
                length = 0
                while (line := answers.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                answers.read(length)
            return b" ".join(statuses)

    statuses = as_user(CHILD_UID_BASE + 999, three_requests).split()
    assert statuses == [b"403"] * 3
