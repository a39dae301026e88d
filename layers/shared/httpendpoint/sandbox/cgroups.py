"""Under root, a control group per child user: every process a request starts is in it and cannot leave
it, so the request's processes are counted and found in one read (a walk through /proc costs
milliseconds), and their memory together is capped (each process alone is capped by RLIMIT_AS).

cgroup v2 where this process is at the root of a unified hierarchy (a container with its own cgroup
namespace), else the v1 `pids` and `memory` hierarchies; none at all where neither is writable (then the
sandbox finds the request's processes through /proc, and their total memory is not capped).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from httpendpoint.sandbox import processes

ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class RequestGroup:
    directories: tuple[Path, ...]  # one per hierarchy; a child joins each
    counter: Path  # pids.current: the group's tasks, zombies included

    def join_files(self) -> list[str]:
        return list(_procs_files(self.directories))

    def count(self) -> int:
        return int(self.counter.read_text())

    def members(self) -> list[int]:
        with open(_procs_files((self.counter.parent,))[0], "rb") as procs:  # a plain read: this is per request
            return [int(pid) for pid in procs.read().split()]

    def kill_all(self, timeout: float) -> bool:
        """SIGKILL every member until none is left that could still run code; False if one is by `timeout`.

        A member inside exit() is left to finish (its memory teardown takes a while, and it can no longer
        do anything); the zygote reaps it, and it leaves the group then.
        """
        deadline = time.monotonic() + timeout
        pause = 0.0002
        while True:
            running = [pid for pid in self.members() if not _ending(pid)]
            if not running:
                return True
            for pid in running:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.02)

    def remove(self) -> None:
        for directory in self.directories:
            with contextlib.suppress(OSError):
                directory.rmdir()


@cache
def _procs_files(directories: tuple[Path, ...]) -> tuple[str, ...]:
    return tuple(str(directory / "cgroup.procs") for directory in directories)


def _ending(pid: int) -> bool:
    process = processes.info(pid)
    return process is None or process.ending


_groups: dict[tuple[int, int], RequestGroup | None] = {}


def for_user(uid: int, memory_limit: int, slot: int = 0) -> RequestGroup | None:
    """A group of `uid`'s requests (made on first use, removed at exit), or None where there are none.

    Two slots per user: the next request's child (a spare, see zygote_server) joins the other group while
    this request's group is still being emptied.
    """
    key = (uid, slot)
    if key not in _groups:
        name = f"httpep-{os.getpid()}-{uid}" + (f"-{slot}" if slot else "")
        _groups[key] = _create(name, memory_limit) if os.geteuid() == 0 else None
        group = _groups[key]
        if group is not None:
            atexit.register(group.remove)
    return _groups[key]


def _own_paths() -> dict[str, str]:
    """controller (or "" for v2) -> this process's cgroup path in that hierarchy."""
    paths = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path
    return paths


def _create(name: str, memory_limit: int) -> RequestGroup | None:
    paths = _own_paths()
    try:
        if paths.get("") == "/" and (ROOT / "cgroup.controllers").exists():
            return _create_v2(name, memory_limit)
        if "pids" in paths and "memory" in paths and (ROOT / "pids").is_dir() and (ROOT / "memory").is_dir():
            return _create_v1(name, memory_limit, paths)
    except OSError:
        return None
    return None


def _create_v2(name: str, memory_limit: int) -> RequestGroup | None:
    if not {"pids", "memory"} <= set((ROOT / "cgroup.controllers").read_text().split()):
        return None
    (ROOT / "cgroup.subtree_control").write_text("+pids +memory")
    directory = ROOT / name
    directory.mkdir(exist_ok=True)
    (directory / "memory.max").write_text(str(memory_limit))
    with contextlib.suppress(OSError):
        (directory / "memory.swap.max").write_text("0")
    return RequestGroup((directory,), directory / "pids.current")


def _create_v1(name: str, memory_limit: int, paths: dict[str, str]) -> RequestGroup | None:
    pids = ROOT / "pids" / paths["pids"].lstrip("/") / name
    memory = ROOT / "memory" / paths["memory"].lstrip("/") / name
    pids.mkdir(exist_ok=True)
    memory.mkdir(exist_ok=True)
    (memory / "memory.limit_in_bytes").write_text(str(memory_limit))
    with contextlib.suppress(OSError):
        (memory / "memory.memsw.limit_in_bytes").write_text(str(memory_limit))
    return RequestGroup((pids, memory), pids / "pids.current")
