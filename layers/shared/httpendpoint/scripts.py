"""Handler scripts at create/update time: drive-path rules, ownership, and the compile-and-handler check."""

from __future__ import annotations

import re

from httpendpoint.core import settings
from httpendpoint.core.errors import BadRequest, Forbidden, PayloadTooLarge
from httpendpoint.core.text import require_encodable
from httpendpoint.handler_check import CompiledScript, check_handler_source
from httpendpoint.stores import script_store
from httpendpoint.stores.script_store import ScriptMissing

MAX_DRIVE_PATH_CHARS = 1024
# What no path may hold, as a regular expression's class: Unicode's control characters (C0, DEL and C1) and its
# line and paragraph separators, which split a line as surely as a newline wherever the path is printed.
CONTROL_CHARACTERS = r"\x00-\x1F\x7F-\x9F\u2028\u2029"
_CONTROL_CHARACTER = re.compile(f"[{CONTROL_CHARACTERS}]")


def check_drive_path(drive_path: str) -> str:
    """The syntax of a handler's drive path (`/<account>/.../<name>.py`); raises ValueError saying what is wrong."""
    if drive_path.startswith("/") and len(drive_path) <= MAX_DRIVE_PATH_CHARS and not drive_path.endswith(".py"):
        raise ValueError("must name a Python file ending in '.py'")
    return check_file_path(drive_path)


def check_file_path(drive_path: str) -> str:
    """The syntax of any path on the drive (a file or a folder): the handler rules without the '.py'."""
    if not drive_path:
        raise ValueError("may not be empty")
    if len(drive_path) > MAX_DRIVE_PATH_CHARS:
        raise ValueError(f"must be at most {MAX_DRIVE_PATH_CHARS} characters")
    if not drive_path.startswith("/"):
        raise ValueError("must be an absolute drive path starting with '/'")
    if _CONTROL_CHARACTER.search(drive_path):
        raise ValueError("may not contain control characters")
    require_encodable(drive_path)
    segments = drive_path[1:].split("/")
    if "" in segments:
        raise ValueError("may not contain empty segments ('//' or a trailing '/')")
    # '.' and '..' would let two spellings name one file, or climb out of the account's drive.
    if any(segment in (".", "..") for segment in segments):
        raise ValueError("may not contain '.' or '..' segments")
    return drive_path


def drive_owner(drive_path: str) -> str:
    """The account whose drive holds `drive_path` (its first segment)."""
    return drive_path.lstrip("/").split("/", 1)[0]


def require_owner(drive_path: str, account: str, field: str = "handler_script_path") -> None:
    if drive_owner(drive_path) != account:
        raise Forbidden(f"{field} must be in your own drive (start with /{account}/)")


def require_usable_handler(drive_path: str, source: bytes) -> CompiledScript:
    """Compile `source` (it is never executed) and find a top-level `def handler(request)`.

    Raises BadRequest naming the problem.
    """
    compiled = check_handler_source(source, drive_path)
    problem = compiled.problem(f"handler_script_path: {drive_path}")
    if problem is not None:
        raise BadRequest(problem)
    return compiled


def check_handler_script(drive_path: str, account: str, version: str | None = None) -> str:
    """A script a caller may register: in their drive (else 403), present, within the size limit, compilable.

    Checks `version` of the file, or its current version when None; returns the version id it checked, which
    is the one the endpoint gets pinned to.
    """
    require_owner(drive_path, account)
    limit = settings.max_script_bytes()
    try:
        script = script_store.fetch(drive_path, version=version, max_bytes=limit)
    except ScriptMissing as exc:
        field = "handler_script_version" if version is not None else "handler_script_path"
        raise BadRequest(f"{field}: {exc.message}") from None
    except PayloadTooLarge:
        raise BadRequest(f"handler_script_path: {drive_path} is larger than the limit of {limit} bytes") from None
    if script is None:  # only a conditional GET answers "unchanged", and none is made here
        raise BadRequest(f"handler_script_path: {drive_path} could not be read")
    require_usable_handler(drive_path, script.source)
    return script.version
