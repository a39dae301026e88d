"""A hostile tenant against other requests, in the mode where the attacks worked: the sandbox function's
process runs as an unprivileged user, as on Lambda, so the handler runs as that same user (it may signal,
and read the files of, everything of its user), with a private /tmp, and one warm environment serving
several accounts' requests in turn (and with tenant isolation: one environment per account, where the
victim is a later request of the attacker's own account).

Each attack plants a process that outlives its request the classic way: a double fork with setsid, every
descriptor closed, and the zygote killed so that no subreaper holds the orphan.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from httpendpoint.sandbox import processes
from httpendpoint.sandbox.limits import SCRATCH_LIMIT_BYTES
from tests.support.events import api_event
from tests.support.lambda_like import Environment, LambdaLikeService, can_run, fresh_uid
from tests.support.sandbox import HELLO, KEYRINGS, body_of, kernel_state_scripts, sysv_script

pytestmark = [
    pytest.mark.serial,
    pytest.mark.skipif(not can_run(), reason="a Lambda-like environment needs root to get a user of its own"),
]

ATTACKER, VICTIM = "mallory", "alice"


@pytest.fixture(params=[False, True], ids=["shared-environment", "tenant-isolation"])
def service(request: pytest.FixtureRequest) -> Iterator[LambdaLikeService]:
    service = LambdaLikeService(tenancy=request.param)
    try:
        yield service
    finally:
        service.close()


def victim_of(service: LambdaLikeService) -> str:
    """Another account where environments are shared; with tenant isolation, the attacker's own next request."""
    return ATTACKER if service.tenancy else VICTIM


@contextlib.contextmanager
def loot_for(uid: int) -> Iterator[Path]:
    """Where a planted process drops what it got: owned by the attacker's user, outside every swept place."""
    directory = Path(f"/run/httpep-loot-{secrets.token_hex(6)}")
    directory.mkdir(mode=0o700)
    os.chown(directory, uid, uid)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def loot(service: LambdaLikeService) -> Iterator[Path]:
    with loot_for(service.environment(ATTACKER).uid) as directory:
        yield directory


def text(outcome: dict[str, object]) -> str:
    return body_of(outcome).decode()


def plant(body: str, seconds: float = 8.0, pid_file: str = "/dev/null") -> str:
    """A handler that leaves a daemon running `body` (a loop step; `root` is the sandbox root, `sandbox`
    the sandbox function's pid), writes the daemon's pid to `pid_file`, kills the zygote and returns the
    pid (if it lives that long: the zygote's death kills it)."""
    step = textwrap.indent(textwrap.dedent(body), " " * 28)
    return f"""
        import os, signal, time

        def handler(request):
            read, write = os.pipe()
            zygote = os.getppid()
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    os.write(write, str(os.getpid()).encode())
                    os.closerange(0, 1024)
                    root = os.path.dirname(os.getcwd())
                    with open(f"/proc/{{zygote}}/stat") as stat:
                        sandbox = int(stat.read().rsplit(")", 1)[1].split()[1])
                    deadline = time.monotonic() + {seconds}
                    while time.monotonic() < deadline:
                        try:
{step}
                        except Exception:
                            pass
                        time.sleep(0.002)
                    os._exit(0)
                os._exit(0)
            pid = os.read(read, 32).decode()
            with open("{pid_file}", "w") as report:
                report.write(pid)
            os.kill(zygote, signal.SIGKILL)
            return pid
    """


def assert_gone(pid: int) -> None:
    state = processes.info(pid)
    assert state is None or state.state in ("Z", "X"), f"process {pid} outlived its request: {state}"


def test_a_daemonized_grandchild_dies_with_its_request_even_when_the_zygote_is_killed(
    service: LambdaLikeService, loot: Path
) -> None:
    # The pid goes to a file: the handler may not live to answer (the zygote's death kills it).
    service.invoke(ATTACKER, plant("pass", pid_file=f"{loot}/pid"))
    daemon = int((loot / "pid").read_text())
    assert_gone(daemon)
    assert service.ended  # the zygote died: the environment serves no further request
    assert text(service.invoke(victim_of(service), HELLO)) == "Hello World"


def test_a_planted_process_cannot_read_the_next_requests_files(service: LambdaLikeService, loot: Path) -> None:
    spy = f"""
        for entry in os.scandir(root):
            for name in os.listdir(entry.path):
                with open(os.path.join(entry.path, name)) as found, open("{loot}/read", "a") as out:
                    out.write(found.read())
    """
    service.invoke(ATTACKER, plant(spy))
    secret = secrets.token_hex(16)
    victim = f"""
        import time

        def handler(request):
            open("token", "w").write("{secret}")
            time.sleep(0.5)
            return "ok"
    """
    assert text(service.invoke(victim_of(service), victim)) == "ok"
    assert not (loot / "read").exists() or secret not in (loot / "read").read_text()


def test_a_planted_process_cannot_plant_aws_config_in_the_next_requests_home(
    service: LambdaLikeService, loot: Path
) -> None:
    spy = """
        for entry in os.scandir(root):
            os.makedirs(os.path.join(entry.path, ".aws"), exist_ok=True)
            with open(os.path.join(entry.path, ".aws", "config"), "w") as config:
                config.write("[default]\\nendpoint_url = http://127.0.0.1:9\\n")
    """
    service.invoke(ATTACKER, plant(spy))
    victim = """
        import os, time

        def handler(request):
            time.sleep(0.5)
            return str(os.path.exists(os.path.expanduser("~/.aws/config")))
    """
    assert text(service.invoke(victim_of(service), victim)) == "False"


def test_a_planted_process_cannot_kill_the_next_requests(service: LambdaLikeService) -> None:
    killer = """
        me = os.getpid()
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) in (me, sandbox):
                continue
            try:
                with open(f"/proc/{name}/status") as status:
                    fields = dict(line.split(":", 1) for line in status.read().splitlines() if ":" in line)
                if int(fields["Uid"].split()[0]) == os.getuid() and int(fields["PPid"]) != sandbox:
                    os.kill(int(name), signal.SIGKILL)  # spare the sandbox and its zygotes: kill their children
            except (OSError, KeyError, ValueError):
                pass
    """
    service.invoke(ATTACKER, plant(killer))
    slow_hello = "import time\n\ndef handler(request):\n    time.sleep(0.3)\n    return 'Hello World'\n"
    for _ in range(3):
        assert text(service.invoke(victim_of(service), slow_hello)) == "Hello World"


THIEF = """
import ctypes, os, stat, sys, time

PIDFD_GETFD = 438
libc = ctypes.CDLL(None, use_errno=True)
loot, deadline, seen = sys.argv[1], time.monotonic() + float(sys.argv[2]), set()
while time.monotonic() < deadline:
    for name in os.listdir("/proc"):
        if not name.isdigit() or name in seen:
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as cmdline:
                if b"zygote_server" not in cmdline.read():
                    continue
            pidfd = os.pidfd_open(int(name))
        except OSError:
            continue
        for fd in range(3, 16):
            stolen = libc.syscall(PIDFD_GETFD, pidfd, fd, 0)
            if stolen >= 0:
                if stat.S_ISSOCK(os.fstat(stolen).st_mode):
                    with open(loot, "a") as out:
                        out.write(f"socket {fd} of {name}\\n")
                os.close(stolen)
        os.close(pidfd)
    time.sleep(0.001)
"""


def test_a_starting_zygote_holds_no_socket_a_process_of_its_user_could_take() -> None:
    uid = fresh_uid()
    with loot_for(uid) as loot:
        environment = Environment(uid)
        thief = os.fork()
        if thief == 0:  # no exec: the interpreter may be out of this user's reach
            try:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                sys.argv = ["thief", str(loot / "stolen"), "30"]
                exec(THIEF, {})
            finally:
                os._exit(0)
        try:
            time.sleep(0.3)  # the thief is watching before the zygote starts
            event = api_event("router")
            payload = {"script": textwrap.dedent(HELLO), "script_path": "/a/b.py", "event": event, "timeout": 10}
            assert text(environment.invoke(payload).outcome) == "Hello World"
            assert not (loot / "stolen").exists(), (loot / "stolen").read_text()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(thief, signal.SIGKILL)
            os.waitpid(thief, 0)
            environment.close()
            processes.kill_user(uid, (), timeout=5)


def test_files_in_the_sandbox_root_outside_the_request_are_removed(service: LambdaLikeService) -> None:
    name = f"planted-{secrets.token_hex(4)}"
    planter = f"""
        import os

        def handler(request):
            open(os.path.join(os.path.dirname(os.getcwd()), "{name}"), "w").write("x")
            return "planted"
    """
    assert text(service.invoke(ATTACKER, planter)) == "planted"
    finder = f"""
        import os

        def handler(request):
            return str(os.path.exists(os.path.join(os.path.dirname(os.getcwd()), "{name}")))
    """
    assert text(service.invoke(victim_of(service), finder)) == "False"


def test_filling_tmp_leaves_the_next_request_its_room(service: LambdaLikeService) -> None:
    filler = """
        import os

        def handler(request):
            root = os.path.dirname(os.getcwd())
            chunk = b"x" * (1 << 20)
            for n in range(64):
                try:
                    with open(os.path.join(root, f"fill-{n}"), "wb") as f:
                        for _ in range(16):
                            f.write(chunk)
                except OSError as exc:
                    return f"full after {n}: {exc.errno}"
            return "not full"
    """
    filled = service.invoke(ATTACKER, filler)
    # Stopped once over its share of /tmp (if the file system did not fill up first).
    assert filled["outcome"] == "crashed" or text(filled).startswith("full after"), filled
    writer = """
        def handler(request):
            chunk = b"y" * (1 << 20)
            for n in range(3):
                with open(f"mine-{n}", "wb") as f:
                    for _ in range(16):
                        f.write(chunk)
            return "written"
    """
    assert text(service.invoke(victim_of(service), writer)) == "written"


def test_a_request_that_writes_more_than_its_share_of_tmp_is_stopped(service: LambdaLikeService) -> None:
    # Each file stays under the per-file limit; together they pass the request's share of /tmp.
    limit_mib = SCRATCH_LIMIT_BYTES >> 20
    hog = f"""
        import time

        def handler(request):
            chunk = b"x" * (1 << 20)
            for n in range({limit_mib // 8 + 2}):
                with open(f"hog-{{n}}", "wb") as f:
                    for _ in range(8):
                        f.write(chunk)
            time.sleep(2)
            return "kept it all"
    """
    outcome = service.invoke(ATTACKER, hog)
    assert outcome == {
        "outcome": "crashed",
        "error": f"the request wrote more than {limit_mib} MiB to /tmp and was stopped",
        "logs": "",
    }
    assert not service.ended  # its files are removed as any request's are: the environment serves on
    assert text(service.invoke(ATTACKER, HELLO)) == "Hello World"


def test_system_v_ipc_objects_do_not_outlive_their_request(service: LambdaLikeService) -> None:
    script = sysv_script()
    creating = api_event("router", query={"create": ["1"]})
    assert text(service.invoke(ATTACKER, script, event=creating)) == "True True True"
    assert text(service.invoke(victim_of(service), script)) == "False False False"


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="system call numbers of x86_64")
def test_keys_and_message_queues_do_not_outlive_their_request(service: LambdaLikeService) -> None:
    # The kernel keeps a user's keys and POSIX message queues after its last process exits, and shows them in
    # no directory: on Lambda the handler's user is the function's own, the same for every request.
    plant, look = kernel_state_scripts(f"httpep-left-{secrets.token_hex(6)}")
    assert set(KEYRINGS) <= set(text(service.invoke(ATTACKER, plant)).split())
    assert text(service.invoke(victim_of(service), look)) == ""


def test_files_hidden_by_resetting_their_directorys_modification_time_are_removed(service: LambdaLikeService) -> None:
    # The cleanup reads only the directories whose modification time changed; /tmp and the sandbox root are
    # the handler's own user's, so it can set that time back to what it was before it wrote there.
    name = f"planted-{secrets.token_hex(4)}"
    planter = f"""
        import os, time

        def handler(request):
            for directory in ("/tmp", os.path.dirname(os.getcwd())):
                before = os.stat(directory)
                with open(os.path.join(directory, "{name}"), "w") as f:
                    f.write("for the next request")
                os.utime(directory, ns=(before.st_atime_ns, before.st_mtime_ns))
            time.sleep(0.2)  # older than the cleanup's look at anything that changed a moment ago
            return "planted"
    """
    finder = f"""
        import os

        def handler(request):
            places = ("/tmp", os.path.dirname(os.getcwd()))
            return " ".join(place for place in places if os.path.exists(os.path.join(place, "{name}")))
    """
    assert text(service.invoke(ATTACKER, HELLO)) == "Hello World"  # the next request's child is made in advance
    assert text(service.invoke(ATTACKER, planter)) == "planted"
    assert text(service.invoke(victim_of(service), finder)) == ""
