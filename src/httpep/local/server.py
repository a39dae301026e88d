"""The local stack: moto as the embedded AWS, SAM CLI's local API Gateway and Lambda services, our runner.

`LocalStack(...).start()` brings everything up on loopback; `stop()` takes it down. `httpep serve` (what
`make dev` runs) and the end-to-end tests both use it.
"""

from __future__ import annotations

import logging
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from httpep.local.guard import owner_only
from httpep.local.resources import create_resources
from httpep.local.runner import LocalLambdaRunner
from httpep.local.template import LOCAL_REGION, LocalTemplate

API_BASE_PATH = "/api/v1/http-endpoint"
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class PortInUse(Exception):
    pass


def ensure_port_free(host: str, port: int, what: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortInUse(f"{what} port {port} on {host} is already in use ({exc.strerror})") from None


def console_log(source: str, line: str) -> None:
    print(f"{source:>24} | {line}", file=sys.stderr, flush=True)


def _apigw_service(api: Any, runner: LocalLambdaRunner, host: str, port: int, log: Callable[[str, str], None]) -> Any:
    from flask import Response, g, jsonify, request
    from samcli.local.apigw.local_apigw_service import LocalApigwService

    from httpep.local.runner import AuthorizerRejected

    class Service(LocalApigwService):  # type: ignore[misc]
        def _create_method_arn(self, flask_request: Any, event_type: str) -> str:
            # API Gateway's policy wildcards match any character; SAM CLI's regex stops at a newline, so a
            # path with %0A would be denied (403) instead of reaching the function as it does on AWS.
            arn = str(super()._create_method_arn(flask_request, event_type))
            return CONTROL_CHARACTERS.sub(lambda m: f"%{ord(m.group()):02X}", arn)

        def _generate_lambda_event(self, flask_request: Any, route: Any, method: str, endpoint: str) -> dict[str, Any]:
            # SAM CLI draws the default request id once per process; API Gateway gives each request its own.
            event = dict(super()._generate_lambda_event(flask_request, route, method, endpoint))
            event.setdefault("requestContext", {})["requestId"] = str(uuid.uuid4())
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

            def started() -> None:
                g.started = time.perf_counter()

            def finished(response: Response) -> Response:
                elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
                log("api", f"{request.method} {request.path} {response.status_code} {elapsed_ms:.0f} ms")
                return response

            app.register_error_handler(AuthorizerRejected, unauthorized)
            app.register_error_handler(404, no_route)
            app.register_error_handler(405, no_route)
            app.before_request(started)
            app.after_request(finished)

    service = Service(api=api, lambda_runner=runner, port=port, host=host)
    service.create()
    return service


def _guarded_moto_server(host: str, port: int, log: Callable[[str, str], None]) -> Any:
    """moto's threaded server, answering only the stack's own processes (guard.py)."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    class GuardedMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = owner_only(DomainDispatcherApplication(create_backend_app), log=log)
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    return GuardedMotoServer(ip_address=host, port=port, verbose=False)


@dataclass
class LocalStack:
    host: str = "127.0.0.1"
    port: int = 3000
    aws_port: int = 4566
    lambda_port: int = 3001
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    log: Callable[[str, str], None] = console_log

    def __post_init__(self) -> None:
        self.template = LocalTemplate(parameter_overrides=self.parameter_overrides)
        self._servers: list[Any] = []
        self._moto: Any = None
        self.runner: LocalLambdaRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_root(self) -> str:
        return self.base_url + API_BASE_PATH

    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @property
    def lambda_endpoint(self) -> str:
        return f"http://{self.host}:{self.lambda_port}"

    def start(self) -> None:
        for what, port in (("API", self.port), ("AWS (moto)", self.aws_port), ("Lambda", self.lambda_port)):
            ensure_port_free(self.host, port, what)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)

        self._moto = _guarded_moto_server(self.host, self.aws_port, self.log)
        self._moto.start()
        create_resources(self.template, self.aws_client)

        self.runner = LocalLambdaRunner(self.template, self.aws_endpoint, self.lambda_endpoint, self.log)
        api_service = _apigw_service(self.template.api, self.runner, self.host, self.port, self.log)

        from samcli.local.lambda_service.local_lambda_http_service import LocalLambdaHttpService

        lambda_service = LocalLambdaHttpService(lambda_runner=self.runner, port=self.lambda_port, host=self.host)
        lambda_service.create()

        from werkzeug.serving import WSGIRequestHandler, make_server

        WSGIRequestHandler.protocol_version = "HTTP/1.1"
        # Handlers may call the API like anyone; the Lambda Invoke API is the stack's own (guard.py).
        lambda_app = owner_only(lambda_service._app, log=self.log)
        for app, port in ((lambda_app, self.lambda_port), (api_service._app, self.port)):
            server = make_server(self.host, port, app, threaded=True)
            self._servers.append(server)
            threading.Thread(target=server.serve_forever, daemon=True).start()
        self.runner.prewarm()

    def aws_client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.aws_endpoint,
            region_name=LOCAL_REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
        self._servers.clear()
        if self.runner is not None:
            self.runner.stop()
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
