"""System V IPC objects (shared memory, message queues, semaphores) a request left: they outlive every
process, so one request's segment (mode 0666) would be there for the next. Counted with the *_INFO calls,
listed from /proc/sysvipc (only if there are any: reading it costs far more) and removed with IPC_RMID
through ctypes (no library covers it)."""

from __future__ import annotations

import ctypes
import os
from functools import cache
from typing import Any

IPC_RMID = 0
IPC_INFO_CALLS = {"shm": 14, "msg": 12, "sem": 19}  # SHM_INFO, MSG_INFO, SEM_INFO
# The count of objects in each answer, as an index into it read as ints: shm_info.used_ids,
# msginfo.msgpool (queues, for MSG_INFO), seminfo.semusz (sets, for SEM_INFO).
IPC_COUNT_INDEX = {"shm": 0, "msg": 0, "sem": 7}
# /proc/sysvipc/<kind>: the column with the object's id, and the system call that removes it.
KINDS = {"shm": ("shmid", "shmctl"), "msg": ("msqid", "msgctl"), "sem": ("semid", "semctl")}


@cache
def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def any_exist() -> bool:
    """Whether this IPC namespace holds any System V object at all (True where that cannot be told)."""
    for kind, call in IPC_INFO_CALLS.items():
        answer = (ctypes.c_int * 16)()
        function = getattr(_libc(), KINDS[kind][1])
        result = function(0, 0, call, answer) if kind == "sem" else function(0, call, answer)
        if result < 0 or answer[IPC_COUNT_INDEX[kind]] != 0:
            return True
    return False


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
    failures: list[str] = []
    if not any_exist():
        return failures
    for kind, ident in owned_by(uid):
        call = getattr(_libc(), KINDS[kind][1])
        result = call(ident, 0, IPC_RMID, None) if kind == "sem" else call(ident, IPC_RMID, None)
        if result != 0:
            errno = ctypes.get_errno()
            if errno not in (22, 43):  # EINVAL, EIDRM: already gone
                failures.append(f"{kind} {ident}: {os.strerror(errno)}")
    return failures
