"""The sandbox function: runs one user handler per request in a fresh child process and says what happened.

Input (the Lambda event, built by the router):
    {"script": str, "script_path": str, "script_etag": str (optional), "event": <API Gateway v1 proxy event>,
     "timeout": seconds (optional; ENDPOINT_TIMEOUT by default)}
Output, with exactly one outcome and always the handler's stdout+stderr tail in "logs":
    {"outcome": "response", "response": {"statusCode", "multiValueHeaders", "body", "isBase64Encoded"}}
    {"outcome": "unsupported", "returned": "dict"}
    {"outcome": "error", "error": "ZeroDivisionError: division by zero", "traceback": "..."}
    {"outcome": "timeout", "timeout": 10.0}
    {"outcome": "crashed", "error": "the handler process exited with status 3"}

Each request runs in a child forked from a warm zygote (zygote.py) that holds no credentials; the child gets
resource limits, a private working directory and, under root, the `nobody` user. The deadline is enforced
from here, and everything the request left behind (processes, files) is removed before the answer.
"""

from __future__ import annotations

import json
import math
import os
import signal
from dataclasses import dataclass
from typing import Any

from httpendpoint.core import settings
from httpendpoint.core.limits import RESPONSE_LIMIT_BYTES
from httpendpoint.sandbox import code_cache, linux, scratch
from httpendpoint.sandbox.limits import MAX_TIMEOUT_SECONDS, SANDBOX_GID, SANDBOX_UID
from httpendpoint.sandbox.protocol import pack_request, too_large
from httpendpoint.sandbox.zygote_client import ChildReport, pool

LOGS_DROPPED = "[output dropped: the response needs the room]"
_SIGNAL_HINTS = {
    signal.SIGKILL: "memory limit?",
    signal.SIGXCPU: "CPU time limit",
    signal.SIGSEGV: "segmentation fault",
}


class SandboxInputError(ValueError):
    """The caller (the router) sent something that is not a sandbox request: a bug, not the user's fault."""


@dataclass(frozen=True)
class Job:
    script: str
    script_path: str
    event: dict[str, Any]
    timeout: float


def run(payload: dict[str, Any]) -> dict[str, Any]:
    """Run the handler of `payload["script"]` for `payload["event"]`; see the module doc for both shapes."""
    job = _job(payload)
    # Other processes of this user (a child, on Lambda) may not read our environ (credentials) or ptrace us.
    linux.set_dumpable(False)
    compiled = code_cache.compiled(job.script, job.script_path)
    if compiled.error is not None:
        return {"outcome": "error", "error": compiled.error, "traceback": compiled.traceback, "logs": ""}
    request = pack_request(compiled.code, job.script, job.script_path, job.event)
    owner = child_identity()
    for _ in range(2):  # once more only if the zygote died before it could fork anything
        report = _execute(request, owner, job.timeout)
        if not (report.zygote_lost and report.child is None):
            break
    return _fit({**_outcome(report, job.timeout), "logs": report.logs.text()})


def child_identity() -> tuple[int, int] | None:
    """The user and group a child runs as: `nobody` when we are root, else our own (setuid is impossible)."""
    return (SANDBOX_UID, SANDBOX_GID) if os.geteuid() == 0 else None


def shutdown() -> None:
    """Stop the idle zygotes (the next request starts a fresh one)."""
    pool.close()


def _execute(request: bytes, owner: tuple[int, int] | None, timeout: float) -> ChildReport:
    with scratch.request_workdir(owner) as workdir:
        header = {
            "workdir": workdir,
            "uid": owner[0] if owner else None,
            "gid": owner[1] if owner else None,
            # A CPU-time backstop, should the deadline below ever fail to fire (two threads burn 2 s a second).
            "cpu_seconds": 2 * math.ceil(timeout) + 1,
        }
        zygote = pool.acquire()
        try:
            report = zygote.execute(request, header, timeout)
        finally:
            pool.release(zygote)
    scratch.sweep_scratch(owner)
    return report


def _job(payload: Any) -> Job:
    if not isinstance(payload, dict):
        raise SandboxInputError("the sandbox payload must be a JSON object")
    script, script_path, event = payload.get("script"), payload.get("script_path"), payload.get("event")
    if not isinstance(script, str):
        raise SandboxInputError("'script' must be the script's source text")
    if not isinstance(script_path, str) or not script_path:
        raise SandboxInputError("'script_path' must be the script's drive path")
    if not isinstance(payload.get("script_etag", ""), str | None):
        raise SandboxInputError("'script_etag' must be a string")
    if not isinstance(event, dict) or not isinstance(event.get("httpMethod"), str) or "path" not in event:
        raise SandboxInputError("'event' must be an API Gateway (REST, v1) proxy event")
    timeout = payload.get("timeout", settings.endpoint_timeout())
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not math.isfinite(timeout):
        raise SandboxInputError("'timeout' must be a number of seconds")
    if not 0 < timeout <= MAX_TIMEOUT_SECONDS:
        raise SandboxInputError(f"'timeout' must be more than 0 and at most {MAX_TIMEOUT_SECONDS:g} seconds")
    return Job(script, script_path, event, float(timeout))


def _outcome(report: ChildReport, timeout: float) -> dict[str, Any]:
    if report.timed_out:
        return {"outcome": "timeout", "timeout": timeout}
    if report.result_size > RESPONSE_LIMIT_BYTES:
        return too_large(report.result_size)
    checked = _checked_result(bytes(report.result))
    if checked is not None:
        return checked
    if report.zygote_lost:
        return {"outcome": "crashed", "error": "the sandbox's zygote process died during the request"}
    if report.result:  # the handler wrote to the result pipe itself
        return {"outcome": "crashed", "error": "the handler process reported an invalid result"}
    if report.status is None:
        return {"outcome": "crashed", "error": "the handler process ended without a result"}
    return {"outcome": "crashed", "error": _describe_status(report.status)}


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            hint = _SIGNAL_HINTS.get(signal.Signals(number)) or signal.Signals(number).name
        except ValueError:
            hint = "unknown signal"
        return f"the handler process was killed by signal {number} ({hint})"
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return "the handler process exited with status 0 without a result"
    return f"the handler process exited with status {code}"


def _checked_result(raw: bytes) -> dict[str, Any] | None:
    """The child's outcome, if it is one the child may report; the child runs user code, so trust nothing."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    kind = data.get("outcome")
    if kind == "response":
        response = _checked_response(data.get("response"))
        return None if response is None else {"outcome": "response", "response": response}
    if kind == "unsupported" and isinstance(data.get("returned"), str):
        return {"outcome": "unsupported", "returned": data["returned"]}
    if kind == "error" and isinstance(data.get("error"), str) and isinstance(data.get("traceback"), str):
        return {"outcome": "error", "error": data["error"], "traceback": data["traceback"]}
    return None


def _checked_response(response: Any) -> dict[str, Any] | None:
    if not isinstance(response, dict):
        return None
    status, headers, body = response.get("statusCode"), response.get("multiValueHeaders"), response.get("body")
    binary = response.get("isBase64Encoded")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        return None
    if not isinstance(headers, dict) or not all(
        isinstance(name, str) and isinstance(values, list) and all(isinstance(value, str) for value in values)
        for name, values in headers.items()
    ):
        return None
    if not isinstance(body, str) or not isinstance(binary, bool):
        return None
    return {"statusCode": status, "multiValueHeaders": headers, "body": body, "isBase64Encoded": binary}


def _fit(output: dict[str, Any]) -> dict[str, Any]:
    """Keep the answer within Lambda's response limit: the logs give way first, then the response."""
    if len(json.dumps(output)) <= RESPONSE_LIMIT_BYTES:
        return output
    output = {**output, "logs": LOGS_DROPPED}
    size = len(json.dumps(output))
    if size <= RESPONSE_LIMIT_BYTES:
        return output
    return {**too_large(size), "logs": LOGS_DROPPED}
