"""Calling the sandbox in-process, as the router's tests and benchmarks do, and checking what it left."""

from __future__ import annotations

import base64
import ctypes
import textwrap
from typing import Any

from httpendpoint.sandbox import function, processes
from httpendpoint.sandbox.zygote_client import pool
from tests.support.events import api_event

PR_GET_DUMPABLE = 3
SCRIPT_PATH = "/jaydoe/my_repo/fs/Instabase Drive/handlers/hello.py"
# Comfortably above what a well-behaved handler needs on a loaded CI machine; hostile tests pass less.
TIMEOUT = 10.0


class InProcessSandbox:
    """A `sandbox_client.Executor` running the sandbox's own entry point in this process (it still forks per
    request): what the router's tests and the benchmarks inject with `sandbox_client.use`."""

    def run(self, payload: dict[str, Any], encoded: bytes, tenant: str) -> dict[str, Any]:
        return function.run(payload)


def run_script(script: str, *, event: dict[str, Any] | None = None, timeout: float = TIMEOUT) -> dict[str, Any]:
    payload = {
        "script": textwrap.dedent(script),
        "script_path": SCRIPT_PATH,
        "script_etag": '"abc"',
        "event": event if event is not None else api_event("router"),
        "timeout": timeout,
    }
    return function.run(payload)


def body_of(outcome: dict[str, Any]) -> bytes:
    assert outcome["outcome"] == "response", outcome
    response = outcome["response"]
    body = str(response["body"])
    return base64.b64decode(body) if response["isBase64Encoded"] else body.encode()


def text_of(outcome: dict[str, Any]) -> str:
    return body_of(outcome).decode()


def leftovers() -> dict[int, list[processes.ProcessInfo]]:
    """Processes still hanging off an idle zygote: after any request, there must be none that could still run
    (a child killed on its way out of exit() may still be freeing its memory, then the zygote reaps it), but
    the spare child each zygote keeps ready for the next request (it never ran one)."""
    spares = set(pool.spare_pids())
    found = {
        pid: [child for child in processes.children_of(pid) if not child.ending and child.pid not in spares]
        for pid in pool.idle_pids()
    }
    return {pid: children for pid, children in found.items() if children}


def is_dumpable() -> bool:
    """prctl(PR_GET_DUMPABLE) of this process."""
    return bool(ctypes.CDLL(None, use_errno=True).prctl(PR_GET_DUMPABLE, 0, 0, 0, 0))


HELLO = """
    def handler(request):
        return "Hello World"
"""


def assert_serves_hello() -> None:
    """The next request after something hostile is served normally."""
    assert text_of(run_script(HELLO)) == "Hello World"
