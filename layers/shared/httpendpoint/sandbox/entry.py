"""The sandbox function's entry: run the request within the function's own time and, when the environment
must end, answer first and then exit, so that Lambda starts the next request in a fresh environment."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from typing import Any, Protocol

from httpendpoint.core.observability import logger
from httpendpoint.sandbox import function

RUNTIME_API_VARIABLE = "AWS_LAMBDA_RUNTIME_API"


class Context(Protocol):
    @property
    def aws_request_id(self) -> str: ...

    def get_remaining_time_in_millis(self) -> int: ...


def handle(event: dict[str, Any], context: Context) -> dict[str, Any]:
    try:
        return function.run(event, context.get_remaining_time_in_millis)
    except function.EnvironmentEnded as ended:
        api = os.environ.get(RUNTIME_API_VARIABLE)
        if not api or function.mode(function.child_identity()) != "lambda":
            raise  # elsewhere the error ends the request; the process itself stays trustworthy
        answer_then_exit(api, context.aws_request_id, ended.outcome)
        raise  # only where exiting was prevented (tests)


def answer_then_exit(api: str, request_id: str, outcome: dict[str, Any]) -> None:
    """Hand the answer to the Lambda Runtime API ourselves, then end the process: Lambda discards the
    environment (the runtime exited) and the request still gets its answer."""
    url = f"http://{api}/2018-06-01/runtime/invocation/{request_id}/response"
    request = urllib.request.Request(url, data=json.dumps(outcome).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()
    except OSError as exc:
        logger.error("the sandbox's answer could not be posted before exiting", extra={"error": str(exc)})
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
