"""Handler scripts kept per warm container, by (drive path, version id), never revalidated.

An endpoint is pinned to an S3 version id and a version never changes, so a cached entry is right for as long as
it is kept: a warm trigger makes no S3 request at all. A miss costs one GetObject with that VersionId, and the
script is decoded and compiled once (never run: the sandbox runs it). The cache is bounded by the bytes of
source it holds, least recently used first out.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import PurePosixPath

from httpendpoint.stores import script_store

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
_entries: OrderedDict[tuple[str, str], CachedScript] = OrderedDict()
_held_bytes = 0


def check(drive_path: str, source_bytes: bytes) -> tuple[str, str | None]:
    """Decode and compile a script without running it; returns its text and its fault, if any."""
    stats.compiles += 1
    try:
        source = source_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        return "", f"SyntaxError: the script is not UTF-8 ({exc.reason} at byte {exc.start})"
    try:
        compile(source, PurePosixPath(drive_path).name, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return source, f"SyntaxError: {exc.msg} ({exc.filename}, line {exc.lineno})"
    except ValueError as exc:  # e.g. a NUL byte in the source
        return source, f"SyntaxError: {exc}"
    return source, None


def load(drive_path: str, version: str | None) -> CachedScript:
    """The script at `version` (the current one when None, for an endpoint pinned before versions existed).

    Raises `script_store.ScriptMissing` when it is gone.
    """
    if version is not None:
        cached = _entries.get((drive_path, version))
        if cached is not None:
            _entries.move_to_end((drive_path, version))
            return cached
    fetched = script_store.fetch(drive_path, version=version)
    stats.fetches += 1
    stats.bytes_downloaded += len(fetched.source)
    source, fault = check(drive_path, fetched.source)
    entry = CachedScript(drive_path, fetched.version, source, len(fetched.source), fault)
    _keep(entry)
    return entry


def _keep(entry: CachedScript) -> None:
    global _held_bytes
    key = (entry.drive_path, entry.version)
    previous = _entries.pop(key, None)
    if previous is not None:
        _held_bytes -= previous.size
    _entries[key] = entry
    _held_bytes += entry.size
    while _held_bytes > MAX_BYTES and len(_entries) > 1:
        _, evicted = _entries.popitem(last=False)
        _held_bytes -= evicted.size


def clear() -> None:
    global _held_bytes
    _entries.clear()
    _held_bytes = 0
