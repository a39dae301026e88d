"""The local stack: moto as the embedded AWS, SAM CLI's local API Gateway and Lambda services, our runner.

`LocalStack(...).start()` brings everything up on loopback; `stop()` takes it down. `httpep serve` (what
`make dev` runs) and the end-to-end tests both use it.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from httpep.local import defaults
from httpep.local.console import Console
from httpep.local.resources import create_resources
from httpep.local.runner import LocalLambdaRunner
from httpep.local.state import LocalState
from httpep.local.template import LocalTemplate, find_template

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


def _apigw_service(api: Any, runner: LocalLambdaRunner, host: str, port: int, console: Console) -> Any:
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
                if request.method not in declared:
                    return no_route(Exception(request.method))
                return None

            def finished(response: Response) -> Response:
                elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
                console.request(g.get("request_id"), request.method, request.path, response.status_code, elapsed_ms)
                return response

            app.register_error_handler(AuthorizerRejected, unauthorized)
            app.register_error_handler(404, no_route)
            app.register_error_handler(405, no_route)
            app.before_request(started)
            app.after_request(finished)

    service = Service(api=api, lambda_runner=runner, port=port, host=host)
    service.create()
    return service


@dataclass
class LocalStack:
    host: str = defaults.HOST
    port: int = defaults.API_PORT
    aws_port: int = defaults.AWS_PORT
    lambda_port: int = defaults.LAMBDA_PORT
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    template_path: Path = field(default_factory=find_template)
    console: Console = field(default_factory=Console)

    def __post_init__(self) -> None:
        self.template = LocalTemplate(path=self.template_path, parameter_overrides=self.parameter_overrides)
        self._servers: list[Any] = []
        self._moto: Any = None
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
        logging.getLogger("werkzeug").setLevel(logging.ERROR)

        from moto.server import ThreadedMotoServer

        self._moto = ThreadedMotoServer(ip_address=self.host, port=self.aws_port, verbose=False)
        self._moto.start()
        create_resources(self.template, self.aws_client)

        self.runner = LocalLambdaRunner(
            self.template, self.aws_endpoint, self.lambda_endpoint, self.console.function_log
        )
        api_service = _apigw_service(self.template.api, self.runner, self.host, self.port, self.console)

        from samcli.local.lambda_service.local_lambda_http_service import LocalLambdaHttpService

        lambda_service = LocalLambdaHttpService(lambda_runner=self.runner, port=self.lambda_port, host=self.host)
        lambda_service.create()

        from werkzeug.serving import WSGIRequestHandler, make_server

        WSGIRequestHandler.protocol_version = "HTTP/1.1"
        for app, port in ((lambda_service._app, self.lambda_port), (api_service._app, self.port)):
            server = make_server(self.host, port, app, threaded=True)
            self._servers.append(server)
            threading.Thread(target=server.serve_forever, daemon=True).start()
        self.runner.prewarm()

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
            server.shutdown()
        self._servers.clear()
        if self.runner is not None:
            self.runner.stop()
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
