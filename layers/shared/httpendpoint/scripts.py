"""Handler scripts at create/update time: drive-path rules, ownership, and a compile check that never runs them."""

from __future__ import annotations

import ast

from httpendpoint.core import settings
from httpendpoint.core.errors import BadRequest, Forbidden, PayloadTooLarge
from httpendpoint.stores import script_store
from httpendpoint.stores.script_store import ScriptMissing

MAX_DRIVE_PATH_CHARS = 1024
HANDLER_NAME = "handler"


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
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in drive_path):
        raise ValueError("may not contain control characters")
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


def check_handler_source(drive_path: str, source: bytes) -> None:
    """Parse and compile `source` (it is never executed) and find a top-level `def handler(request)`.

    Raises BadRequest naming the problem.
    """
    where = f"handler_script_path: {drive_path}"
    try:
        # PEP 263 encoding declarations are honoured because the source is passed as bytes.
        tree = ast.parse(source, filename=drive_path)
        # Some errors (e.g. 'return' outside a function) only surface when the tree is compiled.
        compile(tree, drive_path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        line = f" at line {exc.lineno}" if exc.lineno else ""
        raise BadRequest(f"{where} has a syntax error{line}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        # Null bytes, undecodable text, or nesting too deep for the compiler.
        raise BadRequest(f"{where} cannot be compiled: {type(exc).__name__}: {exc}") from None
    handlers = [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == HANDLER_NAME
    ]
    if not handlers:
        raise BadRequest(f"{where} does not define a top-level function 'def {HANDLER_NAME}(request)'")
    # Python binds the last definition, so that is the one the router will call.
    handler = handlers[-1]
    if isinstance(handler, ast.AsyncFunctionDef):
        raise BadRequest(f"{where}: '{HANDLER_NAME}' must be a plain 'def', not 'async def'")
    if not accepts_one_positional(handler.args):
        raise BadRequest(f"{where}: '{HANDLER_NAME}' must accept the request as its only required argument")


def accepts_one_positional(arguments: ast.arguments) -> bool:
    """Whether `handler(request)` is a valid call for this signature."""
    positional = [*arguments.posonlyargs, *arguments.args]
    required = len(positional) - len(arguments.defaults)
    required_keyword_only = [default for default in arguments.kw_defaults if default is None]
    return required <= 1 and (len(positional) >= 1 or arguments.vararg is not None) and not required_keyword_only


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
    check_handler_source(drive_path, script.source)
    return script.version
