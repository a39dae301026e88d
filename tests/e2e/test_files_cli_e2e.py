"""`httpep files ...` and `httpep dev` as a user runs them: subprocesses against the local stack, with a token."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest

from tests.e2e.test_client_e2e import Account, error_line, ok, own_settings_removed
from tests.support.repo import REPO_ROOT
from tests.support.stack import RunningStack

pytestmark = pytest.mark.e2e

HELLO = b"def handler(request):\n    return 'Hello World'\n"
AGAIN = b"def handler(request):\n    return 'Hello again'\n"
BROKEN = b"def handler(request):\n    return (\n"


@pytest.fixture
def account(stack: RunningStack) -> Account:
    return Account(stack)


def test_put_get_ls_versions_rm(account: Account, tmp_path: Path) -> None:
    local = tmp_path / "hello.py"
    local.write_bytes(HELLO)
    drive_path = account.drive("hello.py")
    folder = drive_path.rsplit("/", 1)[0]
    first = ok(account.run("files", "put", str(local), drive_path)).splitlines()
    assert first[0].startswith(f"uploaded {local} to {drive_path} (version ")
    endpoint_id = account.unique("hello")
    ok(account.run("endpoint", "create", endpoint_id, "--handler", drive_path))

    local.write_bytes(AGAIN)
    second = account.run("files", "put", str(local), drive_path)
    assert ok(second).splitlines()[1:] == [f"re-pinned: {endpoint_id}"]
    assert ok(account.run("call", endpoint_id)) == "Hello again"
    local.write_bytes(BROKEN)
    broken = account.run("files", "put", str(local), drive_path)
    ok(broken)
    assert broken.stderr.decode().startswith(f"kept {endpoint_id}: ")
    assert ok(account.run("call", endpoint_id)) == "Hello again"

    versions = json.loads(ok(account.run("files", "versions", drive_path, "-o", "json")))
    assert [v["current"] for v in versions] == [True, False, False]
    oldest = versions[-1]["version"]
    assert account.run("files", "get", drive_path).stdout == BROKEN
    copy = tmp_path / "copy.py"
    ok(account.run("files", "get", drive_path, "--version", oldest, "-o", str(copy)))
    assert copy.read_bytes() == HELLO
    table = ok(account.run("files", "versions", drive_path)).splitlines()
    assert len(table) == 2 + 3 and table[2].rstrip().endswith("*")

    listed = json.loads(ok(account.run("files", "ls", folder, "-o", "json")))
    assert [(node["path"], node["type"]) for node in listed] == [(drive_path, "file")]
    root = json.loads(ok(account.run("files", "ls", f"/{account.name}", "-o", "json")))
    assert [(node["name"], node["type"]) for node in root] == [("repo", "folder")]

    assert error_line(account.run("files", "rm", drive_path)) == (
        f"Error: 409 {drive_path} is used by endpoint(s) {endpoint_id}; point them at another file or delete them first"
    )
    ok(account.run("endpoint", "delete", endpoint_id))
    assert json.loads(ok(account.run("files", "rm", drive_path))) == {"path": drive_path}
    assert error_line(account.run("files", "get", drive_path)).startswith("Error: 404 ")
    assert error_line(account.run("files", "versions", drive_path)).startswith("Error: 404 ")


def test_another_account_s_drive_is_403(account: Account, tmp_path: Path) -> None:
    local = tmp_path / "x.py"
    local.write_bytes(HELLO)
    line = error_line(account.run("files", "put", str(local), "/someone-else/x.py"))
    assert line.startswith("Error: 403 ") and f"/{account.name}/" in line


class Lines:
    """The lines a process writes to one of its pipes, read on a thread so that a test can wait for one."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self.seen: list[str] = []
        self.queue: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self.reader.start()

    def _read(self, pipe: IO[bytes]) -> None:
        for raw in pipe:
            self.queue.put(raw.decode().rstrip("\n"))

    def wait_for(self, wanted: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no line with {wanted!r}; seen {self.seen}"
            try:
                line = self.queue.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(line)
            if wanted in line:
                return line

    def rest(self) -> list[str]:
        """Every line not yet waited for, once the process has closed the pipe."""
        self.reader.join(timeout=10)
        while not self.queue.empty():
            self.seen.append(self.queue.get())
        return self.seen


def test_dev_makes_each_save_live_on_the_next_call(account: Account, stack: RunningStack, tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "handlers").mkdir(parents=True)
    script = source / "handlers" / "hello.py"
    script.write_bytes(HELLO)
    drive_dir = f"/{account.name}/dev"
    drive_path = f"{drive_dir}/handlers/hello.py"
    env = {**own_settings_removed(stack.env), "HTTPEP_TOKEN": account.token, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "httpep", *stack.target, "dev", str(source), drive_dir],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        out, err = Lines(process.stdout), Lines(process.stderr)
        assert out.wait_for("uploaded").startswith(f"uploaded handlers/hello.py to {drive_path} (version ")
        err.wait_for("watching")
        endpoint_id = account.unique("dev")
        ok(account.run("endpoint", "create", endpoint_id, "--handler", drive_path))
        assert ok(account.run("call", endpoint_id)) == "Hello World"

        script.write_bytes(AGAIN)
        out.wait_for(f"re-pinned: {endpoint_id}")
        assert ok(account.run("call", endpoint_id)) == "Hello again"

        script.write_bytes(BROKEN)
        err.wait_for(f"kept {endpoint_id}: ")
        assert ok(account.run("call", endpoint_id)) == "Hello again"
    finally:
        os.kill(process.pid, signal.SIGINT)
        process.wait(timeout=30)
    # Ctrl-C is a clean exit: status 0, no traceback.
    assert process.returncode == 0
    lines = err.rest()
    assert lines[-1] == "stopped" and not any("Traceback" in line for line in lines), lines


def test_dev_without_drive_dir_uploads_to_the_token_s_own_drive(account: Account, tmp_path: Path) -> None:
    (tmp_path / "handlers").mkdir()
    (tmp_path / "handlers" / "hello.py").write_bytes(HELLO)
    result = account.run("dev", str(tmp_path), "--once")
    drive_path = f"/{account.name}/handlers/hello.py"
    assert ok(result).startswith(f"uploaded handlers/hello.py to {drive_path} (version ")
    assert result.stderr.decode().splitlines()[0] == f"DRIVE_DIR is /{account.name}, the token's own drive"
    assert account.run("files", "get", drive_path).stdout == HELLO


def test_dev_without_drive_dir_refuses_a_revoked_token(account: Account, tmp_path: Path) -> None:
    (tmp_path / "hello.py").write_bytes(HELLO)
    ok(account.run("token", "revoke", "-", stdin=account.token.encode()))
    assert error_line(account.run("dev", str(tmp_path), "--once")) == (
        "Error: the token is unknown or revoked on this stack, so it has no drive here"
        " (httpep token create --account NAME)"
    )
