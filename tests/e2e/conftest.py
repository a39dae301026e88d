"""The local stack as `make dev` runs it, started on free ports for the test session."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.support.paths import REPO_ROOT

# Short enough for the timeout tests to be quick, long enough for a loaded CI machine.
E2E_PARAMETERS = {"EndpointTimeout": "3"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningStack:
    port: int
    aws_port: int
    lambda_port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    state_path: Path
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def api_root(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/http-endpoint"

    @property
    def env(self) -> dict[str, str]:
        # `--local` finds this stack through its state file (several stacks may run at once).
        return {**os.environ, "HTTPEP_LOCAL_STATE": str(self.state_path)}

    def httpep(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "httpep", *args], env=self.env, capture_output=True, text=True, check=check
        )

    def token(self, account: str) -> str:
        if account not in self.tokens:
            out = self.httpep("--local", "token", "create", "--account", account).stdout.strip()
            self.tokens[account] = out
        return self.tokens[account]

    def headers(self, account: str = "jaydoe") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(account)}"}

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_stack(tmp_path: Path, parameters: dict[str, str]) -> RunningStack:
    port, aws_port, lambda_port = free_port(), free_port(), free_port()
    log_path = tmp_path / "stack.log"
    state_path = tmp_path / "local.json"
    args = [sys.executable, "-m", "httpep", "serve", "--port", str(port), "--aws-port", str(aws_port)]
    args += ["--lambda-port", str(lambda_port)]
    for key, value in parameters.items():
        args += ["--parameter", f"{key}={value}"]
    with log_path.open("wb") as log:
        env = {**os.environ, "HTTPEP_LOCAL_STATE": str(state_path)}
        process = subprocess.Popen(args, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    stack = RunningStack(port, aws_port, lambda_port, process, log_path, state_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"local stack exited early:\n{stack.logs()}")
        if "Ready." in stack.logs():
            return stack
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"local stack did not start:\n{stack.logs()}")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("stack"), E2E_PARAMETERS)
    yield running
    running.process.terminate()
    running.process.wait(timeout=20)


@pytest.fixture(scope="session")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session
