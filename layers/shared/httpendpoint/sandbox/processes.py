"""Finding and killing processes through /proc: what a sandboxed request leaves behind."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass

PF_EXITING = 0x4  # the kernel's flag of a process inside exit(): it never runs user code again


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    state: str  # R, S, D, Z, T, ... as in proc(5)
    ppid: int
    pgrp: int
    flags: int = 0

    @property
    def ending(self) -> bool:
        """Dead or dying: a zombie, or on its way out of exit() (only its memory is still being freed)."""
        return self.state in ("Z", "X") or bool(self.flags & PF_EXITING)


def info(pid: int) -> ProcessInfo | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            raw = stat.read()
    except OSError:
        return None
    # The command name is in parentheses and may itself hold spaces or parentheses: parse after the last ')'.
    fields = raw[raw.rfind(b")") + 2 :].split()
    return ProcessInfo(pid, fields[0].decode(), int(fields[1]), int(fields[2]), int(fields[6]))


def children_of(parent: int) -> list[ProcessInfo]:
    """The children of a single-threaded `parent` (zombies included)."""
    return children_among(parent, _candidates(parent))


def children_among(parent: int, pids: Iterable[int]) -> list[ProcessInfo]:
    found = []
    for pid in pids:
        process = info(pid)
        if process is not None and process.ppid == parent:
            found.append(process)
    return found


def _candidates(parent: int) -> Iterable[int]:
    try:
        # The kernel's own list (CONFIG_PROC_CHILDREN), far cheaper than reading every process's stat.
        with open(f"/proc/{parent}/task/{parent}/children", "rb") as listing:
            return [int(pid) for pid in listing.read().split()]
    except OSError:
        return all_pids()


def all_pids() -> list[int]:
    return [int(entry.name) for entry in os.scandir("/proc") if entry.name.isdigit()]


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def kill_children(parent: int, timeout: float, reap: bool = False) -> bool:
    """SIGKILL every child of `parent` until it has none left, zombies included.

    Killing a child re-parents its own children to `parent` when `parent` is a subreaper, so the walk
    repeats until a pass finds nobody. Zombies go when `parent` reaps them: itself, if `reap` (then
    `parent` must be this process). False if something was still there after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    pause = 0.0005
    while True:
        if reap:
            _reap_all()
        children = children_of(parent)
        if not children:
            return True
        for child in children:
            if child.state not in ("Z", "X"):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(child.pid, signal.SIGKILL)
                if child.pgrp == child.pid:
                    kill_group(child.pid)
        if time.monotonic() > deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.02)


def _reap_all() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def real_uid(pid: int) -> int | None:
    """The real user of `pid` (what a signal's permission check and RLIMIT_NPROC go by), None if it is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"Uid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def of_user(uid: int, spared: Iterable[int]) -> list[ProcessInfo]:
    """Every live process whose real user is `uid`, but the `spared` ones (the dead and dying left out)."""
    keep = set(spared)
    found = []
    for pid in all_pids():
        if pid in keep or real_uid(pid) != uid:
            continue
        process = info(pid)
        if process is not None and not process.ending:
            found.append(process)
    return found


def kill_user(uid: int, spared: Iterable[int], timeout: float) -> tuple[bool, bool]:
    """SIGKILL every process of `uid` but the `spared`, until none is left: (anything was found, all gone).

    For a sandbox that runs as the same user as its children (Lambda), where nothing else of that user
    runs: a process that escaped every process tree we know of is still found by its user.
    """
    deadline = time.monotonic() + timeout
    pause = 0.0005
    found = False
    while True:
        survivors = of_user(uid, spared)
        if not survivors:
            return found, True
        found = True
        for process in survivors:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(process.pid, signal.SIGSTOP)  # a stopped process forks no more while we go round
        for process in survivors:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(process.pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            return found, False
        time.sleep(pause)
        pause = min(pause * 2, 0.02)
