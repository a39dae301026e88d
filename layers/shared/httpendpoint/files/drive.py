"""The drive's operations, on plain values: what the files API routes and `httpep script put` both call.

A write is the one way a file changes: it stores the bytes as a new S3 version and then re-pins, to that
version, every endpoint of the account that runs the file, provided the new bytes pass the handler check
(the same check create and update make). Endpoints it cannot re-pin keep the version they run and are
reported with the reason, so a broken save never breaks a live endpoint.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from httpendpoint import scripts
from httpendpoint.core import settings
from httpendpoint.core.errors import BadRequest, Conflict, NotFound, PayloadTooLarge, ServiceError
from httpendpoint.stores import endpoint_store, script_store
from httpendpoint.stores.script_store import Folder, Script, Stored, Version

FIELD = "path"
LIST_PAGE_SIZE = 1000
# Re-pins in flight at once; botocore's default connection pool holds 10 connections per client.
REPIN_THREADS = 10


@dataclass(frozen=True)
class Kept:
    id: str
    error: str


@dataclass
class Written:
    stored: Stored
    updated: list[str] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)


def drive_path(account: str, path: str) -> str:
    """A drive path from the URL (without its leading '/'): the path rules (400), then ownership (403)."""
    full = "/" + path
    try:
        scripts.check_file_path(full)
    except ValueError as exc:
        raise BadRequest(f"{FIELD}: {full!r} {exc}") from None
    scripts.require_owner(full, account, FIELD)
    return full


def write_file(account: str, path: str, data: bytes) -> Written:
    """Store `data` at `path` and re-pin the account's endpoints that run it; nothing is stored on a 4xx."""
    target = drive_path(account, path)
    limit = settings.max_script_bytes()
    if len(data) > limit:
        raise PayloadTooLarge(f"body: {len(data)} bytes is over the limit of {limit} bytes (MaxScriptBytes)")
    # Validated once, before anything is stored; a file that fails is still stored (it is a filesystem), but
    # no endpoint is moved onto it.
    try:
        scripts.require_usable_handler(target, data)
        failure = None
    except ServiceError as exc:
        failure = exc.message
    # Read before anything is written: if the index cannot be read, the write fails with nothing stored.
    running = endpoint_store.running(account, target)
    written = Written(script_store.put(target, data))
    endpoints = [e for e in running if e.handler_script_version != written.stored.version]
    if failure is not None:
        written.kept = [Kept(e.id, f"{failure}; it keeps version {e.handler_script_version}") for e in endpoints]
        return written
    # Each endpoint is its own transaction (all or nothing for that endpoint), so they can run side by side:
    # on AWS a save's time is then a few round trips, not one per endpoint.
    with ThreadPoolExecutor(max_workers=REPIN_THREADS) as pool:
        refusals = list(pool.map(lambda endpoint: _repin(endpoint, written.stored.version), endpoints))
    for endpoint, refused in zip(endpoints, refusals, strict=True):
        if refused is None:
            written.updated.append(endpoint.id)
        else:
            written.kept.append(Kept(endpoint.id, refused))
    return written


def _repin(endpoint: endpoint_store.Endpoint, version: str) -> str | None:
    """Why `endpoint` was not re-pinned (None when it was); a store failure leaves it on its old version."""
    try:
        return endpoint_store.repin(endpoint, version)
    except ServiceError as exc:
        return f"{exc.message}; it keeps version {endpoint.handler_script_version}"


def read_file(account: str, path: str, version: str | None = None) -> Script:
    target = drive_path(account, path)
    try:
        return script_store.fetch(target, version=version)
    except script_store.ScriptMissing as exc:
        raise NotFound(exc.message) from None


def file_versions(account: str, path: str) -> list[Version]:
    target = drive_path(account, path)
    found = script_store.versions(target)
    if not found:
        raise NotFound(f"{target} does not exist in the script store")
    return found


def list_folder(account: str, path: str, page_token: str | None = None) -> Folder:
    return script_store.list_folder(drive_path(account, path), page_token, LIST_PAGE_SIZE)


def delete_file(account: str, path: str) -> str:
    """Delete the file unless an endpoint runs it (409 naming them): a pinned version must stay reachable."""
    target = drive_path(account, path)
    users = endpoint_store.running(account, target)
    if users:
        names = ", ".join(endpoint.id for endpoint in users)
        raise Conflict(f"{target} is used by endpoint(s) {names}; point them at another file or delete them first")
    if not script_store.exists(target):
        raise NotFound(f"{target} does not exist in the script store")
    script_store.delete(target)
    return target
