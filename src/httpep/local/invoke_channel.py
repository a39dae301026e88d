"""The stack's own workers invoke a function through a unix socket of the stack, not its Lambda HTTP service.

The router invokes the sandbox on every trigger. Through botocore and the local Lambda service, each invoke
cost about 4 ms of CPU (the request's serialization and signing, an HTTP exchange, SAM CLI's Flask app) on
top of the sandbox's own work, for nothing a handler author could see. Here the router's worker sends the
payload and the tenant id over a socket to the stack, which runs the same invoke as its Lambda service would
(the function's tenancy checked, a worker of the tenant's), and answers with the function's result and
whether it failed, as Lambda's Invoke answers with its FunctionError.

The socket lies in a directory only the stack's user may enter, and the stack answers only a peer of its
own user (as the guard does for its HTTP services): a handler's processes, which run as other users under
root, can neither reach nor use it.

Each message, both ways, is a frame (frames.py): a JSON line, then `size` bytes of payload.
    worker -> stack  {"function": name, "tenant": id, "size": n} + the payload
    stack -> worker  {"size": n, "function_error": "Unhandled" | null} + the result
                     or {"size": 0, "refused": error type}: no such function, or a tenant id that does not fit
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import struct
import tempfile
import threading
import time
from io import BufferedIOBase
from pathlib import Path
from typing import Any, Protocol

from httpendpoint.core.aws import SANDBOX_ANSWER_SECONDS, SANDBOX_CONNECT_SECONDS
from httpendpoint.core.errors import Unavailable
from httpendpoint.trigger.sandbox_client import LambdaSandbox
from httpep.local.frames import read_frame, write_frame

# After a failed accept (out of descriptors, say), how long the stack waits before it accepts again.
ACCEPT_RETRY_SECONDS = 0.05


class Invoker(Protocol):
    def call(self, function_identifier: str, event: str, tenant_id: str | None = None) -> dict[str, Any]:
        """The function's answer: {"result": its JSON text} or {"error": {...}}."""
        ...


class InvokeChannel:
    """The stack's end: a listening socket and a thread per connected worker."""

    def __init__(self, invoker: Invoker) -> None:
        self.invoker = invoker
        self.directory = Path(tempfile.mkdtemp(prefix="httpep-invoke-"))  # mode 0700, the stack's user's
        self.path = str(self.directory / "invoke.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(64)
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = False
        threading.Thread(target=self._accept, name="invoke-channel", daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                if not self._stopped:  # out of descriptors or memory for a moment: the next worker tries again
                    time.sleep(ACCEPT_RETRY_SECONDS)
                continue
            try:
                credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
                _pid, uid, _gid = struct.unpack("3i", credentials)
                if uid != os.geteuid():
                    connection.close()
                    continue
                threading.Thread(target=self._serve, args=(connection,), daemon=True).start()
            except (OSError, RuntimeError):  # that worker sees its connection end, and reconnects
                connection.close()

    def _serve(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)
        try:
            with connection, connection.makefile("rwb") as stream:
                while (message := read_frame(stream)) is not None:
                    request, payload = message
                    write_frame(stream, *self._answer(request, payload))
        except OSError:
            pass  # the worker went away, or the stack stops
        finally:
            with self._lock:
                self._connections.discard(connection)

    def _answer(self, request: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
        try:
            answer = self.invoker.call(str(request.get("function")), payload.decode(), request.get("tenant"))
        except Exception as exc:  # what the Lambda service answers with a 4xx: no such function, a bad tenant id
            return {"refused": type(exc).__name__}, b""
        if "error" in answer:
            return {"function_error": "Unhandled"}, json.dumps(answer["error"]).encode()
        return {"function_error": None}, str(answer["result"]).encode()

    def stop(self) -> None:
        self._stopped = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # each worker sees its connection end
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        shutil.rmtree(self.directory, ignore_errors=True)


class ChannelSandbox(LambdaSandbox):
    """The router's sandbox seam in a worker of the local stack: the invoke goes through the stack's socket."""

    def __init__(self, function_name: str, path: str) -> None:
        super().__init__(function_name)
        self.path = path
        self._stream: BufferedIOBase | None = None

    def invoke(self, encoded: bytes, tenant: str) -> tuple[bytes, str | None]:
        try:
            stream = self._connected()
            write_frame(stream, {"function": self.function_name, "tenant": tenant}, encoded)
            message = read_frame(stream)
        except OSError as exc:  # timeouts included
            self._close()
            raise Unavailable(f"the sandbox could not be reached ({type(exc).__name__})") from exc
        if message is None:
            self._close()
            raise Unavailable("the sandbox could not be reached (the local stack closed the connection)")
        header, body = message
        if header.get("refused"):
            raise Unavailable(f"the sandbox could not be reached ({header['refused']})")
        return body, header.get("function_error")

    def _connected(self) -> BufferedIOBase:
        if self._stream is None:
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                # As the Lambda client's own limits (core/aws.py): the answer comes within the sandbox's time.
                connection.settimeout(SANDBOX_CONNECT_SECONDS)
                connection.connect(self.path)
                connection.settimeout(SANDBOX_ANSWER_SECONDS)
            except OSError:
                connection.close()
                raise
            self._stream = connection.makefile("rwb")
            connection.close()  # the file object holds its own reference to the socket
        return self._stream

    def _close(self) -> None:
        if self._stream is not None:
            with contextlib.suppress(OSError):
                self._stream.close()
            self._stream = None
