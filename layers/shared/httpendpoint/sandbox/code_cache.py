"""Handler scripts compiled once per warm sandbox, keyed by the sha256 of their source (and their file name).

The cache lives in the sandbox function's own process, never in the zygote: every child is a copy of the
zygote's memory, so code cached there (other accounts' scripts and their constants) would be readable by
the next account's handler. A child gets its script's code marshalled, as a .pyc carries it. Compiling
never runs the script.
"""

from __future__ import annotations

import hashlib
import marshal
import threading
import traceback
from dataclasses import dataclass

from httpendpoint.core.lru import BoundedLru
from httpendpoint.handler_check import check_handler_source

MAX_ENTRIES = 256
MAX_CACHED_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class CompiledScript:
    code: bytes  # marshalled code object; empty when the script does not compile
    error: str | None = None  # "SyntaxError: invalid syntax (hello.py, line 3)"
    traceback: str = ""


@dataclass
class CacheStats:
    compiles: int = 0


stats = CacheStats()
_entries: BoundedLru[tuple[str, str], CompiledScript] = BoundedLru(
    MAX_ENTRIES, MAX_CACHED_BYTES, size=lambda entry: len(entry.code)
)
_stats_lock = threading.Lock()


def compiled(source: str, filename: str) -> CompiledScript:
    key = (hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest(), filename)
    entry = _entries.get(key)
    if entry is not None:
        return entry
    entry = _compile(source, filename)
    with _stats_lock:
        stats.compiles += 1
    _entries.put(key, entry)
    return entry


def _compile(source: str, filename: str) -> CompiledScript:
    checked = check_handler_source(source, filename)
    if checked.error is not None:
        # SyntaxError's message names the file's base name and the line, e.g. "(hello.py, line 3)".
        exc = checked.error
        lines = traceback.format_exception_only(type(exc), exc)
        return CompiledScript(b"", f"{type(exc).__name__}: {exc}", "".join(lines))
    assert checked.code is not None  # compiled without an error
    # A missing or unusable handler is the child's to report, when it looks the handler up.
    return CompiledScript(marshal.dumps(checked.code))
