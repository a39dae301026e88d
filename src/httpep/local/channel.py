"""The stack's own workers reach the stack through a unix socket of its, not its HTTP services: their invokes of
another function, and their requests to the embedded AWS (moto).

A warm trigger makes two DynamoDB requests and one sandbox invoke. Over HTTP, each cost the router's worker an
HTTP exchange (urllib3 and http.client: a third of a DynamoDB call's CPU), and the stack a waitress request
(parsing, a thread hand-off, the guard), on top of the work itself, for nothing a handler author could see.
Through the socket:
- an invoke: the worker sends the payload and the tenant id, and the stack runs the same invoke as its Lambda
  service would (the function's tenancy checked, a worker of the tenant's), and answers with the function's
  result and whether it failed, as Lambda's Invoke answers with its FunctionError;
- an AWS request: botocore still builds and validates it as it would over HTTP (see `ChannelTransport`); only
  its signature and its sending are replaced. The stack hands it to the same moto application its HTTP service
  serves, as a WSGI request, and answers with the status, headers and body, which botocore then parses as any
  answer. moto checks no signature: it reads only the credential scope (see `ScopeOnlySigning`; S3's
  requests stay signed).

The socket lies in a directory only the stack's user may enter, and the stack answers only a peer of its own
user (as the guard does for its HTTP services): a handler's processes, which run as other users under root,
can neither reach nor use it.

Each message, both ways, is a frame (frames.py): a JSON line, then `size` bytes of payload.
    worker -> stack  {"function": name, "tenant": id, "size": n} + the payload          an invoke
                     {"aws": [method, url, [[name, value], ...]], "size": n} + the body    an AWS request
    stack -> worker  {"size": n, "function_error": "Unhandled" | null} + the result
                     {"size": n, "status": code, "headers": [[name, value], ...]} + the body
                     or {"size": 0, "refused": error type}: no such function, a tenant id that does not fit,
                     a malformed request, or no AWS served here (the worker then sends its AWS requests over
                     HTTP, as before)
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from botocore import UNSIGNED
from botocore.awsrequest import AWSPreparedRequest, AWSRequest, AWSResponse
from botocore.exceptions import EndpointConnectionError, NoCredentialsError, ReadTimeoutError
from urllib3 import HTTPHeaderDict

from httpendpoint.core.aws import (
    AWS_ANSWER_SECONDS,
    AWS_CONNECT_SECONDS,
    SANDBOX_ANSWER_SECONDS,
    SANDBOX_CONNECT_SECONDS,
)
from httpendpoint.core.errors import Unavailable
from httpendpoint.trigger.sandbox_client import LambdaSandbox
from httpep.local.frames import read_frame, write_frame
from httpep.local.guard import WsgiApp

# After a failed accept (out of descriptors, say), how long the stack waits before it accepts again.
ACCEPT_RETRY_SECONDS = 0.05
# What an HTTP server answers when its application fails (waitress's words).
APP_FAILED = (500, [("Content-Type", "text/plain")], b"Internal Server Error")
# The stack's refusal when it serves no AWS (a runner made without the application).
NO_AWS_HERE = "NoAwsHere"
# Idle connections a worker keeps to the stack, as botocore's HTTP pool keeps 10: calls made at once on
# threads (a save's re-pins) each get a connection, so they run at once, as they did over HTTP.
IDLE_CONNECTIONS = 10
# Keys of botocore's request context (ScopeOnlySigning): the request goes to the embedded AWS; it is to be
# signed by scope only.
_TO_EMBEDDED_AWS = "httpep_to_embedded_aws"
_SCOPE_ONLY = "httpep_scope_only"


class Invoker(Protocol):
    def call(self, function_identifier: str, event: str, tenant_id: str | None = None) -> dict[str, Any]:
        """The function's answer: {"result": its JSON text} or {"error": {...}}."""
        ...


class Refused(Exception):
    """The stack refused the request (its error type is the message)."""


class StackChannel:
    """The stack's end: a listening socket and a thread per connection."""

    def __init__(
        self, invoker: Invoker, aws_app: WsgiApp | None = None, log: Callable[[str, str], None] | None = None
    ) -> None:
        self.invoker = invoker
        self.aws_app = aws_app
        self.log = log
        self.directory = Path(tempfile.mkdtemp(prefix="httpep-stack-"))  # mode 0700, the stack's user's
        self.path = str(self.directory / "stack.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(64)
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = False
        threading.Thread(target=self._accept, name="stack-channel", daemon=True).start()

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
                    if self.log is not None:
                        self.log("guard", f"refused a connection to the stack's socket from uid {uid}")
                    continue
                with self._lock:  # known before its thread runs, so that `stop` ends it too
                    if self._stopped:
                        connection.close()
                        continue
                    self._connections.add(connection)
                threading.Thread(target=self._serve, args=(connection,), daemon=True).start()
            except (OSError, RuntimeError):  # that worker sees its connection end, and reconnects
                with self._lock:
                    self._connections.discard(connection)
                connection.close()

    def _serve(self, connection: socket.socket) -> None:
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
        if "aws" in request:
            return self._aws(request["aws"], payload)
        try:
            answer = self.invoker.call(str(request.get("function")), payload.decode(), request.get("tenant"))
        except Exception as exc:  # what the Lambda service answers with a 4xx: no such function, a bad tenant id
            return {"refused": type(exc).__name__}, b""
        if "error" in answer:
            return {"function_error": "Unhandled"}, json.dumps(answer["error"]).encode()
        return {"function_error": None}, str(answer["result"]).encode()

    def _aws(self, request: Any, body: bytes) -> tuple[dict[str, Any], bytes]:
        """The AWS request as moto's HTTP service would have served it: the same application, a WSGI request
        built by werkzeug from the URL, headers and body botocore sent."""
        from werkzeug.test import EnvironBuilder, run_wsgi_app

        if self.aws_app is None:
            return {"refused": NO_AWS_HERE}, b""
        try:
            method, url, headers = str(request[0]), urlsplit(str(request[1])), [(str(k), str(v)) for k, v in request[2]]
            # (A body of bytes leaves the builder no file to close.)
            environ = EnvironBuilder(
                path=url.path + (f"?{url.query}" if url.query else ""),
                base_url=f"{url.scheme}://{url.netloc}",
                method=method,
                headers=headers,
                data=body,
            ).get_environ()
        except (TypeError, ValueError, IndexError):  # not a request an HTTP server would have parsed either
            return {"refused": "MalformedRequest"}, b""
        try:
            # Buffered: werkzeug reads the whole answer and closes what the application returned, as WSGI asks.
            answer, status, answer_headers = run_wsgi_app(self.aws_app, environ, buffered=True)
            code, headers_out, content = int(status.split(" ", 1)[0]), list(answer_headers.items()), b"".join(answer)
        except Exception:  # as an HTTP server answers for an application that fails
            code, headers_out, content = APP_FAILED
        return {"status": code, "headers": headers_out}, content

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            connections = list(self._connections)
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for connection in connections:  # each worker sees its connection end
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        shutil.rmtree(self.directory, ignore_errors=True)


class _Connection:
    def __init__(self, path: str, connect_seconds: float) -> None:
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.socket.settimeout(connect_seconds)
            self.socket.connect(path)
        except OSError:
            self.socket.close()
            raise
        self.stream = self.socket.makefile("rwb")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.stream.close()
        self.socket.close()


class ChannelClient:
    """A worker's connections to the stack: an exchange takes an idle one, or makes one."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()

    def exchange(
        self, header: dict[str, Any], payload: bytes, connect_seconds: float, answer_seconds: float
    ) -> tuple[dict[str, Any], bytes]:
        """The stack's answer. Raises OSError (timeouts included) if the stack cannot be reached or closes the
        connection, and Refused if it refuses the request."""
        with self._lock:
            connection = self._idle.pop() if self._idle else None
        try:
            if connection is None:
                connection = _Connection(self.path, connect_seconds)
            connection.socket.settimeout(answer_seconds)
            write_frame(connection.stream, header, payload)
            message = read_frame(connection.stream)
            if message is None:
                raise ConnectionResetError("the local stack closed the connection")
        except BaseException as exc:
            # A connection whose answer is unread or lost is of no further use; after a failure to reach the
            # stack (gone, or a new one at the path), neither are the idle ones.
            if connection is not None:
                connection.close()
            if isinstance(exc, OSError):
                self._close_idle()
            raise
        with self._lock:
            if len(self._idle) < IDLE_CONNECTIONS:
                self._idle.append(connection)
                connection = None
        if connection is not None:
            connection.close()
        if message[0].get("refused"):
            raise Refused(str(message[0]["refused"]))
        return message

    def _close_idle(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


class ChannelSandbox(LambdaSandbox):
    """The router's sandbox seam in a worker of the local stack: the invoke goes through the stack's socket."""

    def __init__(self, function_name: str, client: ChannelClient) -> None:
        super().__init__(function_name)
        self.client = client

    def invoke(self, encoded: bytes, tenant: str) -> tuple[bytes, str | None]:
        try:
            # As the Lambda client's own limits (core/aws.py): the answer comes within the sandbox's time.
            header, body = self.client.exchange(
                {"function": self.function_name, "tenant": tenant},
                encoded,
                SANDBOX_CONNECT_SECONDS,
                SANDBOX_ANSWER_SECONDS,
            )
        except OSError as exc:
            raise Unavailable(f"the sandbox could not be reached ({type(exc).__name__})") from exc
        except Refused as exc:
            raise Unavailable(f"the sandbox could not be reached ({exc})") from exc
        return body, header.get("function_error")


class _Content(io.BytesIO):
    """An answer's body as botocore reads one from urllib3: whole (`stream`) or in parts (`read`, streaming
    operations such as S3's GetObject)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        while chunk := self.read(1 << 16):
            yield chunk


class _Endpoint:
    """The embedded AWS's endpoint, and whether a request's URL is one of its."""

    def __init__(self, url: str) -> None:
        self.prefix = url.rstrip("/") + "/"

    def holds(self, url: str) -> bool:
        return (url + "/").startswith(self.prefix)


class ScopeOnlySigning:
    """botocore's handlers that sign a worker's requests to the embedded AWS at `endpoint` by scope only. moto
    checks no signature while its IAM authentication is off, as in the local stack; of the Authorization header
    it reads only the credential scope: the service (how it routes a request), the region and the access key
    (whose account answers). So that header carries the scope and a placeholder signature, and nothing is
    computed: SigV4's canonical request and HMACs were a quarter of the router's own CPU, about 0.3 ms a call.

    Which requests: those whose URL, as botocore resolved it, is the embedded AWS's (`before-call`); any other
    (a client of the stack's Lambda service) is signed as ever. botocore's own choice of signer comes first:
    S3's operations name SigV4 for S3, so S3's requests stay fully signed (the warm trigger makes none)."""

    def __init__(self, endpoint: str, credentials: Callable[[], Any]) -> None:
        self.endpoint = _Endpoint(endpoint)
        self.credentials = credentials  # botocore's credentials, or None where there are none

    def register(self, events: Any) -> None:
        events.register("before-call", self.mark)
        events.register("choose-signer", self.choose)
        events.register("before-sign", self.scope)

    def mark(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_TO_EMBEDDED_AWS] = self.endpoint.holds(str(params.get("url", "")))

    @staticmethod
    def choose(context: dict[str, Any], **_: Any) -> Any:
        if not context.get(_TO_EMBEDDED_AWS):
            return None
        context[_SCOPE_ONLY] = True  # chosen here, not by botocore (which leaves a few operations unsigned)
        return UNSIGNED

    def scope(self, request: AWSRequest, signing_name: str, region_name: str, **_: Any) -> None:
        if not request.context.get(_SCOPE_ONLY):
            return
        credentials = self.credentials()
        if credentials is None:
            raise NoCredentialsError()
        # Where the endpoint's rules name another signing region or name, SigV4 would have used them.
        signing = request.context.get("signing") or {}
        region, service = signing.get("region") or region_name, signing.get("signing_name") or signing_name
        day = time.strftime("%Y%m%d", time.gmtime())
        request.headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{day}/{region}/{service}/aws4_request, "
            "SignedHeaders=host, Signature=unchecked"
        )


class ChannelTransport:
    """botocore's `before-send` handler for requests to the embedded AWS at `endpoint`: it sends the request,
    built and signed (by scope only, see ScopeOnlySigning), through the stack's socket and returns the answer
    as botocore's own HTTP sender would. Requests to anywhere else return None, and botocore sends them itself,
    as it does every request once the stack has said that it serves no AWS.

    A stack that cannot be reached is botocore's EndpointConnectionError, and one that does not answer in time
    its ReadTimeoutError, which its retries treat as they treat them over HTTP; the time limits are those the
    clients are given (core/aws.py)."""

    def __init__(self, client: ChannelClient, endpoint: str) -> None:
        self.client = client
        self.endpoint = _Endpoint(endpoint)
        self.aws_here = True

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        url = str(request.url)
        if not self.aws_here or not self.endpoint.holds(url):
            return None
        body: Any = request.body
        if hasattr(body, "read"):  # a file-like body: botocore rewinds it itself before any retry
            body = body.read()
        if isinstance(body, str):
            body = body.encode()
        headers = [
            [name, value.decode("latin-1") if isinstance(value, bytes) else value]
            for name, value in request.headers.items()
        ]
        try:
            header, content = self.client.exchange(
                {"aws": [request.method, url, headers]}, bytes(body or b""), AWS_CONNECT_SECONDS, AWS_ANSWER_SECONDS
            )
        except TimeoutError as exc:
            raise ReadTimeoutError(endpoint_url=url, error=exc) from exc
        except Refused as exc:
            if str(exc) != NO_AWS_HERE:
                raise EndpointConnectionError(endpoint_url=url, error=exc) from exc
            self.aws_here = False
            return None
        except OSError as exc:
            raise EndpointConnectionError(endpoint_url=url, error=exc) from exc
        # The headers in urllib3's own mapping, as botocore gets them over HTTP (a name sent twice: values joined).
        headers_in = HTTPHeaderDict()
        for name, value in header["headers"]:
            headers_in.add(str(name), str(value))
        # (botocore's stubs name its HTTPHeaders; its own URLLib3Session passes this same urllib3 type.)
        return AWSResponse(url, int(header["status"]), headers_in, _Content(content))  # type: ignore[arg-type]


def send_aws_through(session: Any, client: ChannelClient, endpoint: str) -> None:
    """`session`'s requests to the embedded AWS at `endpoint` go through the stack's socket (`client`), signed by
    scope only, as a worker's do (worker.py); every client made from it from now on does so."""
    session.events.register("before-send", ChannelTransport(client, endpoint))
    ScopeOnlySigning(endpoint, session.get_credentials).register(session.events)
