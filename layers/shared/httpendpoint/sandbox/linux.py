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

SYS_KEYCTL = 250 if os.uname().machine == "x86_64" else 219  # x86_64, else the generic table (aarch64)
KEYCTL_JOIN_SESSION_KEYRING = 1
KEYCTL_CLEAR = 7
KEYCTL_GET_PERSISTENT = 22
KEY_SPEC_THREAD_KEYRING = -1
KEY_SPEC_USER_KEYRING = -4
KEY_SPEC_USER_SESSION_KEYRING = -5

# Landlock (the same numbers on every architecture): a scope keeps a process from connecting to abstract unix
# sockets made outside its domain (ABI 6, Linux 6.12).
SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET = 1
LANDLOCK_SCOPES_ABI = 6

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
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


def unshare_ipc() -> None:
    """A System V IPC and POSIX message queue namespace of our own, gone with our last process (CAP_SYS_ADMIN)."""
    libc = _libc()
    if libc is None:
        raise OSError("unshare needs Linux")
    _check(libc.unshare(CLONE_NEWIPC), "unshare")


def _keyctl(*arguments: int | None) -> int:
    return int(_libc().syscall(SYS_KEYCTL, *(ctypes.c_long(a) if a is not None else None for a in arguments)))


def fresh_keyrings() -> None:
    """The kernel keeps a user's keys after its last process exits (its user and user-session keyrings, and
    its persistent keyring for days), and a session keyring is shared by every process that inherits it:
    a new session keyring of our own, and the user's other keyrings emptied. Nothing where the kernel has
    no keys (or refuses them all)."""
    if _libc() is None:
        return
    _keyctl(KEYCTL_JOIN_SESSION_KEYRING, None)
    persistent = _keyctl(KEYCTL_GET_PERSISTENT, -1, KEY_SPEC_THREAD_KEYRING)
    for keyring in (KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING, *([persistent] if persistent > 0 else [])):
        _keyctl(KEYCTL_CLEAR, keyring)


def can_scope_abstract_sockets() -> bool:
    """Whether `scope_abstract_sockets` works here (Landlock enabled, with scopes)."""
    libc = _libc()
    if libc is None:
        return False
    return int(libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, 0, LANDLOCK_CREATE_RULESET_VERSION)) >= (
        LANDLOCK_SCOPES_ABI
    )


def scope_abstract_sockets() -> None:
    """This process and its descendants may connect to no abstract unix socket made outside them: nothing
    they hold (a descriptor) can be passed to another process (needs no_new_privs)."""
    libc = _libc()
    if libc is None:
        raise OSError("Landlock needs Linux")
    # struct landlock_ruleset_attr: handled_access_fs, handled_access_net, scoped
    attributes = (ctypes.c_uint64 * 3)(0, 0, LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET)
    ruleset = int(libc.syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attributes), ctypes.sizeof(attributes), 0))
    if ruleset < 0:
        _check(ruleset, "landlock_create_ruleset")
    try:
        _check(int(libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0)), "landlock_restrict_self")
    finally:
        os.close(ruleset)


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
