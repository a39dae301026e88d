"""Handler scripts kept per warm container, by (drive path, version id), never revalidated.

An endpoint is pinned to an S3 version id and a version never changes, so a cached entry is right for as long as
it is kept: a warm trigger makes no S3 request at all. A miss costs one GetObject with that VersionId, and the
script is decoded and compiled once (never run: the sandbox runs it). The cache is bounded by the bytes of
source it holds, least recently used first out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from httpendpoint.core.lru import BoundedLru
from httpendpoint.handler_check import check_handler_source
from httpendpoint.stores import script_store

MAX_ENTRIES = 256
MAX_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class CachedScript:
    drive_path: str
    version: str
    source: str
    size: int
    fault: str | None  # "<Type>: <message>" when the script cannot run at all (a syntax error, bad encoding)


@dataclass
class CacheStats:
    """What the benchmark reads: how often the warm path paid for a download or a compile."""

    fetches: int = 0
    bytes_downloaded: int = 0
    compiles: int = 0


stats = CacheStats()
entries: BoundedLru[tuple[str, str], CachedScript] = BoundedLru(MAX_ENTRIES, MAX_BYTES, lambda entry: entry.size)


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


def load(drive_path: str, version: str | None) -> CachedScript:
    """The script at `version` (the current one when None, for an endpoint pinned before versions existed).

    Raises `script_store.ScriptMissing` when it is gone.
    """
    if version is not None:
        cached = entries.get((drive_path, version))
        if cached is not None:
            return cached
    fetched = script_store.fetch(drive_path, version=version)
    stats.fetches += 1
    stats.bytes_downloaded += len(fetched.source)
    source, fault = check(drive_path, fetched.source)
    entry = CachedScript(drive_path, fetched.version, source, len(fetched.source), fault)
    entries.put((drive_path, entry.version), entry)
    return entry


def clear() -> None:
    entries.clear()
