"""The local stack: moto as the embedded AWS, SAM CLI's local API Gateway and Lambda services, our runner.

`LocalStack(...).start()` brings everything up on loopback; `stop()` takes it down. `httpep serve` (what
`make dev` runs) and the end-to-end tests both use it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from httpep.local import defaults
from httpep.local.console import Console
from httpep.local.guard import owner_only
from httpep.local.moto_caches import cache_moto_lookups, cache_serialized_results
from httpep.local.moto_services import MotoServices
from httpep.local.resources import create_resources
from httpep.local.runner import LocalLambdaRunner
from httpep.local.state import LocalState
from httpep.local.template import LocalTemplate, find_template

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# Worker threads of each server: the API and Lambda services block for a whole invoke, so they need as many
# as the runner lets run at once; moto's requests are short.
SERVICE_THREADS = 16
MOTO_THREADS = 8
# What SAM CLI logs (to stderr, bare) for every exception of an authorizer's invoke, the stack's own refusals
# (401, 403) included: their exceptions carry no message, so the line ends there.
AUTHORIZER_FAILED = "Lambda authorizer failed to invoke successfully"
ACCESS_DENIED_NOTE = "INFO access denied: the token's policy does not allow this route"
# API Gateway's own 401 when the Authorization header is missing or fails the template's ValidationExpression:
# no function runs, so the stack says why itself.
NO_TOKEN_NOTE = "INFO refused: no Authorization header (send Authorization: Bearer <token>)"
MALFORMED_TOKEN_NOTE = "INFO refused: the Authorization header is not of the form Bearer <token>"


def _no_telemetry_events() -> None:
    """SAM CLI's local API Gateway records a telemetry event on every request even with telemetry off (an event
    object checked against lists of accepted values, a uuid4, a lock, a click context looked up and not found,
    and every 50 requests a new thread to send them, which sends nothing). Where telemetry is off, as the local
    stack runs SAM CLI unless told otherwise, nothing is recorded."""
    if os.environ.get("SAM_CLI_TELEMETRY") == "0":
        from samcli.lib.telemetry.event import EventTracker

        EventTracker.track_event = staticmethod(lambda *_, **__: None)


class PortInUse(Exception):
    pass


def ensure_port_free(host: str, port: int, what: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortInUse(f"{what} port {port} on {host} is already in use ({exc.strerror})") from None


class AuthorizerCache:
    """Opt-in (`httpep serve --authorizer-cache SECONDS`): an authorizer's answer reused for the same token and
    method ARN, as API Gateway's result cache does. Off by default, so that a revoked token is refused at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._answers: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(event: Any) -> str | None:
        if not isinstance(event, dict) or event.get("type") != "TOKEN" or "methodArn" not in event:
            return None
        return f"{event.get('authorizationToken')}\n{event['methodArn']}"

    def get(self, key: str) -> Any:
        with self._lock:
            found = self._answers.get(key)
        return found[1] if found is not None and found[0] > time.monotonic() else None

    def put(self, key: str, answer: Any) -> None:
        with self._lock:
            self._answers[key] = (time.monotonic() + self.seconds, answer)


class AccessDenied(Exception):
    """The authorizer's policy does not allow the route."""


class _NoRefusalFailures(logging.Filter):
    """Drops SAM CLI's failure line for a refusal the stack answers itself: that request's block on the console
    says it (the authorizer's verdict, and the reason of a 403), under its own line."""

    def filter(self, record: logging.LogRecord) -> bool:
        from flask import g, has_request_context

        return not (str(record.msg).startswith(AUTHORIZER_FAILED) and has_request_context() and g.get("refused"))


_NO_REFUSAL_FAILURES = _NoRefusalFailures()


def _invokes_to_requests(console: Console) -> Callable[[str], None]:
    """The runner's `on_invoke`: SAM CLI's local API Gateway invokes the authorizer and the route's function on
    the request's own thread, so the request the invoke is for is that thread's (Flask's `g`). Invokes on other
    threads (the Lambda invoke API has no request id; the stack's socket has no Flask request) belong to none."""
    from flask import g, has_app_context

    def invoked(invoke_id: str) -> None:
        request_id = g.get("request_id") if has_app_context() else None
        if request_id:
            console.invoked(request_id, invoke_id)

    return invoked


def _apigw_service(
    api: Any,
    runner: LocalLambdaRunner,
    host: str,
    port: int,
    console: Console,
    authorizer_cache: AuthorizerCache | None,
    access_denied_body: str,
) -> Any:
    from flask import Response, g, jsonify, request
    from samcli.local.apigw import local_apigw_service
    from samcli.local.apigw.exceptions import AuthorizerUnauthorizedRequest
    from samcli.local.apigw.local_apigw_service import CatchAllPathConverter, LocalApigwService

    from httpep.local.runner import AuthorizerRejected

    class AnyCharacterPath(CatchAllPathConverter):  # type: ignore[misc]
        # API Gateway's {path+} takes any character of the decoded path; SAM CLI's `.+` stops at a newline, so a
        # drive path with %0A was an unknown route (403) instead of the files function's 400.
        regex = "(?s:.+)"
        part_isolating = False  # werkzeug would infer True from a regex without a '/'

    # SAM CLI installs its converter by this name when it builds the app (in `create`).
    local_apigw_service.CatchAllPathConverter = AnyCharacterPath

    class Service(LocalApigwService):  # type: ignore[misc]
        def _invoke_lambda_function(self, lambda_function_name: str, event: Any, *args: Any) -> Any:
            authorizer = (event.get("requestContext") or {}).get("authorizer") if isinstance(event, dict) else None
            if isinstance(authorizer, dict) and authorizer.get("account"):
                g.account = authorizer["account"]  # for the console's line, whatever the function answers
            key = AuthorizerCache.key(event) if authorizer_cache is not None else None
            if authorizer_cache is None or key is None:
                return super()._invoke_lambda_function(lambda_function_name, event, *args)
            answer = authorizer_cache.get(key)
            if answer is None:
                # A refusal raises (AuthorizerRejected) and is never cached.
                answer = super()._invoke_lambda_function(lambda_function_name, event)
                authorizer_cache.put(key, answer)
            return answer

        def _invoke_parse_lambda_authorizer(self, *args: Any) -> None:
            try:
                super()._invoke_parse_lambda_authorizer(*args)
            except AuthorizerRejected:
                g.refused = True  # a 401, not a failure (see _NoRefusalFailures)
                raise
            except AuthorizerUnauthorizedRequest as exc:
                # A policy that does not allow the route: API Gateway's ACCESS_DENIED, in the template's words.
                g.refused = True
                g.note = ACCESS_DENIED_NOTE
                raise AccessDenied() from exc

        def _create_method_arn(self, flask_request: Any, event_type: str) -> str:
            # API Gateway's policy wildcards match any character; SAM CLI's regex stops at a newline, so a
            # path with %0A would be denied (403) instead of reaching the function as it does on AWS.
            arn = str(super()._create_method_arn(flask_request, event_type))
            return CONTROL_CHARACTERS.sub(lambda m: f"%{ord(m.group()):02X}", arn)

        def _generate_lambda_event(self, flask_request: Any, route: Any, method: str, endpoint: str) -> dict[str, Any]:
            # SAM CLI draws the default request id once per process; API Gateway gives each request its own.
            event = dict(super()._generate_lambda_event(flask_request, route, method, endpoint))
            g.request_id = event.setdefault("requestContext", {})["requestId"] = str(uuid.uuid4())
            return event

        def create(self) -> None:
            super().create()
            app = self._app

            def unauthorized(_: Exception) -> Response:
                return Response('{"message": "Unauthorized"}', status=401, mimetype="application/json")

            def no_route(_: Exception) -> tuple[Response, int]:
                # What API Gateway answers for an unknown route, in the JSON shape the template gives it.
                message = "Missing Authentication Token"
                return jsonify({"error": message, "message": message}), 403

            # Flask answers HEAD and OPTIONS for every route by itself; API Gateway only for methods the
            # template declares (none declares these), and refuses the others as an unknown route.
            declared = {method.upper() for route in api.routes for method in route.methods}

            def started() -> tuple[Response, int] | None:
                g.started = time.perf_counter()
                # A management route's endpoint (its {id}): the one its function names in what it logs, and the
                # one a GET, or a request refused before any function runs, names nowhere.
                g.endpoint = (request.view_args or {}).get("id")
                if request.method not in declared:
                    return no_route(Exception(request.method))
                return None

            def finished(response: Response) -> Response:
                elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
                if response.status_code == 401 and not g.get("refused") and not g.get("request_id"):
                    g.note = MALFORMED_TOKEN_NOTE if request.headers.get("Authorization") else NO_TOKEN_NOTE
                console.request(
                    g.get("request_id"),
                    request.method,
                    request.path,
                    response.status_code,
                    elapsed_ms,
                    g.get("account"),
                    g.get("endpoint"),
                    g.get("note"),
                )
                return response

            def access_denied(_: Exception) -> Response:
                return Response(access_denied_body, status=403, mimetype="application/json")

            app.register_error_handler(AuthorizerRejected, unauthorized)
            app.register_error_handler(AccessDenied, access_denied)
            app.register_error_handler(404, no_route)
            app.register_error_handler(405, no_route)
            app.before_request(started)
            app.after_request(finished)

    _no_telemetry_events()
    logging.getLogger("samcli.local.apigw.local_apigw_service").addFilter(_NO_REFUSAL_FAILURES)
    service = Service(api=api, lambda_runner=runner, port=port, host=host)
    service.create()
    return service


class ThreadedServer:
    """A WSGI app served on a thread: waitress keeps HTTP/1.1 connections open (werkzeug's dev server closes
    each one, so every hop paid a new connection and a new thread) and runs requests on a thread pool."""

    # How long `stop` waits for the serving thread to leave its loop, and how often it looks meanwhile.
    STOP_SECONDS = 5.0
    TURN_SECONDS = 0.05

    def __init__(self, app: Any, host: str, port: int, threads: int) -> None:
        from waitress import create_server

        # SERVER_NAME is the address served (waitress's default is a placeholder name), as werkzeug's was.
        self.server: Any = create_server(
            app, host=host, port=port, threads=threads, ident="httpep-local", server_name=host
        )
        # A host with several addresses (localhost: IPv4 and IPv6) gets a server per address, on one map.
        self._map: dict[int, Any] = getattr(self.server, "map", None) or self.server._map
        listening = getattr(self.server, "effective_listen", None)
        self.port = int(listening[0][1] if listening else self.server.effective_port)
        self._stopped = False
        self._thread = threading.Thread(target=self.server.run, name=f"serve-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Free the port at once; worker threads are daemons, asked to stop without waiting for requests still
        running.

        waitress's loop runs while its map has entries. Emptying the map ends it at its next turn, and only then
        are the sockets closed, from here: closed under the poll in progress, they made its thread die of EBADF.
        The wake-up pipe only makes that turn come now rather than after the poll's timeout. It is no longer
        closed by a callback it runs: request threads pull it after every answer, so such a callback could run
        and close it before this method's own write (EBADF, seen once in CI, about 1 stop in 170 in a loop)."""
        from waitress.trigger import trigger

        if self._stopped:
            return
        self._stopped = True
        # A copy first (list() runs in C, holding the GIL): the serving thread adds and drops connections.
        wakes = [dispatcher for dispatcher in list(self._map.values()) if isinstance(dispatcher, trigger)]
        taken: list[Any] = []
        deadline = time.monotonic() + self.STOP_SECONDS
        while True:
            # Taken one by one: a connection accepted in the loop's last turn can still be added meanwhile (and
            # is taken here once more after the loop has ended).
            while self._map:
                taken.append(self._map.popitem()[1])
            if not self._thread.is_alive() or time.monotonic() >= deadline:
                break
            for wake in wakes:
                with contextlib.suppress(OSError):
                    wake.pull_trigger()
            wakes = []
            self._thread.join(self.TURN_SECONDS)
        self._close(taken)
        self.server.task_dispatcher.shutdown(timeout=0)

    @staticmethod
    def _close(dispatchers: list[Any]) -> None:
        """Connections first, then the listening sockets, then the wake-up pipes. A request thread still running
        pulls its pipe after its answer (while its connection looked open): from now on that pull does nothing,
        rather than write to a closed descriptor's number, which another file may have taken meanwhile."""
        from waitress.channel import HTTPChannel
        from waitress.trigger import trigger

        for dispatcher in sorted(
            dispatchers, key=lambda each: (not isinstance(each, HTTPChannel), isinstance(each, trigger))
        ):
            if isinstance(dispatcher, trigger):
                dispatcher.pull_trigger = _no_pull
            with contextlib.suppress(OSError):
                # A connection's own close also wakes a request thread still waiting to flush its answer.
                (dispatcher.handle_close if isinstance(dispatcher, HTTPChannel) else dispatcher.close)()


def _no_pull(thunk: Any = None) -> None:
    """A stopped server's wake-up pipe: nobody is there to wake."""


@dataclass
class LocalStack:
    host: str = defaults.HOST
    port: int = defaults.API_PORT
    aws_port: int = defaults.AWS_PORT
    lambda_port: int = defaults.LAMBDA_PORT
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    template_path: Path = field(default_factory=find_template)
    console: Console = field(default_factory=Console)
    authorizer_cache_seconds: float = 0.0

    def __post_init__(self) -> None:
        self.template = LocalTemplate(path=self.template_path, parameter_overrides=self.parameter_overrides)
        self._servers: list[ThreadedServer] = []
        self.runner: LocalLambdaRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_root(self) -> str:
        return self.base_url + defaults.API_BASE_PATH

    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @property
    def lambda_endpoint(self) -> str:
        return f"http://{self.host}:{self.lambda_port}"

    def start(self) -> None:
        for what, port in (("API", self.port), ("AWS (moto)", self.aws_port), ("Lambda", self.lambda_port)):
            ensure_port_free(self.host, port, what)
        logging.getLogger("waitress").setLevel(logging.ERROR)

        from moto.moto_server import werkzeug_app
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        # No CORS handling on moto's answers (flask-cors ran on each one): only the stack's own processes may
        # call moto (the guard below), never a browser. What MOTO_DISABLE_GLOBAL_CORS sets, read at its import.
        vars(werkzeug_app)["DISABLE_GLOBAL_CORS"] = True
        cache_moto_lookups()
        cache_serialized_results()
        # Handlers are callers like any other of the API, but moto and the Lambda Invoke API are the stack's own.
        moto_app = DomainDispatcherApplication(create_backend_app)
        self._serve(owner_only(moto_app, log=self.console.function_log), self.aws_port, MOTO_THREADS)
        create_resources(self.template, self.aws_client)

        self.runner = LocalLambdaRunner(
            self.template,
            self.aws_endpoint,
            self.lambda_endpoint,
            self.console.function_log,
            MotoServices(moto_app),  # the socket's way to moto, past Flask's request handling
            _invokes_to_requests(self.console),
        )
        cache = AuthorizerCache(self.authorizer_cache_seconds) if self.authorizer_cache_seconds > 0 else None
        api_service = _apigw_service(
            self.template.api,
            self.runner,
            self.host,
            self.port,
            self.console,
            cache,
            self.template.gateway_response_body("ACCESS_DENIED"),
        )

        from samcli.local.lambda_service.local_lambda_http_service import LocalLambdaHttpService

        lambda_service = LocalLambdaHttpService(lambda_runner=self.runner, port=self.lambda_port, host=self.host)
        lambda_service.create()
        self._serve(owner_only(lambda_service._app, log=self.console.function_log), self.lambda_port, SERVICE_THREADS)
        self._serve(api_service._app, self.port, SERVICE_THREADS)
        self.runner.prewarm()

    def _serve(self, app: Any, port: int, threads: int) -> None:
        self._servers.append(ThreadedServer(app, self.host, port, threads))

    def aws_client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.aws_endpoint,
            region_name=defaults.REGION,
            **defaults.boto3_credentials(),
        )

    def state(self, pid: int) -> LocalState:
        """What `--local` commands need to find this stack (written to the state file by `httpep serve`)."""
        return LocalState(
            pid=pid,
            api_root=self.api_root,
            aws_endpoint=self.aws_endpoint,
            lambda_endpoint=self.lambda_endpoint,
            region=defaults.REGION,
            template=str(self.template.path),
            outputs=self.template.outputs(),
        )

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
        self._servers.clear()
        if self.runner is not None:
            self.runner.stop()
