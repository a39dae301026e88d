"""The zygote: a clean, warm Python process that forks one fresh child per sandboxed request.

The sandbox starts it (`python -m httpendpoint.sandbox.zygote_server <name>`) with an environment that holds no
credentials, so /proc/<pid>/environ of the zygote and of every child is clean. It holds no descriptor of the
sandbox's when it starts: it first makes itself non-dumpable (so that no process of its user can take a
descriptor of it with pidfd_getfd, or trace it), and only then connects to the sandbox's abstract socket
<name>, where the sandbox accepts nothing but the zygote's own pid. It imports Flask, Werkzeug and apig-wsgi
once, then serves its control socket (SOCK_SEQPACKET, one JSON message each way per event):

    sandbox -> zygote  {"workdir", "uid", "gid", "cgroups", "cpu_seconds"} + fds [request, result pipe, log pipe]
                       or {"spare": header without "cpu_seconds", "following": cgroups}: the next request's
                       child now, and (under root) the one after it forked already into `following`
    zygote -> sandbox  {"ready": pid, "places": [...] | null} once warm; per request {"pid": child, "private": b}
                       or per spare {"spare": child, "private": b} + fd [the spare's channel] (0 and no fd:
                       none) then {"blank": pid} (the one after it, if asked for); and for children and
                       spares {"exit": child, "status": s} once it is reaped

A spare child is forked and joins its control groups (under root a request in advance: as root, out of
that request's reach), then gets its header once the previous request's processes are gone, makes its
work dir, is limited and given its user before its request exists, off any request's path; it then waits
on its channel, whose other end the sandbox holds, for {"cpu_seconds"} + fds [request, result pipe, log
pipe] (or for the channel to close: not needed), and never sees another request. "private": the child has
scratch space of its own (under root; see mounts.fresh_scratch).

It never reads a request: a child is a copy of the zygote's memory, so whatever the zygote held would be
readable by the next account's handler. The child reads the request from its own descriptor.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import select
import signal
import socket
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from typing import Any, NoReturn

from httpendpoint.sandbox import ipc, linux, mounts, processes, scratch, shared_objects
from httpendpoint.sandbox.limits import (
    FILE_SIZE_LIMIT_BYTES,
    MEMORY_LIMIT_BYTES,
    OPEN_FILES_LIMIT,
    PROCESS_LIMIT,
    SCRATCH_FILES_LIMIT,
    SCRATCH_LIMIT_BYTES,
)

RESULT_FD = 3
# Exit statuses of a child that never got as far as running the handler (the sandbox tells a child that
# never read its request from the offset of the request's file), or could not report.
EXIT_SETUP_FAILED = 70
EXIT_RESULT_UNWRITABLE = 71
# Scratch namespaces kept ready for the next children, and how often, while a finished request's namespace
# waits for its killed processes to exit, it is checked again.
MAX_READY_SCRATCH = 2
IDLE_RECHECK_SECONDS = 0.001
# How long a finished request's killed processes may take to exit before its namespace is given up.
SETTLE_SECONDS = 1.0
# Whether children are kept from passing descriptors to other requests (see linux.scope_abstract_sockets):
# only then may a namespace a request left nothing in be reused, since a descriptor of its scratch space held
# by another request (of another account, still running) would reach the next child born in it. Set in main.
_scoped = False


def _send(control: socket.socket, message: dict[str, Any]) -> None:
    control.send(json.dumps(message).encode())


@dataclass
class _Scratch:
    """A private scratch namespace (see mounts.fresh_scratch), the IPC namespace made with it (System V
    objects: POSIX message queues are refused to children, see _limit_resources), and what it held when made."""

    namespace: int  # a descriptor of it
    ipc: int  # a descriptor of its IPC namespace
    root: str  # the sandbox root it was made for
    free: tuple[int, int]  # free inodes and blocks of its file system, when fresh
    workdir: str | None = None  # the work dir of the last child born in it

    def enter(self) -> None:
        linux.setns(self.namespace)
        linux.setns(self.ipc, linux.CLONE_NEWIPC)

    def close(self) -> None:
        os.close(self.namespace)
        os.close(self.ipc)


@dataclass
class _Blank:
    """A spare's process before its header: forked, in its control groups and scratch namespace."""

    pid: int
    channel: socket.socket  # the sandbox's end, until it has the header
    cgroups: list[str]
    space: _Scratch | None

    def fits(self, header: dict[str, Any], server: _Server) -> bool:
        if self.pid not in server.children or self.cgroups != (header.get("cgroups") or []):
            return False
        private = server.places is not None and header["uid"] is not None
        if self.space is None:
            return not private
        return private and self.space.root == os.path.dirname(header["workdir"])


class _Server:
    def __init__(self, control: socket.socket, home: tuple[int, int], places: list[str] | None) -> None:
        self.control = control
        self.home, self.home_ipc = home  # the mount and IPC namespaces the zygote started in, never a child's
        self.places = places  # where a private scratch file system goes; None: not possible here
        self.root: str | None = None  # the sandbox root of the last private child
        # Private scratch namespaces: the last child's; those whose request is over, with the zygote's
        # children at that time (the request's processes among them, killed); and those ready for a child.
        self.current: _Scratch | None = None
        self.pending: list[tuple[_Scratch, set[int], float]] = []
        self.ready: list[_Scratch] = []
        self.children: set[int] = set()
        self.blank: _Blank | None = None  # the next spare's process, before its header

    def order(self, message: bytes, fds: list[int]) -> None:
        """Every order comes once the last request's processes are gone (the sandbox killed them first)."""
        if self.current is not None:
            self.pending.append((self.current, set(self.children), time.monotonic() + SETTLE_SECONDS))
            self.current = None
        order = json.loads(message)
        if "spare" not in order:
            pid, private = self.fork(order, fds)
            for fd in fds:
                os.close(fd)
            _send(self.control, {"pid": pid, "private": private})
            return
        header = order["spare"]
        blank, self.blank = self.blank, None
        if blank is not None and not blank.fits(header, self):
            self.discard(blank)
            blank = None
        if blank is None:
            blank = self.fork_blank(header, header.get("cgroups") or [])
        # The spare's channel goes to the sandbox, which hands it the request itself: the zygote stays off
        # the request's path. Its header first, from here: the request's processes are gone now.
        if blank.space is not None:
            blank.space.workdir = header["workdir"]
            self.current = blank.space
        message = json.dumps({"spare": blank.pid, "private": blank.space is not None}).encode()
        with blank.channel:
            try:
                blank.channel.send(json.dumps(header).encode())
                socket.send_fds(self.control, [message], [blank.channel.fileno()])
            except OSError:  # the blank died: the sandbox forks a child for the request
                _send(self.control, {"spare": 0, "private": False})
        if order.get("following") and header["uid"] is not None:
            # The next spare's process, in the control groups the request just left: as root it is out of
            # reach of the next request's processes, and it takes its header only after them.
            self.blank = self.fork_blank(header, order["following"])
            _send(self.control, {"blank": self.blank.pid})

    def fork_blank(self, header: dict[str, Any], cgroups: list[str]) -> _Blank:
        """A process for a spare, in its scratch namespace; it joins its control groups itself (joining is
        slow: the zygote goes on meanwhile), then waits for its header on its channel."""
        space = self.scratch_for(header)
        sandbox_end, blank_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with blank_end:
            if space is not None:
                space.enter()
            zygote = os.getpid()
            pid = os.fork()
            if pid == 0:
                _child(self.control, zygote, None, [], blank_end, cgroups)
            self.children.add(pid)
            if space is not None:
                self.leave()  # out of its namespaces: the blank's now
        return _Blank(pid, sandbox_end, list(cgroups), space)

    def discard(self, blank: _Blank) -> None:
        """A blank not needed: it exits (its channel closes), and its namespace is recycled once it is gone."""
        blank.channel.close()
        if blank.pid in self.children:  # not reaped yet: the pid is still its own
            os.kill(blank.pid, signal.SIGKILL)
        if blank.space is not None:
            self.pending.append((blank.space, {blank.pid}, time.monotonic() + SETTLE_SECONDS))

    def fork(self, header: dict[str, Any], fds: list[int]) -> tuple[int, bool]:
        space = self.scratch_for(header)
        if space is not None:
            space.enter()
            space.workdir = header["workdir"]
        zygote = os.getpid()
        pid = os.fork()
        if pid == 0:
            _child(self.control, zygote, header, fds, None, header.get("cgroups") or [])
        self.children.add(pid)
        if space is not None:
            self.leave()  # out of its namespaces: the child's alone now
            self.current = space
        return pid, space is not None

    def scratch_for(self, header: dict[str, Any]) -> _Scratch | None:
        """A private scratch namespace for the next child: one whose last child left nothing (see
        _untouched), else a fresh one; none, ever again, where the kernel refuses it (a container without
        CAP_SYS_ADMIN): children then write where the sandbox sweeps."""
        if self.places is None or header["uid"] is None:
            return None
        self.root = os.path.dirname(header["workdir"])
        self.recycle()
        while self.ready:
            space = self.ready.pop()
            if space.root == self.root:
                return space
            space.close()
        return self.fresh(self.root)

    def fresh(self, root: str) -> _Scratch | None:
        assert self.places is not None
        try:
            mounts.fresh_scratch(
                self.home, root, self.places, SCRATCH_LIMIT_BYTES, SCRATCH_FILES_LIMIT, keep=_interpreter_paths()
            )
            usage = os.statvfs(root)
            namespace = _own_namespace("mnt")
            try:
                linux.unshare_ipc()
                ipc_namespace = _own_namespace("ipc")
            except OSError:
                os.close(namespace)
                raise
        except OSError as exc:
            print(f"zygote: no private scratch space per request ({exc})", file=sys.stderr)
            self.places = None
            return None
        finally:
            self.leave()  # never in a namespace half made, or one no child is born in yet
        return _Scratch(namespace, ipc_namespace, root, (usage.f_ffree, usage.f_bfree))

    def leave(self) -> None:
        linux.setns(self.home)
        linux.setns(self.home_ipc, linux.CLONE_NEWIPC)

    def recycle(self) -> None:
        """Namespaces whose request is over back to ready if untouched; given up if touched once all the
        request's processes have been reaped (until then, one on its way out may hold the work dir)."""
        waiting = []
        for space, born, deadline in self.pending:
            space.enter()
            try:
                clean = _untouched(space)
            finally:
                self.leave()
            if clean and _scoped and len(self.ready) < MAX_READY_SCRATCH:
                self.ready.append(space)
            elif not clean and born & self.children and time.monotonic() < deadline:
                waiting.append((space, born, deadline))
            else:
                space.close()
        self.pending = waiting

    def idle_timeout(self) -> float | None:
        """How long to wait for an order before `idle` has something to do, or None: nothing to do."""
        if self.places is None or self.root is None:
            return None
        if not self.ready and not self.pending:
            return 0
        return IDLE_RECHECK_SECONDS if self.pending else None

    def idle(self) -> None:
        """While nobody waits: check the namespaces of finished requests, and have one ready."""
        self.recycle()
        if not self.ready and not self.pending and self.places is not None and self.root is not None:
            space = self.fresh(self.root)
            if space is not None:
                self.ready.append(space)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.children:
                self.children.discard(pid)
                _send(self.control, {"exit": pid, "status": status})

    def close(self) -> None:
        """Nothing outlives the zygote: not a running request, not an orphan, not a spare."""
        for child in self.children:
            processes.kill_group(child)
        processes.kill_children(os.getpid(), timeout=2.0, reap=True)


def _own_namespace(kind: str) -> int:
    """A descriptor of this process's namespace of `kind` ("mnt", "ipc"), to come back to or send a child into."""
    return os.open(f"/proc/self/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)


def _untouched(space: _Scratch) -> bool:
    """In `space`'s namespaces: no System V object, its last child's work dir removed if empty, and then
    nothing in its file system that was not there when it was made. A child cannot remove or rename what the
    namespace was made with (root's, in sticky or unwritable directories, or mount points), and everything it
    makes, a hard link included, takes an inode: the same free inodes and blocks mean that nothing is left."""
    if ipc.any_exist():
        return False
    if space.workdir is not None:
        parent = os.open(space.root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.rmdir(os.path.basename(space.workdir), dir_fd=parent)
        except FileNotFoundError:
            pass  # the child never got as far as making it
        except OSError:
            return False
        finally:
            os.close(parent)
    usage = os.statvfs(space.root)
    return (usage.f_ffree, usage.f_bfree) == space.free


# CPython specializes an instruction on its second run, and writes it into its code object: a code page a child
# would copy. Run twice here, the request path's code is specialized before any fork (about 25 pages fewer per
# child, of about 520).
WARM_UPS = 2


def warm_up() -> None:
    """Import and run the request and response machinery, so that children find it ready."""
    from httpendpoint.sandbox import child_run

    for _ in range(WARM_UPS):
        child_run.warm_up()


def main() -> None:
    # Non-dumpable before we hold any socket: on Lambda a child runs as this same user and must neither
    # ptrace the zygote (and so poison every later child) nor take its control socket with pidfd_getfd.
    # Subreaper: orphans of a request, even after setsid, stay findable as our children.
    linux.set_dumpable(False)
    linux.set_child_subreaper()
    global _scoped
    _scoped = linux.can_scope_abstract_sockets()
    control = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    control.connect("\0" + sys.argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C of a test run reaches the whole process group

    with shared_objects.built_for_children():  # children copy as few of the zygote's pages as they can
        warm_up()
        places: list[str] | None = None
        if os.geteuid() == 0:
            _expose_interpreter()
            places = mounts.scratch_places(scratch.world_writable_dirs())
        server = _Server(control, (_own_namespace("mnt"), _own_namespace("ipc")), places)

    wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.set_wakeup_fd(wake_write)
    _send(control, {"ready": os.getpid(), "places": places})
    try:
        while True:
            ready, _, _ = select.select([control.fileno(), wake_read], [], [], server.idle_timeout())
            if not ready:
                server.idle()
                continue
            if wake_read in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_read, 4096)
                server.reap()
            if control.fileno() in ready:
                message, fds, _, _ = socket.recv_fds(control, 65536, 3)
                if not message:
                    return  # the sandbox is gone
                server.order(message, fds)
    except (BrokenPipeError, ConnectionResetError):
        return
    finally:
        server.close()


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


def _child(
    control: socket.socket,
    zygote: int,
    header: dict[str, Any] | None,
    fds: list[int],
    channel: socket.socket | None,
    groups: list[str],
) -> NoReturn:
    """Join the request's control groups `groups`, set up as `header` says (a spare: as the header that comes
    first on `channel`), then (a spare) wait on `channel` for the request's descriptors, and run it."""
    status = EXIT_SETUP_FAILED
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        # Closed below with every other inherited descriptor; detached so that the object never closes
        # that number later, when it may belong to a file the handler opened.
        control.detach()
        os.setsid()  # its own process group and session: one killpg takes the request's processes
        _close_all_but({*fds, *([channel.fileno()] if channel is not None else [])})
        # As root still, and for a spare before it can take its header: nothing the request starts leaves them.
        _join_groups(groups)
        from httpendpoint.sandbox import child_run

        warm = header is None
        if header is None:
            assert channel is not None
            # What the request will touch is faulted in (copied from the zygote) before it comes: here, while
            # the request before runs, with nothing but our own code and a made-up request.
            child_run.warm_up()
            message = channel.recv(65536)
            if not message:
                os._exit(0)  # not needed after all
            header = dict(json.loads(message))
        _make_workdir(header)
        _enter_workdir(header["workdir"])
        _limit_resources()
        _become(header["uid"], header["gid"])
        # Only now: a change of user clears the parent-death signal.
        linux.kill_me_with_parent()
        if os.getppid() != zygote:  # the zygote died before that took effect
            os._exit(status)

        if channel is not None:
            if not warm and not select.select([channel], [], [], 0)[0]:
                child_run.warm_up()  # as above, while nobody waits for this child
            message, fds, _, _ = socket.recv_fds(channel, 4096, 3)
            if not message or len(fds) != 3:
                os._exit(0)  # dropped before its request came
            channel.close()
            header = {**header, **json.loads(message)}
        request_fd, result_fd, log_fd = fds
        request = _read_request(request_fd)
        os.close(request_fd)
        _arrange_descriptors(result_fd, log_fd)
        _limit_cpu(int(header["cpu_seconds"]))
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


def _close_all_but(keep: set[int]) -> None:
    """Close every descriptor above stderr but `keep` (the zygote's control socket, wake pipe, namespace)."""
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, resource.getrlimit(resource.RLIMIT_NOFILE)[1])


def _read_request(fd: int) -> bytes:
    """The request, read so that the file offset (shared with the sandbox) moves: the sandbox then knows
    that the request reached this child, and so whether running it again elsewhere is safe."""
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
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


def _limit_resources() -> None:
    # RLIMIT_MSGQUEUE 0: no POSIX message queue at all. Queues show in no directory anyone sweeps (/dev/mqueue
    # is seldom mounted) and outlive their creator; System V objects, which can be found, are swept (or go
    # with the child's IPC namespace, under root).
    _set_limits(
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_AS, MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES),
        (resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT_BYTES, FILE_SIZE_LIMIT_BYTES),
        (resource.RLIMIT_NOFILE, OPEN_FILES_LIMIT, OPEN_FILES_LIMIT),
        (resource.RLIMIT_NPROC, PROCESS_LIMIT, PROCESS_LIMIT),
        (resource.RLIMIT_MSGQUEUE, 0, 0),
    )


def _limit_cpu(cpu_seconds: int) -> None:
    # A backstop only (the sandbox enforces the deadline from outside): SIGXCPU, and SIGKILL a second later.
    # Set when the request comes (the deadline is the request's); lowering a limit needs no privilege.
    _set_limits((resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 1))


def _set_limits(*limits: tuple[int, int, int]) -> None:
    for kind, soft, hard in limits:
        _, current = resource.getrlimit(kind)
        if current != resource.RLIM_INFINITY:  # an unprivileged process may lower a hard limit, never raise it
            soft, hard = min(soft, current), min(hard, current)
        resource.setrlimit(kind, (soft, hard))


def _join_groups(procs_files: list[str]) -> None:
    """This process (as root, before the change of user) into the request's control groups: nothing it
    starts leaves them."""
    for procs in procs_files:
        with open(procs, "w") as join:
            join.write("0")


def _become(uid: int | None, gid: int | None) -> None:
    if uid is not None and gid is not None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    linux.set_no_new_privs()  # no setuid binary can hand the privileges back
    linux.fresh_keyrings()  # as the user: its keyrings, what an earlier request of that user left in them
    if _scoped:
        linux.scope_abstract_sockets()  # no descriptor of its scratch space (or anything else) leaves the request
    # Another request's leftover (same user on Lambda, the same account's user locally) must not ptrace this child.
    linux.set_dumpable(False)


if __name__ == "__main__":
    main()
