"""Letting a child that runs as `nobody` reach the interpreter and its packages, and nothing more of their
untraversable parents.

Under root (local stack, CI) the interpreter often lives below a directory only root may enter, such as
pyenv's under /root (mode 0700). `nobody` could then import only what the zygote had already imported. So,
in a private mount namespace that the zygote enters once and its children inherit, such a directory is
covered by an empty tmpfs and only the entries leading to sys.path are bound back: every path stays the same,
and the rest of the directory (root's other files) disappears from the children's view.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from httpendpoint.sandbox import linux

Exposures = dict[str, list[str]]  # untraversable directory -> its entries that must stay reachable


def needed_exposures(directories: Iterable[str]) -> Exposures:
    """For directories that other users cannot reach, the first ancestor in the way and the entry below it."""
    found: dict[str, set[str]] = {}
    for directory in directories:
        if not directory or not os.path.isdir(directory):
            continue
        for path in {Path(directory).absolute(), Path(directory).resolve()}:
            parts = path.parts
            for depth in range(1, len(parts)):
                ancestor = Path(*parts[:depth])
                if not ancestor.stat().st_mode & stat.S_IXOTH:
                    found.setdefault(str(ancestor), set()).add(parts[depth])
                    break
    return {ancestor: sorted(entries) for ancestor, entries in found.items()}


def expose(exposures: Exposures) -> None:
    """In a new mount namespace, cover each directory with a tmpfs holding only its exposed entries.

    Needs root (CAP_SYS_ADMIN); raises OSError where namespaces are not allowed.
    """
    linux.unshare_mounts()
    for ancestor, entries in exposures.items():
        # Handles taken in the new namespace, before the tmpfs hides what they point to.
        handles = hold(ancestor, entries)
        try:
            linux.mount(
                "tmpfs", ancestor, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC, "mode=0755,size=64k"
            )
        except OSError:
            for handle in handles.values():
                os.close(handle)
            raise
        bind_back(ancestor, handles)


def scratch_places(writable: Iterable[str]) -> list[str]:
    """The directories a private scratch file system covers: every world-writable one that is not below
    another (the kernel's message queue file system aside: it holds queues, not files)."""
    places: list[str] = []
    for directory in sorted(writable):
        if directory == "/dev/mqueue" or any(Path(directory).is_relative_to(place) for place in places):
            continue
        places.append(directory)
    return places


def entries_below(place: str, keep: Iterable[str]) -> list[str]:
    """The entries of `place` that lead to the paths of `keep` (a checkout or a venv under /tmp, say)."""
    names: set[str] = set()
    for path in keep:
        for candidate in {os.path.abspath(path), os.path.realpath(path)}:
            relative = os.path.relpath(candidate, place)
            if relative != "." and not relative.startswith(".."):
                names.add(relative.split(os.sep)[0])
    return sorted(names)


def hold(place: str, entries: Iterable[str]) -> dict[str, int]:
    """Handles on `place`'s `entries`, taken before a file system covers `place` (see `bind_back`)."""
    return {entry: os.open(os.path.join(place, entry), os.O_PATH | os.O_CLOEXEC) for entry in entries}


def bind_back(place: str, handles: dict[str, int]) -> None:
    """Make the held entries reachable again at their own paths through what now covers `place`, and close
    the handles: the interpreter and its packages stay where sys.path says they are."""
    try:
        for entry, handle in handles.items():
            target = os.path.join(place, entry)
            if stat.S_ISDIR(os.fstat(handle).st_mode):
                os.mkdir(target, 0o755)
            else:
                os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
            linux.mount(f"/proc/self/fd/{handle}", target, None, linux.MS_BIND | linux.MS_REC)
    finally:
        for handle in handles.values():
            os.close(handle)


def fresh_scratch(home: int, root: str, places: Iterable[str], size: int, files: int, keep: Iterable[str] = ()) -> None:
    """Move this process into a new mount namespace, copied from `home` (a descriptor of the namespace it
    started in, never one a request used), in which one new tmpfs of `size` bytes and `files` inodes shows
    through `root` (the sandbox root, where the work dir will be) and every directory of `places`.

    The zygote does this before a child's fork, off a request's path, unless the last child's namespace is
    as it was made (see zygote_server._untouched): the child is born in it, fills it up to ENOSPC at the
    cap, nobody else sees what it wrote, and it all disappears once the zygote lets go of it.
    Needs root (CAP_SYS_ADMIN) and a single thread; raises OSError where namespaces are not allowed.
    What `keep` names (sys.path, the interpreter) stays reachable where a place covers it.
    """
    linux.setns(home)
    linux.unshare_mounts()
    targets = [place for place in places if os.path.isdir(place)]
    kept = {place: hold(place, entries_below(place, keep)) for place in targets}
    flags = linux.MS_NOSUID | linux.MS_NODEV
    linux.mount("tmpfs", root, "tmpfs", flags, f"size={size},nr_inodes={files},mode=0711")
    # A handle on the file system before a place covers its mount point (the sandbox root, in /tmp).
    staging = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for number, place in enumerate(targets):
            info = os.stat(place)
            os.mkdir(f".{number}", 0o700, dir_fd=staging)
            os.chown(f".{number}", info.st_uid, info.st_gid, dir_fd=staging)
            os.chmod(f".{number}", stat.S_IMODE(info.st_mode), dir_fd=staging)
        for number, place in enumerate(targets):
            linux.mount(f"/proc/self/fd/{staging}/.{number}", place, None, linux.MS_BIND)
            bind_back(place, kept.pop(place))
    finally:
        os.close(staging)
        for handles in kept.values():
            for handle in handles.values():
                os.close(handle)
    if not os.path.isdir(root):
        # The root's path lay in a place now covered: made again there, as before.
        os.makedirs(root, mode=0o711)
        os.chmod(root, 0o711)
