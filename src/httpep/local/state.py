"""The running local stack's state file: what `httpep serve` listens on, for every `--local` command to read.

`httpep serve` writes it next to the template (`.httpep/local.json`, git-ignored) once it is ready and
removes it when it stops, so no command needs the ports exported. HTTPEP_LOCAL_STATE names another file.
One stack to a file: `serve` refuses to start while the file names a stack that still runs (`running`), and a
stack removes the file only while it names that stack.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from httpep.local import defaults
from httpep.local.template import find_template

NOT_RUNNING = "no local stack running: run make dev"


class NoLocalStack(Exception):
    """No state file, or one left by a stack that is gone; the message is one line."""


@dataclass(frozen=True)
class LocalState:
    pid: int
    api_root: str
    aws_endpoint: str
    lambda_endpoint: str
    region: str
    template: str
    outputs: dict[str, str] = field(default_factory=dict)


def state_path(template: Path | None = None) -> Path:
    """HTTPEP_LOCAL_STATE, else `.httpep/local.json` beside the template (given, or found from the working dir)."""
    named = os.environ.get(defaults.STATE_FILE_ENV)
    if named:
        return Path(named)
    return (template or find_template()).resolve().parent / defaults.STATE_FILE


def write(path: Path, state: LocalState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole, then renamed: a command never reads half a file.
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(asdict(state), indent=2) + "\n")
    partial.replace(path)


def remove(path: Path, pid: int) -> None:
    """Remove the file if it is still this process's (a newer stack may have replaced it)."""
    with contextlib.suppress(OSError, ValueError, NoLocalStack):
        if _load(path).pid == pid:
            path.unlink()


def running(path: Path) -> LocalState | None:
    """The stack the file names while it still runs; None for no file, an unreadable one or a stale one."""
    try:
        found = _load(path)
    except NoLocalStack:
        return None
    return found if _is_the_writer(found.pid, path) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_the_writer(pid: int, path: Path) -> bool:
    """Whether `pid` is still the process that wrote `path`: alive, and started before the file was written.

    A stack that was killed (or a reboot) leaves its file behind, and its pid may since name another process:
    one that started after the file was written.
    """
    if not _alive(pid):
        return False
    try:
        written = path.stat().st_mtime
    except OSError:
        return False
    started = _start_time(pid)
    return started is None or started <= written + START_TIME_SLACK


# /proc's boot time is whole seconds, and the clock may be stepped: a little slack keeps a live stack live.
START_TIME_SLACK = 2.0


def _start_time(pid: int) -> float | None:
    """When `pid` started (epoch seconds), from /proc; None where there is no /proc (a live pid then counts)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
        # Field 22 is the start in clock ticks since boot; counted after the name's ')', as a name may hold spaces.
        ticks = int(stat.rpartition(")")[2].split()[19])
        return float(boot.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def _load(path: Path) -> LocalState:
    try:
        raw = json.loads(path.read_text())
        state = LocalState(**raw)
        if type(state.pid) is not int or state.pid <= 0:  # a hand-edited file: 0 would name a process group
            raise ValueError(f"pid {state.pid!r} is not a process id")
        return state
    except FileNotFoundError:
        raise NoLocalStack(NOT_RUNNING) from None
    except (OSError, ValueError, TypeError) as exc:
        raise NoLocalStack(f"{NOT_RUNNING} ({path} is unreadable: {exc})") from None


def read(template: Path | None = None) -> LocalState:
    """The running stack's state, or NoLocalStack with the one line to show."""
    state = _load(state_path(template))
    if not _is_the_writer(state.pid, state_path(template)):
        raise NoLocalStack(f"{NOT_RUNNING} (the stack that wrote {state_path(template)} has exited)")
    return state
