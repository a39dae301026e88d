"""What the local stack's tests share: a process of another user (a handler's, under root), and an app that
answers ok."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


def as_user(uid: int, work: Callable[[], bytes]) -> bytes:
    """What `work` returns when a process of user `uid` (and group `uid`) runs it: forked from this one, it
    becomes that user, and leaves with os._exit (it never runs this process's clean-up). Nothing it raises
    crosses back: the answer is then empty."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            os.setgid(uid)
            os.setuid(uid)
            out = memoryview(work())
            while out:
                out = out[os.write(write, out) :]
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as answer:
        found = answer.read()
    os.waitpid(pid, 0)
    return found


def ok_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """A WSGI app that answers every request with a plain-text "ok"."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
