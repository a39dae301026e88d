"""Files of a sandboxed request: its private working directory, and what it left in shared scratch space."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

# Where any user may create files. Lambda has only /tmp; the others exist on the local stack's machine.
SCRATCH_DIRS = ("/tmp", "/var/tmp", "/dev/shm")


def workdir_root() -> Path:
    """The parent of every request's directory: ours, and not listable by children (mode 0711)."""
    root = Path(tempfile.gettempdir()) / f"httpep-sandbox-{os.geteuid()}"
    root.mkdir(mode=0o711, exist_ok=True)
    info = root.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        # Something else took the name (on Lambda a child runs as our own user): start over.
        remove(root)
        root.mkdir(mode=0o711)
    return root


@contextlib.contextmanager
def request_workdir(owner: tuple[int, int] | None) -> Iterator[str]:
    """A fresh, empty directory for one request (its cwd, HOME and TMPDIR), removed afterwards."""
    path = tempfile.mkdtemp(prefix="request-", dir=workdir_root())
    try:
        if owner is not None:
            os.chown(path, *owner)
        yield path
    finally:
        remove(Path(path))


def remove(path: Path) -> None:
    """Remove a file or a tree even when the handler took permissions away from parts of it."""

    def allow_and_retry(function: Callable[..., object], failed: str, exc: BaseException) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(failed), 0o700)
            if os.path.isdir(failed) and not os.path.islink(failed):
                os.chmod(failed, 0o700)
            function(failed)

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, onexc=allow_and_retry)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def sweep_scratch(owner: tuple[int, int] | None) -> None:
    """Remove what a request wrote to shared scratch directories outside its own working directory.

    A child of its own user (`nobody`, locally) is told apart by ownership. On Lambda the child runs as the
    function's user, but /tmp belongs to this function alone, so everything in it but our root goes.
    Elsewhere (a developer's machine, not root) files cannot be told apart and are left.
    """
    if owner is not None and owner[0] != os.geteuid():
        for directory in SCRATCH_DIRS:
            sweep(Path(directory), lambda entry: entry.lstat().st_uid == owner[0])
    elif os.environ.get("AWS_EXECUTION_ENV", "").startswith("AWS_Lambda_"):
        root = workdir_root()
        sweep(Path(tempfile.gettempdir()), lambda entry: entry != root)


def sweep(directory: Path, doomed: Callable[[Path], bool]) -> None:
    try:
        entries = list(directory.iterdir())
    except OSError:
        return
    for entry in entries:
        with contextlib.suppress(OSError):
            if doomed(entry):
                remove(entry)
