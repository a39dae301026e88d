"""Files of a sandboxed request: its private working directory, and what it left anywhere else it could write.

Everything is removed through directory descriptors (openat with O_NOFOLLOW, unlinkat): a symlink left by a
handler is removed, never followed, and no parent directory's mode is ever changed. Under root nothing needs
a mode change at all; a directory the handler made unreadable is opened by its owner (the sandbox's own
user, on Lambda) after a chmod of that directory alone, through its own entry and without following links.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

# Where to look, once per process, for directories anyone may write to. Lambda has only /tmp.
WORLD_WRITABLE_SEARCH = ("/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue", "/run", "/var")
SEARCH_DEPTH = 3
# Deeper than this, a tree is not removed: the cleanup fails (and the environment ends).
MAX_DEPTH = 512
# A directory modified this recently may have changed again within the file system's timestamp tick.
TIMESTAMP_SLACK_NS = 50_000_000


class CleanupFailed(OSError):
    """Something a request left could not be removed."""


def workdir_root() -> Path:
    """The parent of every request's directory: ours, and not listable by children (mode 0711)."""
    root = Path(tempfile.gettempdir()) / f"httpep-sandbox-{os.geteuid()}"
    with contextlib.suppress(FileExistsError):
        root.mkdir(mode=0o700)
        os.chmod(root, 0o711)  # whatever the umask
    info = root.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o7777 != 0o711:
        # Something else took the name, or changed it (on Lambda a child runs as our own user): start over.
        remove(root)
        root.mkdir(mode=0o700)
        os.chmod(root, 0o711)
    return root


def new_workdir(owner: tuple[int, int] | None, create: bool = True) -> str:
    """A fresh, empty directory for one request (its cwd, HOME and TMPDIR); `remove` it afterwards.

    Without `create`, only its name: the child makes it (on its private scratch file system, under root),
    and whatever it made here is removed all the same.
    """
    name = f"request-{os.urandom(8).hex()}"
    if not create:
        return os.path.join(_named_root(), name)
    path = workdir_root() / name
    os.mkdir(path, 0o700)
    if owner is not None:
        os.chown(path, *owner, follow_symlinks=False)
    return str(path)


@cache
def _named_root() -> str:
    """The sandbox root, checked once: under root (where only the name is needed, and the children, of
    other users, cannot touch it) no request can have changed it."""
    return str(workdir_root())


def remove(path: Path) -> None:
    """Remove a file or a whole tree, never following a symlink; raises CleanupFailed if some of it stays."""
    try:
        parent = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        try:
            os.rmdir(path.name, dir_fd=parent)  # the usual case: an empty directory (rmdir follows no link)
        except OSError:
            remove_entry(parent, path.name)
    finally:
        os.close(parent)


def remove_entry(parent: int, name: str, depth: int = 0) -> None:
    """Remove `name` in the directory open at `parent`, and everything below it."""
    try:
        info = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=parent)
        return
    if depth >= MAX_DEPTH:
        raise CleanupFailed(f"a directory tree deeper than {MAX_DEPTH} levels: {name}")
    directory = _open_directory(parent, name, info)
    try:
        with os.scandir(directory) as entries:
            names = [entry.name for entry in entries]
        for entry in names:
            remove_entry(directory, entry, depth + 1)
    finally:
        os.close(directory)
    try:
        os.rmdir(name, dir_fd=parent)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise CleanupFailed(exc.errno, f"could not remove {name}: {exc.strerror}") from exc


def _open_directory(parent: int, name: str, info: os.stat_result) -> int:
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(name, flags, dir_fd=parent)
    except PermissionError:
        if os.geteuid() == 0 or info.st_uid != os.geteuid():
            raise
    # Our own directory (Lambda: the handler ran as our user) that it made unreadable. fchmodat follows a
    # symlink only at the last component, and a link swapped in here could only point to our own files.
    os.chmod(name, 0o700, dir_fd=parent)
    return os.open(name, flags, dir_fd=parent)


def sweep(directory: Path, doomed: Callable[[os.stat_result, str], bool]) -> None:
    """Remove every entry of `directory` that `doomed(its lstat, its name)` picks; CleanupFailed if one stays."""
    try:
        handle = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return
    failures = []
    try:
        with os.scandir(handle) as entries:
            names = [entry.name for entry in entries]
        for name in names:
            try:
                info = os.stat(name, dir_fd=handle, follow_symlinks=False)
                if doomed(info, name):
                    remove_entry(handle, name)
            except FileNotFoundError:
                continue
            except OSError as exc:
                failures.append(f"{directory}/{name}: {exc}")
    finally:
        os.close(handle)
    if failures:
        raise CleanupFailed("; ".join(failures[:3]))


@cache
def world_writable_dirs() -> tuple[str, ...]:
    """Directories any user may create files in (sticky or not), found once, when first asked."""
    found: list[str] = []

    def visit(path: str, depth: int) -> None:
        try:
            info = os.lstat(path)
        except OSError:
            return
        if not stat.S_ISDIR(info.st_mode):
            return
        if info.st_mode & stat.S_IWOTH:
            found.append(path)
        if depth >= SEARCH_DEPTH:
            return
        try:
            with os.scandir(path) as entries:
                children = [entry.path for entry in entries if entry.is_dir(follow_symlinks=False)]
        except OSError:
            return
        for child in children:
            visit(child, depth + 1)

    for top in (tempfile.gettempdir(), *WORLD_WRITABLE_SEARCH):
        visit(top, 0)
    return tuple(dict.fromkeys(found))


def on_lambda() -> bool:
    return os.environ.get("AWS_EXECUTION_ENV", "").startswith("AWS_Lambda_")


class ScratchWatch:
    """Change times of the scratch directories before a request: after it, only those that changed (or
    changed too recently to tell) are read. Creating, renaming or removing an entry changes them; and unlike
    a modification time, which a directory's owner (the handler, on Lambda) may set back, nobody can choose one."""

    def __init__(self, own_user: bool) -> None:
        self.before = {directory: _ctime(directory) for directory in _watched(own_user)}

    def changed(self, covered: tuple[str, ...] = ()) -> list[str]:
        """The watched directories that changed, but those below one of `covered`."""
        recent = time.time_ns() - TIMESTAMP_SLACK_NS
        found = []
        skipped = _below(tuple(self.before), covered)
        for directory, before in self.before.items():
            if directory in skipped:
                continue
            if before is None or before >= recent or _ctime(directory) != before:
                found.append(directory)
        return found


class ScratchUse:
    """What a request wrote to the file system of /tmp (net: what it removed again counts back), checked
    while it runs. On Lambda /tmp is the environment's own and a request runs alone there, so the file
    system's free space is the request's use; under root a capped file system of its own does this."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.start = _free_bytes()

    def exceeded(self) -> bool:
        return self.start - _free_bytes() > self.limit


def _free_bytes() -> int:
    usage = os.statvfs(tempfile.gettempdir())
    return usage.f_bfree * usage.f_frsize


def _watched(own_user: bool) -> tuple[str, ...]:
    """Where a child can write. The sandbox root only for a child of our own user: another may not write
    there (mode 0711), and other sandboxes' requests of its user have their directories there."""
    if own_user:
        return tuple(dict.fromkeys((tempfile.gettempdir(), str(workdir_root()), *world_writable_dirs())))
    return world_writable_dirs()


@cache
def _below(directories: tuple[str, ...], places: tuple[str, ...]) -> frozenset[str]:
    """Those of `directories` below one of `places` (asked with the same few each time: worked out once)."""
    return frozenset(name for name in directories if any(Path(name).is_relative_to(place) for place in places))


def _ctime(directory: str) -> int | None:
    try:
        return os.stat(directory, follow_symlinks=False).st_ctime_ns
    except OSError:
        return None


def sweep_scratch(
    owner: tuple[int, int] | None, watch: ScratchWatch | None = None, covered: tuple[str, ...] = ()
) -> None:
    """Remove what a request wrote outside its own working directory; CleanupFailed if something stays.

    A child of its own user (under root) is told apart by ownership, in every world-writable directory. On
    Lambda the child runs as the function's user, but /tmp belongs to this function alone, so everything in
    it and in the sandbox root goes, and whatever our user owns in any other world-writable directory.
    Elsewhere (a developer's machine, not root) files cannot be told apart and are left. Directories below
    one of `covered` are skipped: the child had a file system of its own there (see mounts.fresh_scratch).
    """
    own_user = owner is None or owner[0] == os.geteuid()
    if watch is not None:
        directories = watch.changed(covered)
    else:
        directories = [name for name in _watched(own_user) if name not in _below(_watched(own_user), covered)]
    if not own_user and owner is not None:
        uid = owner[0]
        for directory in directories:
            sweep(Path(directory), lambda info, name: info.st_uid == uid)
    elif on_lambda():
        tmp, root, ours = tempfile.gettempdir(), str(workdir_root()), os.geteuid()
        for directory in directories:
            if directory == tmp:
                sweep(Path(tmp), lambda info, name: name != Path(root).name)
            elif directory == root:
                sweep(Path(root), lambda info, name: True)
            elif ours != 0:
                sweep(Path(directory), lambda info, name: info.st_uid == ours)
