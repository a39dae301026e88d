"""The sandbox against hostile handlers: each ends as documented, leaves nothing behind, and the next request
is served normally. The handlers run for real, in the sandbox's children, with short deadlines."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from httpendpoint.sandbox import function, mounts, processes, scratch, zygote_server
from httpendpoint.sandbox.limits import (
    CHILD_UID_VARIABLE,
    FILE_SIZE_LIMIT_BYTES,
    MEMORY_LIMIT_BYTES,
    OPEN_FILES_LIMIT,
    PROCESS_LIMIT,
    SANDBOX_UID,
)
from httpendpoint.sandbox.zygote_client import pool, zygote_environment
from tests.support.events import api_event
from tests.support.sandbox import HELLO, TIMEOUT, assert_serves_hello, is_dumpable, leftovers, run_script, text_of

# The sandbox tests share machine-wide limits (the `nobody` process count), so they never run beside others.
pytestmark = pytest.mark.serial

SHORT = 1.0
REAP_SECONDS = 10.0
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKE1234",
    "AWS_SECRET_ACCESS_KEY": "fake-secret-0123456789abcdefghijklmnopqrstuv",
    "AWS_SESSION_TOKEN": "fake-session-token-zyxwvutsrq",
}


@pytest.fixture(autouse=True)
def nothing_left_behind() -> Iterator[None]:
    yield
    assert leftovers() == {}


def processes_named(name: str) -> list[processes.ProcessInfo]:
    found = []
    for pid in processes.all_pids():
        try:
            with open(f"/proc/{pid}/comm") as comm:
                named = comm.read().strip() == name
        except OSError:
            continue
        process = processes.info(pid) if named else None
        if process is not None:
            found.append(process)
    return found


def assert_all_gone(name: str) -> None:
    """None of them can run code any more, and the dying ones are reaped soon after (a killed process may
    still be freeing its memory when the answer goes out, then the zygote reaps it)."""
    assert [process for process in processes_named(name) if not process.ending] == []
    deadline = time.monotonic() + REAP_SECONDS
    while processes_named(name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_named(name) == []


def test_an_endless_loop_times_out() -> None:
    script = """
        def handler(request):
            print("spinning", flush=True)
            while True:
                pass
    """
    assert run_script(script, timeout=SHORT) == {"outcome": "timeout", "timeout": SHORT, "logs": "spinning\n"}
    assert_serves_hello()


def test_a_sleep_in_c_code_times_out() -> None:
    script = "import time\n\ndef handler(request):\n    time.sleep(60)\n"
    assert run_script(script, timeout=SHORT)["outcome"] == "timeout"
    assert_serves_hello()


def test_allocating_two_gigabytes_hits_the_memory_limit() -> None:
    outcome = run_script("def handler(request):\n    return bytearray(2 * 1024**3)\n")
    assert outcome["outcome"] in ("error", "crashed")
    if outcome["outcome"] == "error":
        assert outcome["error"] == "MemoryError"
    assert_serves_hello()


def test_a_fork_bomb_is_bounded_and_every_process_of_it_killed() -> None:
    name = f"bomb{os.getpid() % 100000}"
    script = f"""
        import ctypes
        import os

        def handler(request):
            ctypes.CDLL(None).prctl(15, b"{name}", 0, 0, 0)  # PR_SET_NAME, inherited by every fork
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
    """
    assert run_script(script, timeout=SHORT)["outcome"] in ("timeout", "error", "crashed")
    assert_all_gone(name)
    assert_serves_hello()


def test_opening_files_in_a_loop_runs_out_of_descriptors() -> None:
    script = """
        def handler(request):
            kept = []
            while True:
                kept.append(open("/dev/null"))
    """
    outcome = run_script(script)
    assert outcome["outcome"] == "error"
    assert outcome["error"].startswith("OSError: [Errno 24] Too many open files")
    assert_serves_hello()


def test_a_daemonized_grandchild_is_killed_after_the_request() -> None:
    # Double fork with setsid between: the classic daemon, in its own session and process group.
    script = """
        import os
        import time

        def handler(request):
            read, write = os.pipe()
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    os.write(write, str(os.getpid()).encode())
                    time.sleep(60)
                os._exit(0)
            return os.read(read, 32).decode()
    """
    daemon = int(text_of(run_script(script)))
    # Killed: gone, or inside exit() (it can run no more code; freeing its memory and its private scratch
    # file system takes a moment, then its reaper collects it).
    left = processes.info(daemon)
    assert left is None or left.ending
    assert_serves_hello()


def test_writing_a_huge_file_hits_the_file_size_limit() -> None:
    script = """
        def handler(request):
            with open("huge.bin", "wb") as f:
                for _ in range(64):
                    f.write(b"x" * 1024 * 1024)
    """
    outcome = run_script(script)
    assert outcome["outcome"] == "error"
    assert outcome["error"] == "OSError: [Errno 27] File too large"
    assert_serves_hello()


def test_exiting_the_process_is_a_crash() -> None:
    outcome = run_script("import os\n\ndef handler(request):\n    print('bye')\n    os._exit(3)\n")
    assert outcome == {"outcome": "crashed", "error": "the handler process exited with status 3", "logs": "bye\n"}
    assert_serves_hello()


def counted_runs(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """Records each child the sandbox runs a request in (its pid)."""
    execute, runs = function._execute, list[int | None]()

    def counting(*args: Any) -> tuple[Any, Any]:
        report, problem = execute(*args)
        runs.append(report.child)
        return report, problem

    monkeypatch.setattr(function, "_execute", counting)
    return runs


def test_a_child_whose_set_up_fails_before_it_reads_its_request_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    # A child that fails while it sets itself up (here: it cannot join its control groups) never read the
    # request: it goes to a fresh child rather than to the caller as a crash of the handler.
    function.shutdown()  # a fresh zygote, with no spare: the first request's child is forked with its header
    placement, broken = function._placement, list[Any]()

    def failing_once(*args: Any, **kwargs: Any) -> Any:
        made = placement(*args, **kwargs)
        if broken:
            return made
        broken.append(made)
        return dataclasses.replace(made, header={**made.header, "cgroups": ["/nonexistent/cgroup.procs"]})

    monkeypatch.setattr(function, "_placement", failing_once)
    runs = counted_runs(monkeypatch)
    assert text_of(run_script(HELLO)) == "Hello World"
    assert len(runs) == 2 and runs[0] != runs[1]


def test_a_handler_that_exits_as_a_failed_set_up_would_is_not_run_again(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = counted_runs(monkeypatch)
    status = zygote_server.EXIT_SETUP_FAILED
    outcome = run_script(f"import os\n\ndef handler(request):\n    os._exit({status})\n")
    assert outcome["error"] == f"the handler process exited with status {status}"
    assert len(runs) == 1


def test_being_killed_by_a_signal_is_a_crash() -> None:
    outcome = run_script("import os\n\ndef handler(request):\n    os.kill(os.getpid(), 9)\n")
    assert outcome["outcome"] == "crashed"
    assert outcome["error"] == "the handler process was killed by signal 9 (memory limit?)"


def test_a_forged_result_is_checked_like_any_other() -> None:
    forge = """
        import json
        import os

        def handler(request):
            os.write(3, json.dumps(json.loads(request.get_data())).encode())
            os._exit(0)
    """
    response = {"statusCode": 200, "multiValueHeaders": {}, "body": "forged", "isBase64Encoded": False}
    valid = {"outcome": "response", "response": {**response, "extra": 1}, "logs": "planted"}
    invalid = {"outcome": "response", "response": {**response, "statusCode": "200"}}
    outcome = run_script(forge, event=api_event("router", method="POST", body=valid))
    assert outcome == {"outcome": "response", "response": response, "logs": ""}  # its own request, nothing more
    outcome = run_script(forge, event=api_event("router", method="POST", body=invalid))
    assert outcome == {"outcome": "crashed", "error": "the handler process reported an invalid result", "logs": ""}


def test_killing_the_zygote_does_not_break_the_next_request() -> None:
    outcome = run_script("import os\n\ndef handler(request):\n    os.kill(os.getppid(), 9)\n    return 'survived'\n")
    # Under root the child is `nobody` and may not signal the zygote at all.
    assert outcome["outcome"] in ("error", "crashed")
    assert_serves_hello()


def test_killing_the_zygote_as_its_own_user_restarts_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # As on Lambda: no user switch, so the child can kill the zygote; the next request gets a new one.
    monkeypatch.setattr(function, "child_identity", lambda: None)
    function.shutdown()
    assert_serves_hello()
    (zygote,) = pool.idle_pids()
    script = "import os, time\n\ndef handler(request):\n    os.kill(os.getppid(), 9)\n    time.sleep(5)\n"
    outcome = run_script(script)
    assert outcome["outcome"] == "crashed"
    assert outcome["error"] == "the sandbox's zygote process died during the request"
    assert_serves_hello()
    assert pool.idle_pids() != [zygote]
    assert processes.info(zygote) is None


def test_stopping_the_zygote_as_its_own_user_replaces_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(function, "child_identity", lambda: None)
    function.shutdown()
    assert_serves_hello()
    (zygote,) = pool.idle_pids()
    stop = "import os, signal\n\ndef handler(request):\n    os.kill(os.getppid(), signal.SIGSTOP)\n    return 'ok'\n"
    # A stopped zygote cannot report the child's exit, so the request runs into its deadline.
    assert run_script(stop, timeout=SHORT)["outcome"] == "timeout"
    assert_serves_hello()
    assert pool.idle_pids() != [zygote]
    assert processes.info(zygote) is None


def test_the_child_runs_confined() -> None:
    script = """
        import ctypes
        import json
        import os
        import resource

        def handler(request):
            death_signal = ctypes.c_int()
            ctypes.CDLL(None).prctl(2, ctypes.byref(death_signal), 0, 0, 0)  # PR_GET_PDEATHSIG
            with open("/proc/self/status") as status:
                no_new_privs = "NoNewPrivs:\\t1" in status.read()
            names = ("RLIMIT_AS", "RLIMIT_NOFILE", "RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_CORE", "RLIMIT_MSGQUEUE",
                     "RLIMIT_CPU")
            limits = {name: resource.getrlimit(getattr(resource, name))[0] for name in names}
            open_fds = []
            for fd in range(256):
                try:
                    os.fstat(fd)
                    open_fds.append(fd)
                except OSError:
                    pass
            return json.dumps({
                "uid": os.getuid(), "euid": os.geteuid(), "groups": os.getgroups(),
                "session_leader": os.getsid(0) == os.getpid(), "cwd": os.getcwd(),
                "home": os.environ["HOME"], "tmpdir": os.environ["TMPDIR"], "cwd_empty": os.listdir(".") == [],
                "limits": limits, "open_fds": open_fds,
                "parent_death_signal": death_signal.value, "no_new_privs": no_new_privs,
            })
    """
    assert_serves_hello()  # so that the child below is the spare made ready after a request, set up in advance
    seen = json.loads(text_of(run_script(script)))
    owner = function.child_identity()
    expected_uid = owner[0] if owner is not None else os.geteuid()
    assert (seen["uid"], seen["euid"]) == (expected_uid, expected_uid)
    if os.geteuid() == 0 and not os.environ.get(CHILD_UID_VARIABLE):
        assert expected_uid == SANDBOX_UID
    if os.geteuid() == 0:
        assert seen["groups"] == []
    assert seen["session_leader"] is True
    assert seen["cwd"] == seen["home"] == seen["tmpdir"]
    assert seen["cwd_empty"] is True
    assert seen["limits"] == {
        "RLIMIT_AS": MEMORY_LIMIT_BYTES,
        "RLIMIT_NOFILE": OPEN_FILES_LIMIT,
        "RLIMIT_FSIZE": FILE_SIZE_LIMIT_BYTES,
        "RLIMIT_NPROC": PROCESS_LIMIT,
        "RLIMIT_CORE": 0,
        "RLIMIT_MSGQUEUE": 0,  # no POSIX message queue: none could be swept
        "RLIMIT_CPU": 2 * math.ceil(TIMEOUT) + 1,  # the request's own backstop, set when it reached the child
    }
    # stdin, stdout+stderr (the log pipe) and the result pipe: nothing else was inherited.
    assert seen["open_fds"] == [0, 1, 2, 3]
    assert seen["parent_death_signal"] == signal.SIGKILL  # should the zygote die mid-request
    assert seen["no_new_privs"] is True


def test_the_interpreter_stays_importable_and_its_untraversable_parents_hidden() -> None:
    # pyenv's Python under /root (mode 0700) is the usual case; see child_mounts.
    exposures = mounts.needed_exposures(sys.path) if function.child_identity() is not None else {}
    script = """
        import json
        import os

        def handler(request):
            import concurrent.futures, csv, email.mime.text, sqlite3  # none of them preloaded by the zygote
            return json.dumps({d: sorted(os.listdir(d)) for d in request.get_json()["directories"]})
    """
    event = api_event(
        "router", method="POST", body={"directories": list(exposures)}, headers={"Content-Type": ["application/json"]}
    )
    seen = json.loads(text_of(run_script(script, event=event)))
    assert seen == exposures


def test_untraversable_parents_are_found() -> None:
    with tempfile.TemporaryDirectory() as name:
        top = Path(name)
        top.chmod(0o755)
        package = top / "private" / "inner" / "site-packages"
        package.mkdir(parents=True)
        (top / "private").chmod(0o700)
        assert mounts.needed_exposures([str(package), str(top)]) == {str(top / "private"): ["inner"]}


def test_files_written_to_shared_scratch_space_are_removed() -> None:
    name = f"httpep-sandbox-test-{os.urandom(6).hex()}"
    script = f"""
        def handler(request):
            for directory in ("/tmp", "/dev/shm"):
                with open(f"{{directory}}/{name}", "w") as f:
                    f.write("left for the next request")
            return "written"
    """
    assert text_of(run_script(script)) == "written"
    if function.child_identity() is not None:  # told apart by owner: the child ran as `nobody`
        assert not os.path.exists(f"/tmp/{name}")
        assert not os.path.exists(f"/dev/shm/{name}")


def test_on_lambda_the_whole_of_tmp_but_the_sandbox_root_is_swept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("AWS_EXECUTION_ENV", "AWS_Lambda_python3.13")
    root = scratch.workdir_root()
    (tmp_path / "planted.py").write_text("print('hello from an earlier request')")
    (tmp_path / "a-dir").mkdir(mode=0)
    scratch.sweep_scratch(None)
    assert list(tmp_path.iterdir()) == [root]


def test_credentials_are_nowhere_to_be_found(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    function.shutdown()  # the next zygote starts from this environment, credentials included
    script = """
        import gc
        import json
        import os

        def readable(path):
            try:
                with open(path, "rb") as f:
                    return f.read().decode(errors="replace")
            except OSError as exc:
                return type(exc).__name__

        def parent_of(pid):
            with open(f"/proc/{pid}/stat", "rb") as f:
                return int(f.read().rsplit(b")", 1)[1].split()[1])

        def handler(request):
            secrets = request.get_json()
            zygote = os.getppid()
            sandbox = parent_of(zygote)
            found = {
                "aws_keys": sorted(k for k in os.environ if k.startswith("AWS_")),
                "secret_values": [k for k, v in secrets.items() if v in json.dumps(dict(os.environ))],
                "environs": {p: readable(f"/proc/{p}/environ") for p in ("self", zygote, sandbox, 1)},
            }
            import boto3
            from botocore.credentials import Credentials

            os.environ["AWS_EC2_METADATA_DISABLED"] = "true"  # keep the hunt on this machine: no network lookups
            found["credentials_objects"] = sum(isinstance(o, Credentials) for o in gc.get_objects())
            for service, call in (("dynamodb", "list_tables"), ("s3", "list_buckets")):
                try:
                    getattr(boto3.client(service, region_name="us-east-1"), call)()
                    found[service] = "succeeded"
                except Exception as exc:
                    found[service] = type(exc).__name__
            return json.dumps(found)
    """
    event = api_event("router", method="POST", body=FAKE_CREDENTIALS, headers={"Content-Type": ["application/json"]})
    found = json.loads(text_of(run_script(script, event=event, timeout=30)))
    assert found["aws_keys"] == []
    assert found["secret_values"] == []
    assert found["credentials_objects"] == 0
    assert found["dynamodb"] == found["s3"] == "NoCredentialsError"
    for path, content in found["environs"].items():
        assert not any(value in content for value in FAKE_CREDENTIALS.values()), path
        assert "AWS_SECRET_ACCESS_KEY" not in content, path
        assert "AWS_SESSION_TOKEN" not in content, path
    if os.geteuid() == 0:  # as `nobody`, no environ but its own could even be opened; its own is non-dumpable
        assert set(found["environs"].values()) == {"PermissionError"}


def test_the_zygote_environment_holds_nothing_but_what_python_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
    function.shutdown()
    assert_serves_hello()
    (zygote,) = pool.idle_pids()
    # What the kernel shows for the zygote (and every child: they share its initial environment block).
    with open(f"/proc/{zygote}/environ", "rb") as environ:
        names = {entry.split(b"=", 1)[0].decode() for entry in environ.read().split(b"\0") if entry}
    assert names == set(zygote_environment())
    assert names <= {"PATH", "LANG", "TZ", "LD_LIBRARY_PATH", "PYTHONPATH"}


def test_the_sandbox_process_cannot_be_read_or_traced_by_its_user() -> None:
    assert_serves_hello()
    assert is_dumpable() is False


def test_process_listing_without_the_kernels_children_file_agrees() -> None:
    sleepers = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) for _ in range(2)]
    try:
        mine = {child.pid for child in processes.children_of(os.getpid())}
        walked = {p.pid for p in processes.children_among(os.getpid(), processes.all_pids())}
        assert {s.pid for s in sleepers} <= mine
        assert mine == walked
    finally:
        for sleeper in sleepers:
            sleeper.send_signal(signal.SIGKILL)
            sleeper.wait()


def test_limits_apply_to_the_child_only() -> None:
    assert_serves_hello()
    assert resource.getrlimit(resource.RLIMIT_AS)[0] != MEMORY_LIMIT_BYTES


@pytest.mark.skipif(os.geteuid() != 0, reason="children get a user of their own only under root")
def test_a_request_can_neither_signal_nor_read_the_zygote_or_the_process_made_for_the_request_after_next() -> None:
    # While a request runs, its zygote already holds the process of the request after next (root's until then,
    # in the control group the last request left). Signal 0 asks only whether a signal would be allowed.
    script = """
        import json, os

        def allowed(what, *arguments):
            try:
                what(*arguments)
                return True
            except OSError:
                return False

        def reach(pid):
            tries = {
                "signal": lambda: os.kill(pid, 0),
                "mem": lambda: open(f"/proc/{pid}/mem", "rb").close(),
                "fds": lambda: os.listdir(f"/proc/{pid}/fd"),
                "root": lambda: os.listdir(f"/proc/{pid}/root/"),
            }
            return [name for name, attempt in tries.items() if allowed(attempt)]

        def dead(pid):
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
            except OSError:
                return True

        def handler(request):
            zygote = os.getppid()
            with open(f"/proc/{zygote}/task/{zygote}/children") as listing:
                others = [int(pid) for pid in listing.read().split() if int(pid) != os.getpid()]
            reached = {pid: reach(pid) for pid in [zygote, *others]}
            # The last request's child, killed, may not be reaped yet: nothing is left of it to reach.
            return json.dumps({pid: ways for pid, ways in reached.items() if not dead(pid)})
    """
    assert_serves_hello()
    assert_serves_hello()  # the next request runs in a child made in advance, with the one after it forked
    assert len(pool.spare_pids()) == 2  # that one forked by now (the zygote says so once it is): both exist
    reached = json.loads(text_of(run_script(script)))
    spare, *_ = pool.spare_pids()  # the process that was forked in advance then, and took its user since
    assert str(spare) in reached
    assert reached == {pid: [] for pid in reached}
    assert_serves_hello()


@pytest.mark.skipif(os.geteuid() != 0, reason="children get a user of their own only under root")
def test_a_descriptor_of_scratch_space_passed_to_another_request_reaches_no_later_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A request's scratch space is reused for a later child when the request left nothing in it. A request
    # that hands a descriptor of its /tmp to another one (of another account, running longer) over an abstract
    # unix socket leaves nothing there, but that other request would then see a later request's files.
    socket_name = f"httpep-holder-{os.urandom(6).hex()}"
    secret = f"secret-{os.urandom(6).hex()}"
    holder = f"""
        import os, socket, time

        def handler(request):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
                listener.bind("\\0{socket_name}")
                listener.listen(1)
                listener.settimeout(3)
                try:
                    connection, _ = listener.accept()
                except OSError:
                    return "no descriptor came"
                _, fds, _, _ = socket.recv_fds(connection, 16, 1)
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                for name in os.listdir(fds[0]):
                    if name.startswith("{secret}"):
                        return "found " + name
                time.sleep(0.005)
            return "found nothing"
    """
    passer = f"""
        import os, socket

        def handler(request):
            tmp = os.open("/tmp", os.O_RDONLY | os.O_DIRECTORY)
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                    connection.connect("\\0{socket_name}")
                    socket.send_fds(connection, [b"x"], [tmp])
            except OSError as exc:
                return f"not passed ({{exc}})"
            return "passed"
    """
    victim = f"""
        import os

        def handler(request):
            open(os.path.join("/tmp", "{secret}-" + os.urandom(4).hex()), "w").close()
            return "written"
    """
    found: list[dict[str, object]] = []
    monkeypatch.setenv(CHILD_UID_VARIABLE, "64053")  # the holder: another account's user
    thread = threading.Thread(target=lambda: found.append(run_script(holder, timeout=20)))
    thread.start()
    deadline = time.monotonic() + 10
    while f"@{socket_name}" not in Path("/proc/net/unix").read_text() and time.monotonic() < deadline:
        time.sleep(0.01)
    monkeypatch.delenv(CHILD_UID_VARIABLE)
    text_of(run_script(passer))
    for _ in range(4):
        assert text_of(run_script(victim)) == "written"
    thread.join()
    assert not text_of(found[0]).startswith("found " + secret)
