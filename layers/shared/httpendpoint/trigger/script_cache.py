"""Handler scripts kept per warm container, revalidated against the store on every request.

A hit costs one conditional GET answered 304 (no body); an edited script has a new ETag and is fetched and
checked once. Checking means compiling, never running: the sandbox runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from httpendpoint.core.lru import BoundedLru
from httpendpoint.handler_check import check_handler_source
from httpendpoint.stores import script_store

MAX_ENTRIES = 256


@dataclass(frozen=True)
class CachedScript:
    drive_path: str
    etag: str
    source: str
    fault: str | None  # "<Type>: <message>" when the script cannot run at all (a syntax error, bad encoding)


@dataclass
class CacheStats:
    """What the benchmark reads: how often the warm path paid for a download or a compile."""

    bytes_downloaded: int = 0
    compiles: int = 0


stats = CacheStats()
_entries: BoundedLru[str, CachedScript] = BoundedLru(MAX_ENTRIES)


def check(drive_path: str, source_bytes: bytes) -> tuple[str, str | None]:
    """Decode and compile a script without running it; returns its text and its fault, if any."""
    stats.compiles += 1
    try:
        # The sandbox gets the script as JSON text, so it must be UTF-8 whatever it declares.
        source = source_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        return "", f"SyntaxError: the script is not UTF-8 ({exc.reason} at byte {exc.start})"
    # A missing or unusable handler is the sandbox's to report, when it looks the handler up.
    error = check_handler_source(source, PurePosixPath(drive_path).name).error
    if isinstance(error, SyntaxError):
        return source, f"SyntaxError: {error.msg} ({error.filename}, line {error.lineno})"
    if isinstance(error, ValueError):  # e.g. a NUL byte in the source
        return source, f"SyntaxError: {error}"
    if error is not None:
        return source, f"{type(error).__name__}: {error}"
    return source, None


def load(drive_path: str) -> CachedScript:
    """The current version of the script; raises `script_store.ScriptMissing` when it is gone."""
    cached = _entries.get(drive_path)
    fetched = script_store.fetch(drive_path, if_none_match=cached.etag if cached else None)
    if fetched is None and cached is not None:
        return cached
    assert fetched is not None  # no ETag was sent, so the store answered with the object
    stats.bytes_downloaded += len(fetched.source)
    source, fault = check(drive_path, fetched.source)
    entry = CachedScript(drive_path=drive_path, etag=fetched.etag, source=source, fault=fault)
    _entries.put(drive_path, entry)
    return entry


def clear() -> None:
    _entries.clear()
