"""The sandbox function: runs one user handler per request in a fresh child process and says what happened.

Input (the Lambda event, built by the router):
    {"script": str, "script_path": str, "script_etag": str (optional), "event": <API Gateway v1 proxy event>,
     "timeout": seconds (optional; ENDPOINT_TIMEOUT by default), "secrets": {NAME: value} (optional; the
     handler's environment variables, set in its own child only and never logged)}
Output, with exactly one outcome and always the handler's stdout+stderr tail in "logs":
    {"outcome": "response", "response": {"statusCode", "multiValueHeaders", "body", "isBase64Encoded"}}
    {"outcome": "unsupported", "returned": "dict"}
    {"outcome": "error", "error": "ZeroDivisionError: division by zero", "traceback": "..."}
    {"outcome": "timeout", "timeout": 10.0}
    {"outcome": "crashed", "error": "the handler process exited with status 3"}

Each request runs in a child forked from a warm zygote (zygote_server.py) that holds no credentials; the child
gets resource limits, a private working directory and, under root, a user of its own (HTTPEP_CHILD_UID, else
`nobody`). The deadline is enforced from here, and everything the request left behind (processes of the
child's user, files in every directory it could write to, System V IPC objects) is removed before the answer.

Should anything have outlived the request, the zygote have died, or a cleanup have failed, every process of
the child's user is killed and the environment ends (EnvironmentEnded): on Lambda, where the child runs as
our own user, this process never serves another request (the function answers, then exits).
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from httpendpoint.core import settings
from httpendpoint.core.limits import RESPONSE_LIMIT_BYTES
from httpendpoint.core.observability import logger
from httpendpoint.sandbox import cgroups, code_cache, ipc, linux, processes, scratch
from httpendpoint.sandbox.limits import (
    CHILD_UID_VARIABLE,
    CLEANUP_RESERVE_SECONDS,
    MAX_TIMEOUT_SECONDS,
    MIN_TIMEOUT_SECONDS,
    REQUEST_MEMORY_LIMIT_BYTES,
    SANDBOX_GID,
    SANDBOX_UID,
    SCRATCH_LIMIT_BYTES,
)
from httpendpoint.sandbox.protocol import pack_request, too_large
from httpendpoint.sandbox.zygote_client import (
    CLEANUP_SECONDS,
    ChildReport,
    Placement,
    Zygote,
    ZygoteUnavailable,
    pool,
)

# isolated: we are root, the child has a user of its own. lambda: the child runs as our own (unprivileged)
# user, in an environment of its own (Lambda). unconfined: a developer's machine without root, nothing to
# tell the child's processes and files from the developer's own: only the request's own tree is cleaned.
Mode = Literal["isolated", "lambda", "unconfined"]

LOGS_DROPPED = "[output dropped: the response needs the room]"
_SIGNAL_HINTS = {
    signal.SIGKILL: "memory limit?",
    signal.SIGXCPU: "CPU time limit",
    signal.SIGSEGV: "segmentation fault",
}


class SandboxInputError(ValueError):
    """The caller (the router) sent something that is not a sandbox request: a bug, not the user's fault."""


class EnvironmentEnded(RuntimeError):
    """This environment can no longer be trusted with a request: every process of the child's user is
    killed, and (on Lambda) the process must exit after answering `outcome`, the request's own answer."""

    def __init__(self, reason: str, outcome: dict[str, Any]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.outcome = outcome


_ended: str | None = None  # why this process may serve no more requests (Lambda mode only)
_user_locks: dict[int, threading.Lock] = {}
_user_locks_guard = threading.Lock()


@dataclass(frozen=True)
class Job:
    script: str
    script_path: str
    event: dict[str, Any]
    timeout: float
    secrets: dict[str, str] = field(default_factory=dict, repr=False)


def run(payload: dict[str, Any], remaining_ms: Callable[[], int] | None = None) -> dict[str, Any]:
    """Run the handler of `payload["script"]` for `payload["event"]`; see the module doc for both shapes.

    `remaining_ms` (the Lambda context's get_remaining_time_in_millis) bounds the handler's deadline so that
    the cleanup still fits in the function's own time. Raises EnvironmentEnded (see the module doc).
    """
    if _ended is not None:
        raise EnvironmentEnded(_ended, {"outcome": "crashed", "error": "the sandbox's environment has ended"})
    job = _job(payload)
    # Other processes of this user (a child, on Lambda) may not read our environ (credentials) or ptrace us.
    linux.set_dumpable(False)
    compiled = code_cache.compiled(job.script, job.script_path)
    if compiled.error is not None:
        return {"outcome": "error", "error": compiled.error, "traceback": compiled.traceback, "logs": ""}
    request = pack_request(compiled.code, job.script, job.script_path, job.event, job.secrets)
    timeout = clamped_timeout(job.timeout, remaining_ms)
    owner = child_identity()
    current = mode(owner)
    with _user_lock(owner[0] if owner else os.geteuid()):  # one request at a time per child user
        for _ in range(2):  # once more only if the handler cannot have run (see `_run_again`)
            report, problem = _execute(request, owner, timeout, current)
            if problem is not None or not _run_again(report, current):
                break
        answer = _fit({**_outcome(report, timeout), "logs": report.logs.text()})
        if problem is not None and current != "unconfined":
            _end(problem, answer, owner, current)
    return answer


def _run_again(report: ChildReport, current: Mode) -> bool:
    """Whether the request may go to a fresh child: the handler never ran, as the zygote died before it forked
    one (unconfined only: elsewhere that ends the environment), or the child ended before it read its request
    (its set-up failed, as the zygote's stderr says)."""
    if report.zygote_lost:
        return current == "unconfined" and report.child is None
    if report.child is None or report.status is None or report.timed_out or report.request_read:
        return False
    logger.warning(
        "a handler process ended before it read its request: running the request in a fresh one",
        extra={"status": _describe_status(report.status)},
    )
    return True


def child_identity() -> tuple[int, int] | None:
    """The user and group a child runs as when we are root: HTTPEP_CHILD_UID (one per account on the local
    stack), else `nobody`. Otherwise our own: setuid is impossible."""
    if os.geteuid() != 0:
        return None
    configured = os.environ.get(CHILD_UID_VARIABLE)
    if not configured:
        return (SANDBOX_UID, SANDBOX_GID)
    uid = int(configured)
    if not 0 < uid < 2**32 - 1:
        raise ValueError(f"{CHILD_UID_VARIABLE} must be a user id other than root's")
    return (uid, uid)


def mode(owner: tuple[int, int] | None) -> Mode:
    if owner is not None and owner[0] != os.geteuid():
        return "isolated"
    if os.geteuid() != 0 and scratch.on_lambda():
        return "lambda"
    return "unconfined"


def clamped_timeout(timeout: float, remaining_ms: Callable[[], int] | None) -> float:
    """The handler's deadline: what was asked for, but never past the function's own time minus the cleanup."""
    if remaining_ms is None:
        return timeout
    available = remaining_ms() / 1000 - CLEANUP_RESERVE_SECONDS
    return max(MIN_TIMEOUT_SECONDS, min(timeout, available))


def shutdown() -> None:
    """Stop the idle zygotes (the next request starts a fresh one)."""
    pool.close()


def _user_lock(uid: int) -> threading.Lock:
    with _user_locks_guard:
        return _user_locks.setdefault(uid, threading.Lock())


def _execute(
    request: bytes, owner: tuple[int, int] | None, timeout: float, current: Mode
) -> tuple[ChildReport, str | None]:
    """One child for `request` (the spare, when the zygote has one for this user), then the cleanup, then
    the next request's spare; the report and, if the environment must end, why."""
    watch = scratch.ScratchWatch(own_user=current == "lambda") if current != "unconfined" else None
    try:
        zygote = pool.acquire()
    except ZygoteUnavailable as exc:
        if current != "lambda":
            raise
        return ChildReport(zygote_lost=True), str(exc)
    if current == "lambda":
        pool.seal()
    placement = zygote.take_spare()
    spare = placement is not None and placement.owner == (owner, current)
    if placement is not None and not spare:
        zygote.drop_spare()
        scratch.remove(Path(placement.header["workdir"]))
        placement = None
    if placement is None:
        placement = _placement(owner, current, slot=0)
    # A CPU-time backstop, should the deadline below ever fail to fire (two threads burn 2 s a second).
    header = {**placement.header, "cpu_seconds": 2 * math.ceil(timeout) + 1}
    held: Zygote | None = zygote
    problems: list[str] = []
    private = False  # the child made its work dir on a file system of its own, where the zygote removes it
    try:
        try:
            # On Lambda nothing caps /tmp for the request (under root it has a capped file system of its own).
            scratch_use = scratch.ScratchUse(SCRATCH_LIMIT_BYTES) if current == "lambda" else None
            report = zygote.execute(request, header, timeout, placement.group, spare, scratch_use)
            private = report.private
            if report.spoiled is not None:
                problems.append(report.spoiled)
            if zygote.broken or zygote.process.poll() is not None:
                held = None
                pool.release(zygote)  # replaced by a fresh one for the next request
            problem = _kill_leftovers(owner, current, placement.group, held)
            if problem is not None:
                problems.append(problem)
            if held is not None and not problems and report.private:
                # No process of the request is left, and it wrote no file anywhere the next child could see
                # (scratch space of its own): the next request's child can be made ready now, while the rest
                # of this cleanup goes on.
                held.prepare_spare(_placement(owner, current, slot=1 - placement.slot), placement.group)
        finally:
            if not private:
                scratch.remove(Path(placement.header["workdir"]))
        try:
            scratch.sweep_scratch(owner, watch, zygote.places if report.private else ())
        except OSError as exc:
            problems.append(f"the request's files could not all be removed ({exc})")
        if current != "unconfined":
            failures = ipc.remove_owned_by(owner[0] if owner else os.geteuid())
            if failures:
                problems.append(f"System V IPC objects could not be removed: {', '.join(failures)}")
        if held is not None and not problems and not report.private:
            # Nothing of the request is left: the next one's child can be made ready now.
            held.prepare_spare(_placement(owner, current, slot=1 - placement.slot))
    finally:
        if held is not None:
            pool.release(held)
    return report, problems[0] if problems else None


def _placement(owner: tuple[int, int] | None, current: Mode, slot: int) -> Placement:
    group = None
    if owner is not None and current == "isolated":
        group = cgroups.for_user(owner[0], REQUEST_MEMORY_LIMIT_BYTES, slot)
    # Under root the child makes its work dir itself, on its private scratch file system (zygote_server).
    header = {
        "workdir": scratch.new_workdir(owner, create=current != "isolated"),
        "uid": owner[0] if owner else None,
        "gid": owner[1] if owner else None,
        "cgroups": group.join_files() if group is not None else [],
    }
    return Placement(header, group, (owner, current), slot)


def _kill_leftovers(
    owner: tuple[int, int] | None, current: Mode, group: cgroups.RequestGroup | None, zygote: Zygote | None
) -> str | None:
    """After the request's own cleanup, nothing of the child's user may be left: if something is, kill it
    and say so (the environment then ends)."""
    if current == "unconfined":
        return None
    if group is not None:
        return None  # nothing leaves the request's control group, and the zygote client emptied it
    # Our own user on Lambda: every process of it but this one and the zygotes (and their spares, which never
    # ran a request) is the request's.
    uid = owner[0] if owner else os.geteuid()
    spared = {os.getpid()}
    if current == "lambda":
        spared |= {*pool.idle_pids(), *pool.spare_pids(), *([zygote.pid] if zygote is not None else [])}
    found, clean = processes.kill_user(uid, spared, CLEANUP_SECONDS)
    if not found:
        return None
    return "a process of the request outlived it" if clean else "processes survived the kill"


def _end(reason: str, answer: dict[str, Any], owner: tuple[int, int] | None, current: Mode) -> None:
    """Kill everything of the child's user, drop the zygotes, and (on Lambda) never serve again."""
    global _ended
    logger.error("sandbox environment ended", extra={"reason": reason})
    pool.close()
    uid = owner[0] if owner else os.geteuid()
    processes.kill_user(uid, {os.getpid()}, CLEANUP_SECONDS)
    if current == "lambda":
        _ended = reason
    raise EnvironmentEnded(reason, answer)


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
    secrets = payload.get("secrets") or {}
    if not isinstance(secrets, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in secrets.items()):
        raise SandboxInputError("'secrets' must map names to string values")
    return Job(script, script_path, event, float(timeout), secrets)


def _outcome(report: ChildReport, timeout: float) -> dict[str, Any]:
    if report.timed_out:
        return {"outcome": "timeout", "timeout": timeout}
    if report.scratch_exceeded:
        limit = SCRATCH_LIMIT_BYTES // (1 << 20)
        return {"outcome": "crashed", "error": f"the request wrote more than {limit} MiB to /tmp and was stopped"}
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
