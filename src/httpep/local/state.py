"""The running local stack's state file: what `httpep serve` listens on, for every `--local` command to read.

`httpep serve` writes it next to the template (`.httpep/local.json`, git-ignored) once it is ready and
removes it when it stops, so no command needs the ports exported. HTTPEP_LOCAL_STATE names another file.
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _load(path: Path) -> LocalState:
    try:
        raw = json.loads(path.read_text())
        return LocalState(**raw)
    except FileNotFoundError:
        raise NoLocalStack(NOT_RUNNING) from None
    except (OSError, ValueError, TypeError) as exc:
        raise NoLocalStack(f"{NOT_RUNNING} ({path} is unreadable: {exc})") from None


def read(template: Path | None = None) -> LocalState:
    """The running stack's state, or NoLocalStack with the one line to show."""
    state = _load(state_path(template))
    if not _alive(state.pid):
        raise NoLocalStack(f"{NOT_RUNNING} (the stack that wrote {state_path(template)} has exited)")
    return state
