"""One warm "container" of a Lambda function: a process that imports the handler once and serves invokes.

Started by the local runner with only the environment the template gives the function. Each invoke arrives on
stdin as a frame (frames.py): its request id and deadline, then the event's JSON text; its result leaves on a
private copy of stdout as a frame: the result's JSON text, or `{"error": {...}}` and nothing after it.
The function's own stdout is joined to stderr, which the runner shows on the console, as Lambda sends both to
the function's log.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import sys
import time
import traceback
import uuid
from typing import Any

from httpep.local.defaults import ERROR_REPORT_PREFIX, INVOKE_MARKER, STACK_CHANNEL_VARIABLE
from httpep.local.frames import read_frame, write_frame


class LambdaContext:
    """The attributes of Lambda's Python context object that handlers and Powertools read."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        self.aws_request_id = request_id
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def _through_the_stack(path: str) -> None:
    """The function's sandbox invokes and its requests to the embedded AWS go through the stack's socket
    (channel.py), where its code makes them through the project's seams (sandbox_client, core.aws), signed by
    scope only. The handlers go on the shared session, so they reach every client made from it from now on;
    core.aws makes none at import, and one made earlier would still work, over HTTP and signed."""
    invokes = "httpendpoint.trigger.sandbox_client" in sys.modules  # asked before channel.py imports it
    from httpep.local.channel import ChannelClient, ChannelSandbox, send_aws_through

    client = ChannelClient(path)
    if invokes:
        from httpendpoint.core import settings
        from httpendpoint.trigger import sandbox_client

        sandbox_client.use(ChannelSandbox(settings.sandbox_function(), client))
    endpoint = os.environ.get("AWS_ENDPOINT_URL")  # the embedded AWS, as the runner gives every function
    if endpoint and "httpendpoint.core.aws" in sys.modules:
        from httpendpoint.core import aws

        send_aws_through(aws.session(), client, endpoint)


def main() -> None:
    handler_spec = sys.argv[1]
    protocol_out = os.fdopen(os.dup(1), "wb")
    protocol_in = os.fdopen(os.dup(0), "rb")
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), line_buffering=True)

    channel = os.environ.pop(STACK_CHANNEL_VARIABLE, None)  # not the function's: Lambda has no such variable
    init_error: dict[str, Any] | None = None
    handler: Any = None
    try:
        module_name, function_name = handler_spec.rsplit(".", 1)
        handler = getattr(importlib.import_module(module_name), function_name)
        if channel is not None:
            _through_the_stack(channel)
    except Exception as exc:  # reported on every invoke, as Lambda reports an init failure
        traceback.print_exc()
        init_error = _error(exc)
        init_error["errorType"] = f"Runtime.ImportModuleError: {init_error['errorType']}"

    while (message := read_frame(protocol_in)) is not None:
        request, event = message
        if init_error is not None:
            write_frame(protocol_out, {"error": init_error})
            continue
        context = LambdaContext(request.get("request_id") or str(uuid.uuid4()), request["deadline_ms"])
        sys.stdout.flush()  # anything of the invoke before stays before the marker
        os.write(2, f"{INVOKE_MARKER}{context.aws_request_id}\n".encode())
        try:
            result = handler(json.loads(event), context)
            payload = json.dumps(result).encode()
        except Exception as exc:
            print(f"{ERROR_REPORT_PREFIX}{type(exc).__name__}: {exc}", file=sys.stderr)
            traceback.print_exc()
            write_frame(protocol_out, {"error": _error(exc)})
            continue
        write_frame(protocol_out, {}, payload)


if __name__ == "__main__":
    main()
