"""Inside a sandboxed child: build the Flask request, run the script and its handler, describe the result.

The zygote imports this module once (so Flask, Werkzeug and apig-wsgi are loaded before any fork); each
child then calls `run` with its request. This code runs beside the user's code, in the same process, so
the sandbox trusts nothing it reports and checks the result again.
"""

from __future__ import annotations

import json
import linecache
import marshal
import os
import sys
import types
from base64 import b64encode
from traceback import format_exception
from typing import Any

import flask
from apig_wsgi import DEFAULT_NON_BINARY_CONTENT_TYPE_PREFIXES, V1Response, get_environ_v1
from werkzeug.wrappers import Response

from httpendpoint.core.limits import ERROR_MESSAGE_LIMIT, RESPONSE_LIMIT_BYTES, TRACEBACK_LIMIT
from httpendpoint.sandbox.protocol import too_large, unpack_request

# Never the script's own file name: a script called json.py would otherwise replace the json module.
SCRIPT_MODULE = "__handler__"

_app = flask.Flask(__name__)


class _ApigResponse(V1Response):
    """apig-wsgi's V1 conversion, with every header value kept and any body that is not UTF-8 sent as base64."""

    def __init__(self) -> None:
        super().__init__(
            multi_value_headers=True,
            binary_support=True,
            non_binary_content_type_prefixes=DEFAULT_NON_BINARY_CONTENT_TYPE_PREFIXES,
        )

    def _should_send_binary(self) -> bool:
        if super()._should_send_binary():
            return True
        try:
            self.body.getvalue().decode("utf-8")
        except UnicodeDecodeError:
            return True
        return False


def run(request: bytes) -> bytes:
    """The outcome of one request as JSON (without logs: the sandbox collects those itself)."""
    code, job = unpack_request(request)
    # The endpoint's secrets: this process's environment alone (a fresh child per request, so they go with it).
    os.environ.update(job.get("secrets") or {})
    return _encode(_run(marshal.loads(code), job["script"], job["script_path"], job["event"]))


def _run(code: types.CodeType, script: str, script_path: str, event: dict[str, Any]) -> dict[str, Any]:
    # The event as the router passed it: it already dropped the caller's bearer token (for a `bearer`
    # endpoint); a `none` or `hmac` endpoint's handler sees the request exactly as sent.
    environ = get_environ_v1(event, None, encode_query_params=True)
    # Tracebacks show the script's lines from memory; the drive path is no file on this machine.
    linecache.cache[script_path] = (len(script), None, script.splitlines(True), script_path)
    module = types.ModuleType(SCRIPT_MODULE)
    module.__file__ = script_path
    sys.modules[SCRIPT_MODULE] = module  # dataclasses, pickle and typing look classes up by module name
    try:
        exec(code, module.__dict__)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from user code are its errors too
        return _error(exc)
    handler = module.__dict__.get("handler")
    if not callable(handler):
        return {"outcome": "error", "error": "AttributeError: script defines no function 'handler'", "traceback": ""}
    with _app.request_context(environ) as context:
        try:
            return _describe(handler(context.request), environ)
        except BaseException as exc:
            return _error(exc)


def _describe(result: object, environ: dict[str, Any]) -> dict[str, Any]:
    if isinstance(result, str):
        result = _app.response_class(result, mimetype="text/plain")  # Content-Type: text/plain; charset=utf-8
    if not isinstance(result, Response):
        returned = "None" if result is None else type(result).__name__
        return {"outcome": "unsupported", "returned": returned[:200]}
    converted = _ApigResponse()
    # Calling the response as a WSGI app runs a streamed body here, inside the request context.
    converted.consume(result(environ, converted.start_response))
    size = converted.body.getbuffer().nbytes
    if size > RESPONSE_LIMIT_BYTES:
        return too_large(size)
    return {"outcome": "response", "response": converted.as_apig_response()}


def _error(exc: BaseException) -> dict[str, Any]:
    # The first frame is this module's call into the user's code; the user's traceback starts below it.
    below = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    text = "".join(format_exception(type(exc), exc, below))
    try:
        message = str(exc)
    except Exception:
        message = "<the exception's message could not be read>"
    name = type(exc).__name__
    error = f"{name}: {message}" if message else name
    return {"outcome": "error", "error": error[:ERROR_MESSAGE_LIMIT], "traceback": text[-TRACEBACK_LIMIT:]}


def _encode(outcome: dict[str, Any]) -> bytes:
    encoded = json.dumps(outcome).encode()
    if len(encoded) > RESPONSE_LIMIT_BYTES:
        encoded = json.dumps(too_large(len(encoded))).encode()
    return encoded


def warm_up() -> None:
    """Run the request and response machinery once, in the zygote, so children find it all imported."""
    event = {
        "httpMethod": "POST",
        "path": "/warm-up",
        "multiValueHeaders": {"Content-Type": ["application/x-www-form-urlencoded"]},
        "multiValueQueryStringParameters": {"a": ["1"]},
        "body": b64encode(b"b=2").decode(),
        "isBase64Encoded": True,
    }
    environ = get_environ_v1(event, None, encode_query_params=True)
    with _app.request_context(environ) as context:
        context.request.form.to_dict()
        context.request.get_json(silent=True)
        _describe(flask.jsonify(ok=True), environ)
        _describe("ok", environ)
