"""What the local stack's tests share: a process of another user (a handler's, under root), an app that
answers ok, and boto3 clients whose requests go through the stack's socket."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

from httpep.local.channel import ChannelClient, send_aws_through
from httpep.local.defaults import REGION, boto3_credentials

# Nothing listens here: an answer to a client of it can only have come through the stack's socket.
UNREACHABLE_ENDPOINT = "http://127.0.0.1:1"


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


def aws_session() -> boto3.session.Session:
    """A boto3 session with the local stack's region and fake credentials."""
    return boto3.session.Session(region_name=REGION, **boto3_credentials())  # type: ignore[arg-type]


def aws_session_through(path: str) -> boto3.session.Session:
    """A boto3 session whose requests to the embedded AWS (at UNREACHABLE_ENDPOINT) go through the stack's socket
    at `path`, signed by scope only, as a worker's do (worker.py); others go over HTTP, signed as ever."""
    session = aws_session()
    send_aws_through(session, ChannelClient(path), UNREACHABLE_ENDPOINT)
    return session


def aws_client_through(path: str, service: str, attempts: int = 3) -> Any:
    """A client of the embedded AWS made from `aws_session_through(path)`; `attempts` in all, as botocore's
    standard retries count them."""
    config = Config(retries={"mode": "standard", "total_max_attempts": attempts})
    return aws_session_through(path).client(service, endpoint_url=UNREACHABLE_ENDPOINT, config=config)  # type: ignore[call-overload]
