"""The local stack for parts 2 and 4: `httpep serve` on free ports (as the e2e tests start it), with the seed's
endpoint registered over HTTP as a user would."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from bench.support import SEED, progress
from tests.support.stack import RunningStack, start_stack


@dataclass(frozen=True)
class SeededStack:
    stack: RunningStack
    url: str  # the seed's trigger URL
    headers: dict[str, str]

    @property
    def aws_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.stack.aws_port}"

    @property
    def lambda_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.stack.lambda_port}"


@contextmanager
def seeded_stack() -> Iterator[SeededStack]:
    with tempfile.TemporaryDirectory(prefix="httpep-bench-") as workdir:
        progress("parts 2 and 4: starting the local stack on free ports")
        stack = start_stack(Path(workdir), {})
        try:
            yield _seed(stack)
        finally:
            stack.process.terminate()
            try:
                stack.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                stack.process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    stack.process.wait(timeout=10)


def _seed(stack: RunningStack) -> SeededStack:
    progress("parts 2 and 4: token, script and the seed's endpoint, over the operator tool and the HTTP API")
    headers = stack.headers(SEED.account)
    stack.httpep("--local", "script", "put", str(SEED.local_file), SEED.drive_path)
    body = {"path": SEED.path, "handler_script_path": SEED.drive_path}
    created = requests.put(f"{stack.api_root}/{SEED.endpoint_id}", json=body, headers=headers, timeout=60)
    if created.status_code != 201:
        raise RuntimeError(f"creating the seed's endpoint failed: {created.status_code} {created.text}")
    url = f"{stack.api_root}/u/{SEED.path}"
    for _ in range(3):  # the first calls start the router's and the sandbox's workers
        answer = requests.get(url, headers=headers, timeout=60)
        if answer.status_code != 200 or answer.text != "Hello World":
            raise RuntimeError(f"the seed's endpoint answered {answer.status_code} {answer.text!r}")
    return SeededStack(stack, url, headers)
