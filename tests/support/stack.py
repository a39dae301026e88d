"""The stack the e2e suite and the benchmarks talk to over HTTP: the local one (`make dev`), or a deployed one.

Both answer the same questions: where the API root is, how to run `httpep` against the stack's resources,
and a token per account (minted as an operator does, with `httpep token create`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.repo import REPO_ROOT

# Short enough for the timeout tests to be quick, long enough for a loaded CI machine.
E2E_PARAMETERS = {"EndpointTimeout": "3"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """What every e2e test may use: the API root, `httpep` pointed at the stack, and tokens."""

    api_root: str
    # The `httpep` options that select this stack: ("--local",) or ("--stack", NAME, ...).
    target: tuple[str, ...]
    tokens: dict[str, str] = field(default_factory=dict, kw_only=True)

    @property
    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def httpep(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "httpep", *args], env=self.env, capture_output=True, text=True, check=check
        )

    def token(self, account: str) -> str:
        if account not in self.tokens:
            out = self.httpep(*self.target, "token", "create", "--account", account).stdout.strip()
            self.tokens[account] = out
        return self.tokens[account]

    def headers(self, account: str = "jaydoe") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(account)}"}


@dataclass
class RunningStack(Stack):
    """The local stack, started by `httpep serve` on free ports."""

    port: int
    aws_port: int
    lambda_port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    state_path: Path

    @property
    def env(self) -> dict[str, str]:
        # `--local` finds this stack through its state file (several stacks may run at once).
        return {**os.environ, "HTTPEP_LOCAL_STATE": str(self.state_path)}

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        # Generous: on a loaded 2-CPU machine the stack and its workers take a while to wind down.
        self.process.wait(timeout=60)


def start_stack(tmp_path: Path, parameters: dict[str, str], sigint_ignored: bool = False) -> RunningStack:
    """`httpep serve` on free ports, once it says it is ready; `sigint_ignored`: started as a script's background
    command is (with SIGINT ignored)."""
    port, aws_port, lambda_port = free_port(), free_port(), free_port()
    log_path = tmp_path / "stack.log"
    state_path = tmp_path / "local.json"
    args = [sys.executable, "-m", "httpep", "serve", "--port", str(port), "--aws-port", str(aws_port)]
    args += ["--lambda-port", str(lambda_port)]
    for key, value in parameters.items():
        args += ["--parameter", f"{key}={value}"]
    with log_path.open("wb") as log:
        env = {**os.environ, "HTTPEP_LOCAL_STATE": str(state_path)}
        ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
        process = subprocess.Popen(
            args, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=ignore
        )
    api_root = f"http://127.0.0.1:{port}/api/v1/http-endpoint"
    stack = RunningStack(api_root, ("--local",), port, aws_port, lambda_port, process, log_path, state_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"local stack exited early:\n{stack.logs()}")
        if "Ready." in stack.logs():
            return stack
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"local stack did not start:\n{stack.logs()}")


def deployed_stack(name: str, region: str | None = None) -> Stack:
    """A deployed stack: its API root from its CloudFormation outputs, read with the operator's credentials."""
    from httpep.targets import stack_target

    target = ("--stack", name, *(("--region", region) if region else ()))
    return Stack(stack_target(name, region).api_root, target)
