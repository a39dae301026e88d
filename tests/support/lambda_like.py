"""The sandbox function as Lambda runs it, for tests under root: each execution environment is a process of
its own under an unprivileged user (never `nobody`: a user only it has), with a private /tmp, and
AWS_EXECUTION_ENV set. A service routes accounts' requests to environments: all to one warm environment in
turn (no tenant isolation), or one environment per account (tenant isolation, as the template configures
it). An environment that ended is replaced by a fresh one, as Lambda does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from typing import Any

from httpendpoint.sandbox import processes
from tests.support.events import api_event
from tests.support.repo import REPO_ROOT
from tests.support.sandbox import SCRIPT_PATH, TIMEOUT

# Users of the environments: one each, so that two environments never see each other's processes (on
# Lambda each lives in a micro-VM of its own). Far from `nobody` and from anything a distribution hands out.
FIRST_UID = 64100
TMP_SIZE = "256m"


@dataclass
class Answer:
    outcome: dict[str, Any]
    ended: str | None  # why the environment ended after this answer, if it did


class Environment:
    def __init__(self, uid: int) -> None:
        self.uid = uid
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.lambda_worker", str(uid), TMP_SIZE],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def invoke(self, payload: dict[str, Any], remaining_ms: int | None = None) -> Answer:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"payload": payload, "remaining_ms": remaining_ms}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the environment died without answering (status {self.process.wait()})")
        message = json.loads(line)
        if message.get("ended") is not None:
            self.process.wait(timeout=30)
        return Answer(message["answer"], message.get("ended"))

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None and not stream.closed:
                stream.close()


_next_uid = FIRST_UID


def fresh_uid() -> int:
    """A user no environment of this test run had yet: what one test leaves cannot touch the next."""
    global _next_uid
    _next_uid += 1
    return _next_uid - 1


class LambdaLikeService:
    """Requests of accounts, in turn, as Lambda would route them."""

    def __init__(self, tenancy: bool) -> None:
        self.tenancy = tenancy
        self.environments: dict[str, Environment] = {}
        self.used: set[int] = set()
        self.ended: list[str] = []

    def environment(self, account: str) -> Environment:
        key = account if self.tenancy else ""
        current = self.environments.get(key)
        if current is None or not current.alive():
            if current is not None:
                current.close()
            current = self.environments[key] = Environment(fresh_uid())
            self.used.add(current.uid)
        return current

    def invoke(
        self, account: str, script: str, *, event: dict[str, Any] | None = None, timeout: float = TIMEOUT
    ) -> dict[str, Any]:
        payload = {
            "script": textwrap.dedent(script),
            "script_path": SCRIPT_PATH,
            "event": event if event is not None else api_event("router"),
            "timeout": timeout,
        }
        answer = self.environment(account).invoke(payload)
        if answer.ended is not None:
            self.ended.append(answer.ended)
        return answer.outcome

    def close(self) -> None:
        for environment in self.environments.values():
            environment.close()
        for uid in self.used:  # whatever a test's attacker left, should the sandbox have failed
            processes.kill_user(uid, (), timeout=5)


def can_run() -> bool:
    """Root is needed to give an environment a user and a /tmp of its own."""
    return os.geteuid() == 0 and sys.platform.startswith("linux")
