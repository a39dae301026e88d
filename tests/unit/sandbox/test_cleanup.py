"""What the sandbox does after every request, under root (the local stack, CI): the child's files in every
world-writable directory, a removal that a racing process cannot turn against root, the memory of all of a
request's processes together, a user per account, a deadline within the function's own time, and an
environment that ends after answering."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from httpendpoint.sandbox import function, processes, scratch
from httpendpoint.sandbox.limits import CHILD_UID_VARIABLE, SCRATCH_LIMIT_BYTES
from httpendpoint.sandbox.zygote_client import pool
from tests.support.events import api_event
from tests.support.sandbox import (
    KEYRINGS,
    SCRIPT_PATH,
    assert_serves_hello,
    kernel_state_scripts,
    leftovers,
    run_script,
    sysv_script,
    text_of,
)

pytestmark = pytest.mark.serial
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="children get a user of their own only under root")
x86_64 = pytest.mark.skipif(os.uname().machine != "x86_64", reason="system call numbers of x86_64")
KEYCTL, KEYCTL_JOIN_SESSION_KEYRING = 250, 1  # x86_64


@pytest.fixture(autouse=True)
def nothing_left_behind() -> Iterator[None]:
    yield
    assert leftovers() == {}


@as_root
def test_files_left_in_any_world_writable_directory_are_removed() -> None:
    places = [place for place in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock") if os.path.isdir(place)]
    name = f"httpep-left-{secrets.token_hex(6)}"
    script = f"""
        import os

        def handler(request):
            written = []
            for place in {places!r}:
                try:
                    with open(os.path.join(place, "{name}"), "w") as f:
                        f.write("for the next request")
                    written.append(place)
                except OSError:
                    pass
            return " ".join(written)
    """
    written = text_of(run_script(script)).split()
    assert "/run/lock" in written or not os.path.isdir("/run/lock")
    assert [place for place in written if os.path.lexists(os.path.join(place, name))] == []


@as_root
def test_a_request_filling_scratch_space_fails_at_the_cap_and_the_next_finds_it_usable() -> None:
    # Many files, each under the file size limit, spread over every place a request may write to.
    name = f"httpep-fill-{secrets.token_hex(6)}"
    script = f"""
        import errno, os, tempfile

        def handler(request):
            places = [tempfile.gettempdir()] + [p for p in ("/tmp", "/var/tmp", "/dev/shm") if os.path.isdir(p)]
            chunk = b"x" * (1024 * 1024)
            written = 0
            for number in range({SCRATCH_LIMIT_BYTES // 2**20 + 16}):
                try:
                    with open(os.path.join(places[number % len(places)], f"{name}-{{number}}"), "wb") as f:
                        f.write(chunk)
                except OSError as exc:
                    return f"{{errno.errorcode.get(exc.errno)}} {{written}}"
                written += len(chunk)
            return f"unbounded {{written}}"
    """
    error, written = text_of(run_script(script, timeout=30)).split()
    assert error == "ENOSPC"
    assert SCRATCH_LIMIT_BYTES - 2 * 2**20 <= int(written) <= SCRATCH_LIMIT_BYTES
    script = f"""
        import os, tempfile

        def handler(request):
            for place in (tempfile.gettempdir(), "/tmp"):
                with open(os.path.join(place, "{name}-next"), "wb") as f:
                    f.write(b"x" * (8 * 1024 * 1024))
            return " ".join(sorted(entry for entry in os.listdir("/tmp") if entry.startswith("{name}-")))
    """
    assert text_of(run_script(script)) == f"{name}-next"


@as_root
def test_the_next_request_finds_nothing_the_last_one_left_in_scratch_space() -> None:
    # Only outside its work dir, which it leaves empty: the next child must not be born where these are.
    # A hard link gives a file made in the work dir a second name, and outlives the first.
    name = f"httpep-next-{secrets.token_hex(6)}"
    places = [place for place in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock") if os.path.isdir(place)]
    script = f"""
        import os

        def handler(request):
            for place in {places!r}:
                with open(os.path.join(place, "{name}"), "w") as f:
                    f.write("for the next request")
            with open("linked", "w") as f:
                f.write("for the next request")
            try:
                os.link("linked", "/tmp/{name}-link")
            except OSError:  # another file system: then the work dir is not in /tmp
                pass
            os.unlink("linked")
            os.symlink("/tmp/{name}", "/tmp/{name}-symlink")
            os.mkdir("/tmp/{name}-dir")
            return os.getcwd()
    """
    first = text_of(run_script(script))
    look = f"""
        import os

        def handler(request):
            found = [entry for place in {places!r} for entry in os.listdir(place) if entry.startswith("{name}")]
            return " ".join(found) + (" workdir" if os.path.lexists("{first}") else "")
    """
    for _ in range(2):
        assert text_of(run_script(look)) == ""


@as_root
def test_a_racer_swapping_a_directory_for_a_symlink_cannot_make_root_chmod_or_delete_its_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a request's process racing root's cleanup does at the worst moment: as root is about to unlink
    # "file" in a directory the request owns, the racer turns the file into a directory (the unlink fails)
    # and swaps that directory's path for a symlink to a directory of root's choosing.
    target = tmp_path / "target"
    target.mkdir(mode=0o755)
    (target / "file").write_text("root's own")
    left = tmp_path / "left"
    (left / "a").mkdir(parents=True)
    (left / "a" / "file").write_text("the request's")
    unlink = os.unlink
    raced = False

    def racing_unlink(path: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal raced
        if not raced and os.path.basename(os.fspath(path)) == "file":
            raced = True
            unlink(left / "a" / "file")
            (left / "a" / "file").mkdir()
            (left / "a").rename(tmp_path / "moved")
            (left / "a").symlink_to(target)
        unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", racing_unlink)
    with contextlib.suppress(OSError):
        scratch.remove(left)
    monkeypatch.undo()
    assert raced
    assert (target / "file").read_text() == "root's own"
    assert target.stat().st_mode & 0o7777 == 0o755


@as_root
def test_the_memory_of_all_of_a_requests_processes_together_is_capped() -> None:
    script = """
        import os, select, time

        def handler(request):
            ready, report = os.pipe()
            for _ in range(6):
                if os.fork() == 0:
                    data = bytearray(b"\\1") * (400 * 1024 * 1024)
                    os.write(report, f"{os.getpid()} ".encode())
                    time.sleep(60)
                    os._exit(0)
            holding, deadline = [], time.monotonic() + 12
            while len(holding) < 6 and select.select([ready], [], [], max(deadline - time.monotonic(), 0))[0]:
                holding += [int(pid) for pid in os.read(ready, 4096).split()]
            time.sleep(0.5)
            return str(sum(1 for pid in holding if os.waitpid(pid, os.WNOHANG) == (0, 0)))
    """
    outcome = run_script(script, timeout=30)
    if outcome["outcome"] == "response":
        assert int(text_of(outcome)) <= 1
    else:
        assert outcome["outcome"] == "crashed"
    assert_serves_hello()


@as_root
def test_a_spare_made_for_another_user_is_let_go_and_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CHILD_UID_VARIABLE, "64051")
    assert_serves_hello()
    assert_serves_hello()
    spare, *_ = pool.spare_pids()  # ready for 64051's next request
    monkeypatch.setenv(CHILD_UID_VARIABLE, "64052")
    assert_serves_hello()  # 64052's request: 64051's spare is let go of, never having run a request
    assert spare not in pool.spare_pids()
    deadline = time.monotonic() + 10
    while (process := processes.info(spare)) is not None and not process.ending and time.monotonic() < deadline:
        assert spare in pool.let_go_pids()  # known to be on its way out until it is gone
        time.sleep(0.01)
    assert process is None or process.ending


@as_root
def test_children_run_as_the_configured_account_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CHILD_UID_VARIABLE, "64050")
    script = "import os\n\ndef handler(request):\n    return f'{os.getuid()} {os.getgid()} {os.getgroups()}'\n"
    assert text_of(run_script(script)) == "64050 64050 []"
    monkeypatch.setenv(CHILD_UID_VARIABLE, "0")
    with pytest.raises(ValueError, match=CHILD_UID_VARIABLE):
        run_script(script)


def test_the_deadline_leaves_the_function_time_for_the_cleanup() -> None:
    payload = {
        "script": "def handler(request):\n    while True:\n        pass\n",
        "script_path": SCRIPT_PATH,
        "event": api_event("router"),
        "timeout": 10,
    }
    outcome = function.run(payload, lambda: 2600)  # 2.6 s left of the function's own time
    assert outcome["outcome"] == "timeout"
    assert outcome["timeout"] == pytest.approx(0.6)


class RuntimeApi(BaseHTTPRequestHandler):
    posted: list[tuple[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.posted.append((self.path, json.loads(body)))
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_an_ended_environment_answers_then_exits(monkeypatch: pytest.MonkeyPatch) -> None:
    from httpendpoint.sandbox import entry

    server = HTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    outcome = {"outcome": "crashed", "error": "the sandbox's zygote process died during the request", "logs": ""}

    def ended(payload: dict[str, Any], remaining_ms: Any = None) -> dict[str, Any]:
        raise function.EnvironmentEnded("the zygote died", outcome)

    def exit_process(status: int) -> None:
        raise SystemExit(status)

    class Context:
        aws_request_id = "8f5e-request"

        def get_remaining_time_in_millis(self) -> int:
            return 20_000

    monkeypatch.setenv(entry.RUNTIME_API_VARIABLE, f"127.0.0.1:{server.server_port}")
    monkeypatch.setattr(function, "run", ended)
    monkeypatch.setattr(function, "mode", lambda owner: "lambda")
    monkeypatch.setattr(os, "_exit", exit_process)
    try:
        with pytest.raises(SystemExit):
            entry.handle({}, Context())
    finally:
        server.shutdown()
        server.server_close()
    assert RuntimeApi.posted == [("/2018-06-01/runtime/invocation/8f5e-request/response", outcome)]


@as_root
def test_system_v_objects_a_request_leaves_are_gone_for_the_next() -> None:
    # Under root they stay in the child's IPC namespace, which comes with its scratch namespace: a later child
    # is born in it only if the request left nothing in either. Several requests, so that one is.
    script = sysv_script()
    assert text_of(run_script(script, event=api_event("router", query={"create": ["1"]}))) == "True True True"
    assert [text_of(run_script(script)) for _ in range(4)] == ["False False False"] * 4


@as_root
@x86_64
def test_keys_and_message_queues_a_request_leaves_are_gone_for_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel keeps a user's keyrings (its persistent one for days) and POSIX message queues after its last
    # process exits; a session keyring of the sandbox's (docker gives each container one) its children share.
    # Nothing shows them in any directory the cleanup looks at (/dev/mqueue is often not even mounted).
    assert ctypes.CDLL(None).syscall(KEYCTL, KEYCTL_JOIN_SESSION_KEYRING, None) > 0, "this kernel has no keyrings"
    function.shutdown()  # the next zygote starts in that session
    plant, look = kernel_state_scripts(f"httpep-left-{secrets.token_hex(6)}")
    assert text_of(run_script(plant)).split() == [*KEYRINGS]  # keys only: no message queue can be made
    assert text_of(run_script(look)) == ""  # the same user's next request
    monkeypatch.setenv(CHILD_UID_VARIABLE, "64051")  # another account's
    assert text_of(run_script(look)) == ""
