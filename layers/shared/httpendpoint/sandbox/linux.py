"""The few Linux system calls the sandbox needs beyond `os`, through ctypes: prctl(2) flags, unshare(2) and
mount(2). The prctl helpers are no-ops where there is no prctl; the mount helpers raise OSError."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from functools import cache
from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38

CLONE_NEWNS = 0x00020000
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000


@cache
def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    return libc if hasattr(libc, "prctl") else None


def _prctl(option: int, value: int) -> bool:
    libc = _libc()
    if libc is None:
        return False
    return int(libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0)) == 0


def set_dumpable(dumpable: bool) -> bool:
    """Non-dumpable: other processes of the same user can neither ptrace this one nor read its /proc files."""
    return _prctl(PR_SET_DUMPABLE, int(dumpable))


def set_child_subreaper() -> bool:
    """Orphaned descendants (even ones that called setsid) are re-parented to this process, not to init."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def kill_me_with_parent() -> bool:
    """SIGKILL this process when the process (strictly: the thread) that forked it exits."""
    return _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def set_no_new_privs() -> bool:
    """execve can never grant more privileges (setuid binaries run without them)."""
    return _prctl(PR_SET_NO_NEW_PRIVS, 1)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno), what)


def unshare_mounts() -> None:
    """A private copy of the mount table, whose changes nobody else sees (needs CAP_SYS_ADMIN)."""
    libc = _libc()
    if libc is None:
        raise OSError("unshare needs Linux")
    _check(libc.unshare(CLONE_NEWNS), "unshare")
    mount(None, "/", None, MS_REC | MS_PRIVATE)


def setns(namespace: int, kind: int = CLONE_NEWNS) -> None:
    """Move into the namespace open at descriptor `namespace` (needs CAP_SYS_ADMIN; single-threaded)."""
    libc = _libc()
    if libc is None:
        raise OSError("setns needs Linux")
    _check(libc.setns(namespace, kind), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    libc = _libc()
    if libc is None:
        raise OSError("mount needs Linux")

    def encoded(value: str | None) -> bytes | None:
        return None if value is None else os.fsencode(value)

    result = libc.mount(encoded(source), encoded(target), encoded(fstype), ctypes.c_ulong(flags), encoded(data))
    _check(result, target)
