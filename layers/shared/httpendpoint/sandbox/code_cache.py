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
from collections import OrderedDict
from dataclasses import dataclass

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
_entries: OrderedDict[tuple[str, str], CompiledScript] = OrderedDict()
_cached_bytes = 0
_lock = threading.Lock()


def compiled(source: str, filename: str) -> CompiledScript:
    key = (hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest(), filename)
    with _lock:
        entry = _entries.get(key)
        if entry is not None:
            _entries.move_to_end(key)
            return entry
    entry = _compile(source, filename)
    with _lock:
        stats.compiles += 1
        _remember(key, entry)
    return entry


def _compile(source: str, filename: str) -> CompiledScript:
    try:
        # dont_inherit: this module's own `from __future__` imports must not change the user's code.
        code = compile(source, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        # SyntaxError's message names the file's base name and the line, e.g. "(hello.py, line 3)".
        lines = traceback.format_exception_only(type(exc), exc)
        return CompiledScript(b"", f"{type(exc).__name__}: {exc}", "".join(lines))
    return CompiledScript(marshal.dumps(code))


def _remember(key: tuple[str, str], entry: CompiledScript) -> None:
    global _cached_bytes
    if key in _entries:
        return
    _entries[key] = entry
    _cached_bytes += len(entry.code)
    while len(_entries) > MAX_ENTRIES or (_cached_bytes > MAX_CACHED_BYTES and len(_entries) > 1):
        _, evicted = _entries.popitem(last=False)
        _cached_bytes -= len(evicted.code)
