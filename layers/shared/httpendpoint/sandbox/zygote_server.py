"""The zygote: a clean, warm Python process that forks one fresh child per sandboxed request.

The sandbox starts it (`python -m httpendpoint.sandbox.zygote_server <name>`) with an environment that holds no
credentials, so /proc/<pid>/environ of the zygote and of every child is clean. It holds no descriptor of the
sandbox's when it starts: it first makes itself non-dumpable (so that no process of its user can take a
descriptor of it with pidfd_getfd, or trace it), and only then connects to the sandbox's abstract socket
<name>, where the sandbox accepts nothing but the zygote's own pid. It imports Flask, Werkzeug and apig-wsgi
once, then serves its control socket (SOCK_SEQPACKET, one JSON message each way per event):

    sandbox -> zygote  {"workdir", "uid", "gid", "cpu_seconds", "cgroups"} + fds [request, result pipe, log pipe]
    zygote -> sandbox  {"ready": pid} once warm, then per request {"pid": child} and {"exit": child, "status": s}

It never reads a request: a child is a copy of the zygote's memory, so whatever the zygote held would be
readable by the next account's handler. The child reads the request from its own descriptor.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import resource
import select
import signal
import socket
import sys
import tempfile
import traceback
from typing import Any, NoReturn

from httpendpoint.sandbox import linux, mounts, processes, scratch
from httpendpoint.sandbox.limits import (
    FILE_SIZE_LIMIT_BYTES,
    MEMORY_LIMIT_BYTES,
    OPEN_FILES_LIMIT,
    PROCESS_LIMIT,
    SCRATCH_FILES_LIMIT,
    SCRATCH_LIMIT_BYTES,
)

RESULT_FD = 3
# Exit statuses of a child that never got as far as running the handler, or could not report.
EXIT_SETUP_FAILED = 70
EXIT_RESULT_UNWRITABLE = 71


def _send(control: socket.socket, message: dict[str, Any]) -> None:
    control.send(json.dumps(message).encode())


def main() -> None:
    # Non-dumpable before we hold any socket: on Lambda a child runs as this same user and must neither
    # ptrace the zygote (and so poison every later child) nor take its control socket with pidfd_getfd.
    # Subreaper: orphans of a request, even after setsid, stay findable as our children.
    linux.set_dumpable(False)
    linux.set_child_subreaper()
    control = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    control.connect("\0" + sys.argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C of a test run reaches the whole process group

    from httpendpoint.sandbox import child_run

    child_run.warm_up()
    places: list[str] | None = None  # where a private scratch file system goes; None: not possible here
    if os.geteuid() == 0:
        _expose_interpreter()
        places = mounts.scratch_places(scratch.world_writable_dirs())
    home = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    gc.freeze()  # children never scan (and so never copy) the zygote's objects

    wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.set_wakeup_fd(wake_write)
    _send(control, {"ready": os.getpid()})
    children: set[int] = set()
    # The sandbox root for which this process's mount namespace holds a fresh scratch tmpfs, if any.
    prepared: str | None = None
    try:
        while True:
            ready, _, _ = select.select([control.fileno(), wake_read], [], [])
            if wake_read in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_read, 4096)
                _reap(control, children)
            if control.fileno() in ready:
                message, fds, _, _ = socket.recv_fds(control, 65536, 3)
                if not message:
                    return  # the sandbox is gone
                header = json.loads(message)
                root = os.path.dirname(header["workdir"])
                if places is not None and header["uid"] is not None and prepared != root:
                    prepared, places = _fresh_scratch(home, root, places)
                zygote = os.getpid()
                pid = os.fork()
                if pid == 0:
                    _child(control, zygote, header, fds)
                for fd in fds:
                    os.close(fd)
                children.add(pid)
                _send(control, {"pid": pid})
                if prepared is not None:
                    # While the child runs, out of its namespace (the child's alone now) into the next one's.
                    prepared, places = _fresh_scratch(home, prepared, places)
    except (BrokenPipeError, ConnectionResetError):
        return
    finally:
        # Nothing outlives the zygote: not a running request, not an orphan.
        for child in children:
            processes.kill_group(child)
        processes.kill_children(os.getpid(), timeout=2.0, reap=True)


def _reap(control: socket.socket, children: set[int]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid in children:
            children.discard(pid)
            _send(control, {"exit": pid, "status": status})


def _interpreter_paths() -> list[str]:
    """What a child needs to import: sys.path and the interpreter's directory (as named and as resolved)."""
    return [*sys.path, os.path.dirname(sys.executable), os.path.dirname(os.path.realpath(sys.executable))]


def _expose_interpreter() -> None:
    """Children will run as another user: let them reach sys.path, in a mount namespace they all share with us."""
    exposures = mounts.needed_exposures(sys.path)
    if exposures:
        try:
            mounts.expose(exposures)
        except OSError as exc:  # e.g. a container without CAP_SYS_ADMIN: imports from there will fail
            print(f"zygote: {', '.join(exposures)} stays out of the handlers' reach ({exc})", file=sys.stderr)


def _fresh_scratch(home: int, root: str, places: list[str] | None) -> tuple[str | None, list[str] | None]:
    """A private scratch namespace for the next child (see mounts.fresh_scratch), or none ever again where
    the kernel refuses it (a container without CAP_SYS_ADMIN): children then write where the sandbox sweeps."""
    if places is None:
        return None, None
    try:
        mounts.fresh_scratch(home, root, places, SCRATCH_LIMIT_BYTES, SCRATCH_FILES_LIMIT, keep=_interpreter_paths())
        return root, places
    except OSError as exc:
        linux.setns(home)  # never a namespace half made, nor the last child's
        print(f"zygote: no private scratch space per request ({exc})", file=sys.stderr)
        return None, None


def _child(control: socket.socket, zygote: int, header: dict[str, Any], fds: list[int]) -> NoReturn:
    status = EXIT_SETUP_FAILED
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        # Closed below with every other inherited descriptor; detached so that the object never closes
        # that number later, when it may belong to a file the handler opened.
        control.detach()
        os.setsid()  # its own process group and session: one killpg takes the request's processes
        request_fd, result_fd, log_fd = fds
        request = _read_all(request_fd)
        os.close(request_fd)
        _arrange_descriptors(result_fd, log_fd)
        _make_workdir(header)
        _enter_workdir(header["workdir"])
        _limit_resources(int(header["cpu_seconds"]))
        _join_groups(header.get("cgroups") or [])
        _become(header["uid"], header["gid"])
        # Only now: a change of user clears the parent-death signal.
        linux.kill_me_with_parent()
        if os.getppid() != zygote:  # the zygote died before that took effect
            os._exit(status)

        from httpendpoint.sandbox import child_run

        result = child_run.run(request)
        status = EXIT_RESULT_UNWRITABLE
        _write_all(RESULT_FD, result)
        status = 0
    except BaseException:
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
    if status == 0:
        # Done: the sandbox sees both pipes end now, not after this process's memory is torn down.
        os.closerange(1, RESULT_FD + 1)
    os._exit(status)


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    chunks = []
    offset = 0
    while offset < size:
        chunk = os.pread(fd, size - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _arrange_descriptors(result_fd: int, log_fd: int) -> None:
    """stdin from /dev/null, stdout and stderr into the log pipe, the result pipe at 3, nothing else open."""
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    if result_fd != RESULT_FD:
        os.dup2(result_fd, RESULT_FD, inheritable=False)
    os.set_inheritable(RESULT_FD, False)
    os.closerange(RESULT_FD + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    # Line-buffered, so what was printed before a kill (a timeout) still reaches the logs.
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), errors="backslashreplace", line_buffering=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), errors="backslashreplace", write_through=True)


def _make_workdir(header: dict[str, Any]) -> None:
    """Under root the sandbox only names the work dir: the child makes it, as root, for its user. Born in a
    fresh private scratch namespace (see mounts.fresh_scratch), it lands on that namespace's capped tmpfs,
    as do /tmp and every world-writable directory; without one, where the sandbox sweeps."""
    if os.geteuid() != 0 or header["uid"] is None:
        return
    os.mkdir(header["workdir"], 0o700)
    os.chown(header["workdir"], header["uid"], header["gid"], follow_symlinks=False)


def _enter_workdir(path: str) -> None:
    os.chdir(path)
    os.environ["HOME"] = os.environ["TMPDIR"] = path
    tempfile.tempdir = path


def _limit_resources(cpu_seconds: int) -> None:
    limits = (
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_AS, MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES),
        (resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT_BYTES, FILE_SIZE_LIMIT_BYTES),
        (resource.RLIMIT_NOFILE, OPEN_FILES_LIMIT, OPEN_FILES_LIMIT),
        (resource.RLIMIT_NPROC, PROCESS_LIMIT, PROCESS_LIMIT),
        # A backstop only (the sandbox enforces the deadline from outside): SIGXCPU, and SIGKILL a second later.
        (resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 1),
    )
    for kind, soft, hard in limits:
        _, current = resource.getrlimit(kind)
        if current != resource.RLIM_INFINITY:  # an unprivileged process may lower a hard limit, never raise it
            soft, hard = min(soft, current), min(hard, current)
        resource.setrlimit(kind, (soft, hard))


def _join_groups(procs_files: list[str]) -> None:
    """Into the request's control groups (as root, before the change of user): nothing it starts leaves them."""
    for procs in procs_files:
        with open(procs, "w") as join:
            join.write("0")


def _become(uid: int | None, gid: int | None) -> None:
    if uid is not None and gid is not None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    linux.set_no_new_privs()  # no setuid binary can hand the privileges back
    # Another request's leftover (same user on Lambda, the same account's user locally) must not ptrace this child.
    linux.set_dumpable(False)


if __name__ == "__main__":
    main()
