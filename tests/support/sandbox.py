"""Calling the sandbox in-process, as the router's tests and benchmarks do, and checking what it left."""

from __future__ import annotations

import base64
import ctypes
import secrets
import textwrap
import time
from typing import Any

from httpendpoint.sandbox import function, processes
from httpendpoint.sandbox.zygote_client import pool
from tests.support.events import api_event

PR_GET_DUMPABLE = 3
SCRIPT_PATH = "/jaydoe/my_repo/fs/Instabase Drive/handlers/hello.py"
# Comfortably above what a well-behaved handler needs on a loaded CI machine; hostile tests pass less.
TIMEOUT = 10.0
# How long a spare or blank the zygote let go of may take to reach exit() (see leftovers).
LETGO_SECONDS = 1.0


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
    the spare child each zygote keeps ready for the next request (it never ran one).

    A spare or blank the zygote let go of (made for another user, then dropped or discarded; it never ran a
    request) may take a moment to reach exit() on a busy machine: it counts as a leftover only if it is still
    there after LETGO_SECONDS. Any other process counts at once."""
    deadline = time.monotonic() + LETGO_SECONDS
    while True:
        spares = set(pool.spare_pids())
        found = {
            pid: [child for child in processes.children_of(pid) if not child.ending and child.pid not in spares]
            for pid in pool.idle_pids()
        }
        left = {pid: children for pid, children in found.items() if children}
        let_go = pool.let_go_pids()
        on_their_way = all(child.pid in let_go for children in left.values() for child in children)
        if not left or not on_their_way or time.monotonic() > deadline:
            return left
        time.sleep(0.02)


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


# The kernel's key store and POSIX message queues as a handler reaches them (Python binds neither; x86_64
# system call numbers): keyrings by name, and the user's persistent keyring (KEYCTL_GET_PERSISTENT).
KEYRINGS = ("session", "user", "user-session", "persistent")
KERNEL_STATE = """
    import ctypes, os

    libc = ctypes.CDLL(None, use_errno=True)
    ADD_KEY, KEYCTL, KEYCTL_SEARCH, KEYCTL_GET_PERSISTENT = 248, 250, 10, 22
    RINGS = {"session": -3, "user": -4, "user-session": -5, "persistent": None}

    def ring(name):
        number = RINGS[name]
        return libc.syscall(KEYCTL, KEYCTL_GET_PERSISTENT, -1, -1) if number is None else number

    class Attr(ctypes.Structure):
        _fields_ = [("flags", ctypes.c_long), ("maxmsg", ctypes.c_long), ("msgsize", ctypes.c_long),
                    ("current", ctypes.c_long), ("reserved", ctypes.c_long * 4)]
"""


def kernel_state_scripts(name: str) -> tuple[str, str]:
    """A handler that leaves a key `name` in every keyring it can reach and a message in a POSIX queue `name`
    (its answer: where it managed to), and one that says which of them it finds."""
    plant = (
        KERNEL_STATE
        + f"""
    def handler(request):
        planted = []
        for ring_name in RINGS:
            secret = f"{{ring_name}} for the next request".encode()
            if libc.syscall(ADD_KEY, b"user", b"{name}", secret, len(secret), ring(ring_name)) > 0:
                planted.append(ring_name)
        queue = libc.mq_open(b"/{name}", os.O_CREAT | os.O_RDWR, 0o666, ctypes.byref(Attr(0, 4, 64, 0)))
        if queue >= 0 and libc.mq_send(queue, b"for the next request", 20, 0) == 0:
            planted.append("queue")
        return " ".join(planted)
    """
    )
    look = (
        KERNEL_STATE
        + f"""
    def handler(request):
        found = [name for name in RINGS if libc.syscall(KEYCTL, KEYCTL_SEARCH, ring(name), b"user", b"{name}", 0) > 0]
        if libc.mq_open(b"/{name}", os.O_RDONLY | os.O_NONBLOCK) >= 0:
            found.append("queue")
        return " ".join(found)
    """
    )
    return plant, look


SYSV = """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    KEY = {key}

    def handler(request):
        if request.args.get("create"):
            shm = libc.shmget(KEY, 4096, 0o1666)  # IPC_CREAT | 0666
            msg = libc.msgget(KEY + 1, 0o1666)
            sem = libc.semget(KEY + 2, 1, 0o1666)
            return f"{{shm >= 0}} {{msg >= 0}} {{sem >= 0}}"
        return f"{{libc.shmget(KEY, 0, 0) >= 0}} {{libc.msgget(KEY + 1, 0) >= 0}} {{libc.semget(KEY + 2, 0, 0) >= 0}}"
"""


def sysv_script() -> str:
    """A handler that makes a System V shared memory segment, message queue and semaphore set (mode 0666) under
    a random key when asked (`?create=1`), and otherwise says which of them it finds ("True True True")."""
    return SYSV.format(key=0x4854_0000 + secrets.randbelow(0xFFFF) * 4)
