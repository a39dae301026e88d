"""System V IPC objects (shared memory, message queues, semaphores) a request left: they outlive every
process, so one request's segment (mode 0666) would be there for the next. Listed from /proc/sysvipc and
removed with IPC_RMID through ctypes (no library covers it)."""

from __future__ import annotations

import ctypes
import os
from functools import cache
from typing import Any

IPC_RMID = 0
# /proc/sysvipc/<kind>: the column with the object's id, and the system call that removes it.
KINDS = {"shm": ("shmid", "shmctl"), "msg": ("msqid", "msgctl"), "sem": ("semid", "semctl")}


@cache
def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def owned_by(uid: int) -> list[tuple[str, int]]:
    """(kind, id) of every object whose owner or creator is `uid`."""
    found = []
    for kind, (id_column, _) in KINDS.items():
        try:
            with open(f"/proc/sysvipc/{kind}") as listing:
                header, *rows = listing.read().splitlines()
        except OSError:
            continue
        columns = header.split()
        for row in rows:
            fields = dict(zip(columns, row.split(), strict=False))
            if str(uid) in (fields.get("uid"), fields.get("cuid")):
                found.append((kind, int(fields[id_column])))
    return found


def remove_owned_by(uid: int) -> list[str]:
    """Remove every object of `uid`; what could not be removed, described."""
    failures = []
    for kind, ident in owned_by(uid):
        call = getattr(_libc(), KINDS[kind][1])
        result = call(ident, 0, IPC_RMID, None) if kind == "sem" else call(ident, IPC_RMID, None)
        if result != 0:
            errno = ctypes.get_errno()
            if errno not in (22, 43):  # EINVAL, EIDRM: already gone
                failures.append(f"{kind} {ident}: {os.strerror(errno)}")
    return failures
