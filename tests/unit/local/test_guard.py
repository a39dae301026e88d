"""The guard of the local control plane: a connection is served only while a process of the stack's user holds
its client end."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

import pytest
from werkzeug.serving import make_server

from httpep.local import guard
from httpep.local.guard import connection_owner, owner_only
from httpep.local.runner import CHILD_UID_BASE


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
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(uid)
            os.setuid(uid)
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(b"PUT /victims-table HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


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
