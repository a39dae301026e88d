"""The sandbox's side of the zygote: start it clean, hand it one request, watch the child under the deadline,
and kill whatever the request left behind. See zygote.py for the other side of the socket."""

from __future__ import annotations

import atexit
import json
import os
import selectors
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from httpendpoint.core.limits import LOG_LIMIT_BYTES, RESPONSE_LIMIT_BYTES
from httpendpoint.core.observability import logger
from httpendpoint.sandbox import cgroups, processes, scratch

ZYGOTE_START_SECONDS = 60.0
# After the child is gone, how long its pipes may take to deliver their last bytes.
DRAIN_SECONDS = 1.0
CLEANUP_SECONDS = 5.0
# How often a request's use of /tmp is checked while it runs (where it has no capped file system of its own).
SCRATCH_CHECK_SECONDS = 0.005
MAX_IDLE_ZYGOTES = 4


class ZygoteUnavailable(RuntimeError):
    """The zygote could not be started: the sandbox cannot run anything."""


def zygote_environment() -> dict[str, str]:
    """Only what Python needs (LD_LIBRARY_PATH: Lambda's libpython); no credentials, nothing else."""
    env = {key: os.environ[key] for key in ("PATH", "LANG", "TZ", "LD_LIBRARY_PATH") if key in os.environ}
    # The layer and the function's packages (on Lambda: /opt/python, the runtime's own boto3, ...), but no
    # directory anyone may write to (such as /tmp), where a request could plant a module for the next one.
    env["PYTHONPATH"] = os.pathsep.join(entry for entry in sys.path if _trusted_directory(entry))
    return env


def _trusted_directory(path: str) -> bool:
    try:
        return bool(path) and stat.S_ISDIR(mode := os.stat(path).st_mode) and not mode & stat.S_IWOTH
    except OSError:
        return False


class LogTail:
    """The last LOG_LIMIT_BYTES of the child's stdout+stderr, and how much came before them."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.dropped = 0

    def feed(self, chunk: bytes) -> None:
        self.data += chunk
        excess = len(self.data) - LOG_LIMIT_BYTES
        if excess > LOG_LIMIT_BYTES:  # trim in batches, not on every read
            del self.data[:excess]
            self.dropped += excess

    def text(self) -> str:
        data = bytes(self.data)
        dropped = self.dropped
        if len(data) > LOG_LIMIT_BYTES:
            dropped += len(data) - LOG_LIMIT_BYTES
            data = data[-LOG_LIMIT_BYTES:]
        if not dropped:
            return data.decode(errors="replace")
        cut = 0
        while cut < min(len(data), 3) and data[cut] & 0xC0 == 0x80:
            cut += 1  # do not start in the middle of a UTF-8 character
        return f"[... {dropped + cut} earlier bytes of output truncated ...]\n" + data[cut:].decode(errors="replace")


@dataclass
class ChildReport:
    """What the sandbox saw of one child: the raw result, the log tail and how it ended."""

    result: bytearray = field(default_factory=bytearray)
    result_size: int = 0
    logs: LogTail = field(default_factory=LogTail)
    child: int | None = None  # pid, once the zygote forked it
    status: int | None = None  # wait status, once the zygote reaped it
    timed_out: bool = False
    zygote_lost: bool = False
    # Why the environment can no longer be trusted with another request (something survived, the zygote
    # died, a cleanup failed), or None.
    spoiled: str | None = None
    # The child had scratch space of its own (over the zygote's places): nothing to sweep there.
    private: bool = False
    # The child read its request: if not, the handler never ran, and the request may be run again.
    request_read: bool = False
    # The request wrote more to /tmp than its share, and was stopped.
    scratch_exceeded: bool = False

    def take(self, name: str, chunk: bytes) -> None:
        if name == "log":
            self.logs.feed(chunk)
            return
        self.result_size += len(chunk)
        if self.result_size <= RESPONSE_LIMIT_BYTES:  # beyond it the result is refused, so not kept
            self.result += chunk


@dataclass(frozen=True)
class Placement:
    """Where a request's child runs: its header for the zygote (all but the CPU backstop, which is the
    request's), its control group, and whose it is (a spare is only ever used for the same `owner`)."""

    header: dict[str, Any]
    group: cgroups.RequestGroup | None
    owner: tuple[Any, ...]
    slot: int = 0  # of the child user's two control groups (see cgroups.for_user)


class Zygote:
    def __init__(self) -> None:
        # The zygote inherits no socket: it connects once it is non-dumpable (see zygote_server), and only
        # its own pid is accepted, so another process of our user can neither steal nor impersonate it.
        name = f"httpep-zygote-{os.getpid()}-{os.urandom(16).hex()}"
        deadline = time.monotonic() + ZYGOTE_START_SECONDS
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as listener:
            listener.bind("\0" + name)
            listener.listen(8)
            self.process = subprocess.Popen(
                # -s: no user site directory, -P: no working directory on sys.path.
                [sys.executable, "-s", "-P", "-m", "httpendpoint.sandbox.zygote_server", name],
                env=zygote_environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                cwd="/",
            )
            self.broken = False
            control = self._accept(listener, deadline)
        if control is None:
            self.broken = True
            self.process.kill()
            self.process.wait()
            raise ZygoteUnavailable(f"the zygote did not connect (exit status {self.process.poll()})")
        self.control = control
        control.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            ready = self._receive()
        except OSError:
            ready = None
        control.settimeout(None)
        if ready is None or ready.get("ready") != self.process.pid:
            self.broken = True
            self.close()
            raise ZygoteUnavailable(f"the zygote did not start (exit status {self.process.poll()})")
        # Where a child with "private" set writes nothing the sandbox could find (its own file system).
        self.places: tuple[str, ...] = tuple(ready.get("places") or ())
        # The child forked in advance for the next request; its pid, whether it is private and the channel
        # to hand it its request through, once the zygote has told them.
        self.spare: Placement | None = None
        self._spare: tuple[int, bool, socket.socket] | None = None
        self._spare_pending = False  # asked for, and no word yet
        self._blank: int | None = None  # the process of the spare after, root's until its turn (under root)
        self._blanks_due = 0  # words on it still to come, one per order that asked for it
        # Processes let go of that never ran a request (a spare dropped, a blank the zygote discarded), until
        # the zygote reports them reaped: on their way out, though perhaps not yet inside exit().
        self.let_go: set[int] = set()

    def _accept(self, listener: socket.socket, deadline: float) -> socket.socket | None:
        while (remaining := deadline - time.monotonic()) > 0 and self.process.poll() is None:
            listener.settimeout(min(remaining, 0.5))
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            pid, uid, _gid = struct.unpack("3i", credentials)
            if pid == self.process.pid and uid == os.geteuid():
                connection.settimeout(None)
                return connection
            connection.close()  # anyone else who found the name
        return None

    @property
    def pid(self) -> int:
        return self.process.pid

    def usable(self) -> bool:
        """Alive and not stopped (on Lambda a child runs as our user and may SIGSTOP it)."""
        if self.broken or self.process.poll() is not None:
            return False
        state = processes.info(self.pid)
        return state is not None and state.state not in ("T", "t", "Z", "X")

    def close(self) -> None:
        """A healthy zygote sees EOF, kills what it still has and exits; any other is killed outright."""
        healthy = self.usable()
        self._forget_spare()
        self.control.close()
        if healthy:
            try:
                self.process.wait(timeout=2)
                return
            except subprocess.TimeoutExpired:
                pass
        self.process.kill()
        self.process.wait()

    def _receive(self) -> dict[str, Any] | None:
        message, fds, _, _ = socket.recv_fds(self.control, 65536, 1)
        if not message:
            for fd in fds:
                os.close(fd)
            return None
        data = dict(json.loads(message))
        if "exit" in data:
            self.let_go.discard(int(data["exit"]))
        if "blank" in data:
            self._blanks_due -= 1
            self._blank = int(data["blank"]) or None
        if "spare" in data:
            self._spare_pending = False
            if self._blank is not None and data["spare"] != self._blank:
                self.let_go.add(self._blank)  # it did not fit the spare's header: the zygote discarded it
        if "spare" in data and len(fds) == 1:  # without its channel: the zygote could not make it
            self._forget_spare()
            self._spare = (int(data["spare"]), data.get("private") is True, socket.socket(fileno=fds[0]))
        else:
            for fd in fds:
                os.close(fd)
        return data

    def prepare_spare(self, placement: Placement, following: cgroups.RequestGroup | None = None) -> None:
        """Have the zygote make the next request's child ready now (it never sees another request), and
        fork the process of the one after into `following`."""
        self._forget_spare()
        order = {"spare": placement.header, "following": following.join_files() if following else []}
        try:
            self.control.send(json.dumps(order).encode())
        except OSError:
            self.broken = True
            return
        self.spare = placement
        self._spare_pending = True
        self._blanks_due += following is not None

    def take_spare(self) -> Placement | None:
        """The spare's placement, once; then `execute(..., spare=True)` runs the request in it, or
        `drop_spare` lets it go."""
        spare, self.spare = self.spare, None
        return spare

    def drop_spare(self) -> None:
        """The spare sees its channel close, and exits."""
        spare = self._await_spare()
        if spare is not None:
            self.let_go.add(spare[0])
        self._forget_spare()

    def _forget_spare(self) -> None:
        if self._spare is not None:
            self._spare[2].close()
            self._spare = None

    def _await_spare(
        self, blank: bool = False, seconds: float = ZYGOTE_START_SECONDS
    ) -> tuple[int, bool, socket.socket] | None:
        """The zygote's word on the spare it was asked for (and on the process after it, if `blank`),
        waiting for it `seconds` at most if need be, or None."""
        self.control.settimeout(max(seconds, 0.001))
        try:
            while self._spare_pending or (blank and self._blanks_due > 0):
                if self._receive() is None:
                    self.broken = True
                    return None
        except OSError:
            self.broken = True
        finally:
            self.control.settimeout(None)
        return self._spare

    def spare_pids(self) -> list[int]:
        """The idle spare's pid and that of the process after it (root's, until its turn), if any."""
        spare = self._await_spare(blank=True) if self.spare is not None else None
        return [pid for pid in (spare[0] if spare is not None else None, self._blank) if pid is not None]

    def _hand_to_spare(self, report: ChildReport, header: dict[str, Any], fds: list[int], deadline: float) -> bool:
        spare = self._await_spare(seconds=deadline - time.monotonic())
        self._spare = None
        if spare is None:
            return False
        pid, private, channel = spare
        with channel:
            try:
                socket.send_fds(channel, [json.dumps({"cpu_seconds": header["cpu_seconds"]}).encode()], fds)
            except OSError:  # it died before its request (something killed it)
                return False
        report.child, report.private = pid, private
        return True

    def execute(
        self,
        request: bytes,
        header: dict[str, Any],
        timeout: float,
        group: cgroups.RequestGroup | None = None,
        spare: bool = False,
        scratch_use: scratch.ScratchUse | None = None,
    ) -> ChildReport:
        """Run `request` in the spare (if `spare`: `header` is the spare's, and it is alive) or in a child
        forked for it, wait at most `timeout` seconds (and, with `scratch_use`, while it stays within its
        share of /tmp), kill everything it left (everything in `group`, the request's control group, when
        there is one)."""
        report = ChildReport()
        request_fd = os.memfd_create("httpep-request", os.MFD_CLOEXEC)
        result_read, result_write = os.pipe()
        log_read, log_write = os.pipe()
        try:
            try:
                view = memoryview(request)
                while view:
                    view = view[os.write(request_fd, view) :]
                os.lseek(request_fd, 0, os.SEEK_SET)  # the child's read moves it (see zygote_server._read_request)
                deadline = time.monotonic() + timeout
                fds = [request_fd, result_write, log_write]
                if not (spare and self._hand_to_spare(report, header, fds, deadline)):
                    socket.send_fds(self.control, [json.dumps(header).encode()], fds)
            except OSError:
                self.broken = report.zygote_lost = True
                os.close(result_read)
                os.close(log_read)
                return report
            finally:
                # The child holds its own copies; ours must go, or the pipes would never reach EOF.
                for fd in (result_write, log_write):
                    os.close(fd)
            with selectors.DefaultSelector() as selector:
                selector.register(result_read, selectors.EVENT_READ, "result")
                selector.register(log_read, selectors.EVENT_READ, "log")
                try:
                    # With a control group to find every process of the request in, the child need not be
                    # waited for once it has answered and closed its pipes.
                    self._watch(selector, report, deadline, group is not None, scratch_use)
                    self._clean_up(report, group)
                    self._drain(selector, report)
                finally:
                    os.close(result_read)
                    os.close(log_read)
            report.request_read = os.lseek(request_fd, 0, os.SEEK_CUR) > 0
        finally:
            os.close(request_fd)
        return report

    def _watch(
        self,
        selector: selectors.BaseSelector,
        report: ChildReport,
        deadline: float,
        early: bool,
        scratch_use: scratch.ScratchUse | None,
    ) -> None:
        """Until the child exits (or has written its result and closed both pipes: it is on its way out),
        the zygote dies, the deadline passes or the request exceeds its share of /tmp."""
        selector.register(self.control, selectors.EVENT_READ, "control")
        try:
            while report.status is None and not (
                early and report.child and report.result and len(selector.get_map()) == 1
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    report.timed_out = True
                    return
                if scratch_use is not None:
                    if scratch_use.exceeded():
                        report.scratch_exceeded = True
                        return
                    remaining = min(remaining, SCRATCH_CHECK_SECONDS)
                for key, _ in selector.select(remaining):
                    if key.data != "control":
                        _read(selector, key.fd, key.data, report)
                        continue
                    message = self._receive()
                    if message is None:
                        self.broken = report.zygote_lost = True
                        return
                    if "pid" in message:
                        report.child = int(message["pid"])
                        report.private = message.get("private") is True
                    elif report.child is not None and message.get("exit") == report.child:
                        report.status = int(message["status"])
        finally:
            selector.unregister(self.control)

    def _clean_up(self, report: ChildReport, group: cgroups.RequestGroup | None) -> None:
        state = processes.info(self.pid)
        if state is not None and state.state in ("T", "t"):
            # Stopped by the child (same user on Lambda): let it reap what gets killed below, then replace it.
            self.broken = True
            os.kill(self.pid, signal.SIGCONT)
        if report.child is not None:
            processes.kill_group(report.child)  # the child called setsid: its pid is its process group
        if group is not None and not report.zygote_lost:
            # Everything the request started is in its group, however it left the zygote's tree.
            if not group.kill_all(CLEANUP_SECONDS):
                self.broken = True
                report.spoiled = "the request's processes could not all be killed"
            elif self.broken:
                report.spoiled = "the request stopped the sandbox's zygote process"
            if report.child is not None:
                return
        if report.child is None or report.zygote_lost:
            # The zygote is gone or never forked in time (stuck): it cannot be trusted with another request.
            self.broken = True
            report.spoiled = "the sandbox's zygote process died or hung during the request"
            self.process.kill()
            return
        # Orphans (re-parented to the zygote, a subreaper), including ones that left the process group.
        if not processes.kill_children(self.pid, CLEANUP_SECONDS):
            self.broken = True
            report.spoiled = "the request's processes could not all be killed"
        elif self.broken:
            report.spoiled = "the request stopped the sandbox's zygote process"

    def _drain(self, selector: selectors.BaseSelector, report: ChildReport) -> None:
        """Read what the child wrote before it died; every writer is dead, so EOF comes at once."""
        deadline = time.monotonic() + DRAIN_SECONDS
        while selector.get_map():
            remaining = deadline - time.monotonic()
            events = selector.select(remaining) if remaining > 0 else []
            if not events:
                return  # a writer escaped (only possible once the zygote died): stop waiting for it
            for key, _ in events:
                _read(selector, key.fd, key.data, report)


def _read(selector: selectors.BaseSelector, fd: int, name: str, report: ChildReport) -> None:
    chunk = os.read(fd, 1 << 16)
    if chunk:
        report.take(name, chunk)
    else:
        selector.unregister(fd)


class ZygotePool:
    """Idle zygotes of this process. One zygote serves one request at a time; concurrent callers (tests,
    benchmarks; Lambda never) get one each, started lazily."""

    def __init__(self) -> None:
        self._idle: list[Zygote] = []
        self._lock = threading.Lock()
        self._sealed = False

    def seal(self) -> None:
        """No zygote is started from now on: code of our own user has run, and a process freshly started
        as our user can be traced (or robbed of descriptors) before it makes itself non-dumpable."""
        self._sealed = True

    def acquire(self) -> Zygote:
        with self._lock:
            while self._idle:
                zygote = self._idle.pop()
                if zygote.usable():
                    return zygote
                zygote.close()
        if self._sealed:
            raise ZygoteUnavailable("no zygote is started where code of the sandbox's own user has run")
        return Zygote()

    def release(self, zygote: Zygote) -> None:
        # Not `usable()` (a read of /proc): a zygote the child stopped was found out at the request's end.
        if not zygote.broken and zygote.process.poll() is None:
            with self._lock:
                if len(self._idle) < MAX_IDLE_ZYGOTES:
                    self._idle.append(zygote)
                    return
        else:
            logger.warning("sandbox zygote replaced", extra={"zygote_pid": zygote.pid})
        zygote.close()

    def idle_pids(self) -> list[int]:
        with self._lock:
            return [zygote.pid for zygote in self._idle]

    def spare_pids(self) -> list[int]:
        """The idle zygotes' spare children: processes of the child's user that never ran a request."""
        with self._lock:
            return [pid for zygote in self._idle for pid in zygote.spare_pids()]

    def let_go_pids(self) -> set[int]:
        """Processes the idle zygotes let go of that never ran a request, not reaped yet (see Zygote.let_go)."""
        with self._lock:
            return {pid for zygote in self._idle for pid in zygote.let_go}

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            self._sealed = False
        for zygote in idle:
            zygote.close()


pool = ZygotePool()
atexit.register(pool.close)
