"""The script store (the drive): files in a versioned S3 bucket, keyed by drive path (`/jaydoe/...` -> `jaydoe/...`).

Every write makes a new S3 version; endpoints are pinned to a version id, and versions are never deleted here
(deleting a file only adds a delete marker), so a pinned version stays readable for as long as it is pinned.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from httpendpoint.core import settings
from httpendpoint.core.aws import client
from httpendpoint.core.errors import BadRequest, NotFound, PayloadTooLarge, Unavailable

MISSING_CODES = ("NoSuchKey", "NoSuchVersion", "404", "NotFound")
# S3 answers 400 InvalidArgument for a version id it cannot parse: such an id names no version.
BAD_VERSION_CODES = ("InvalidArgument",)


@dataclass(frozen=True)
class Script:
    drive_path: str
    source: bytes
    version: str


@dataclass(frozen=True)
class Stored:
    drive_path: str
    version: str
    size: int
    created: bool  # no current version existed before this write


@dataclass(frozen=True)
class Version:
    version: str
    size: int
    modified: datetime
    current: bool


@dataclass(frozen=True)
class Node:
    name: str
    drive_path: str
    type: str  # "file" or "folder"
    size: int | None
    modified: datetime | None


@dataclass(frozen=True)
class Folder:
    nodes: list[Node]
    next_page_token: str | None


class ScriptMissing(NotFound):
    def __init__(self, drive_path: str, version: str | None = None) -> None:
        what = f"version {version} of {drive_path}" if version else drive_path
        super().__init__(f"{what} does not exist in the script store")
        self.drive_path = drive_path


def key_for(drive_path: str) -> str:
    return drive_path.lstrip("/")


def _s3(s3: Any) -> Any:
    return s3 or client("s3")


@contextmanager
def _errors(drive_path: str, version: str | None = None) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code"))
        if code in MISSING_CODES or (version is not None and code in BAD_VERSION_CODES):
            raise ScriptMissing(drive_path, version) from exc
        raise Unavailable(f"script store unavailable: {code}") from exc
    except BotoCoreError as exc:
        # No answer at all (connection refused or closed, timed out), once botocore's retries are spent.
        raise Unavailable(f"script store unavailable: {type(exc).__name__}") from exc


def exists(drive_path: str, bucket: str | None = None, s3: Any = None) -> bool:
    """Whether the file has a current version (a deleted file's latest entry is a delete marker)."""
    try:
        with _errors(drive_path):
            _s3(s3).head_object(Bucket=bucket or settings.script_bucket(), Key=key_for(drive_path))
    except ScriptMissing:
        return False
    return True


def put(drive_path: str, source: bytes, bucket: str | None = None, s3: Any = None) -> Stored:
    """Store a new version of the file; returns its version id."""
    created = not exists(drive_path, bucket, s3)
    with _errors(drive_path):
        response = _s3(s3).put_object(
            Bucket=bucket or settings.script_bucket(),
            Key=key_for(drive_path),
            Body=source,
            ContentType="application/octet-stream",
        )
    # An unversioned bucket answers without a VersionId; "null" is what S3 calls that one version.
    version = str(response.get("VersionId") or "null")
    return Stored(drive_path=drive_path, version=version, size=len(source), created=created)


def fetch(drive_path: str, version: str | None = None, max_bytes: int | None = None) -> Script:
    """The file's bytes: `version`, or the current version when None (one GetObject either way)."""
    arguments: dict[str, Any] = {"Bucket": settings.script_bucket(), "Key": key_for(drive_path)}
    if version is not None:
        arguments["VersionId"] = version
    with _errors(drive_path, version):
        response = _s3(None).get_object(**arguments)
        body = response["Body"]
        if max_bytes is not None and int(response.get("ContentLength", 0)) > max_bytes:
            body.close()
            raise PayloadTooLarge(f"{drive_path} is larger than {max_bytes} bytes")
        # The body is streamed after the call returned: a connection lost mid-body surfaces here.
        source = body.read()
    return Script(drive_path=drive_path, source=source, version=str(response.get("VersionId") or "null"))


def versions(drive_path: str) -> list[Version]:
    """Every stored version of the file, newest first; empty when it does not exist (or was deleted)."""
    key = key_for(drive_path)
    found: list[Version] = []
    latest_is_marker = False
    paginator = _s3(None).get_paginator("list_object_versions")
    with _errors(drive_path):
        for page in paginator.paginate(Bucket=settings.script_bucket(), Prefix=key):
            # The prefix also matches longer keys (`a.py` and `a.py.bak`); only this key counts.
            for marker in page.get("DeleteMarkers", []):
                if marker["Key"] == key and marker.get("IsLatest"):
                    latest_is_marker = True
            for entry in page.get("Versions", []):
                if entry["Key"] == key:
                    found.append(
                        Version(
                            version=str(entry["VersionId"]),
                            size=int(entry.get("Size", 0)),
                            modified=entry["LastModified"],
                            current=bool(entry.get("IsLatest")),
                        )
                    )
    if latest_is_marker:
        return []
    return sorted(found, key=lambda v: (v.current, v.modified), reverse=True)


def list_folder(folder_path: str, page_token: str | None, limit: int) -> Folder:
    """One page of the folder's direct children (sub-folders and files), in key order."""
    prefix = key_for(folder_path).rstrip("/") + "/"
    arguments: dict[str, Any] = {
        "Bucket": settings.script_bucket(),
        "Prefix": prefix,
        "Delimiter": "/",
        "MaxKeys": limit,
    }
    if page_token:
        arguments["ContinuationToken"] = page_token
    try:
        with _errors(folder_path):
            response = _s3(None).list_objects_v2(**arguments)
    except Unavailable as exc:
        if page_token and "InvalidArgument" in exc.message:
            raise BadRequest("page_token: is not a token this folder's listing returned") from None
        raise
    nodes = [
        Node(
            name=p["Prefix"][len(prefix) :].rstrip("/"),
            drive_path="/" + p["Prefix"].rstrip("/"),
            type="folder",
            size=None,
            modified=None,
        )
        for p in response.get("CommonPrefixes", [])
    ]
    nodes += [
        Node(
            name=o["Key"][len(prefix) :],
            drive_path="/" + o["Key"],
            type="file",
            size=int(o.get("Size", 0)),
            modified=o.get("LastModified"),
        )
        for o in response.get("Contents", [])
    ]
    nodes.sort(key=lambda node: node.drive_path)
    token = response.get("NextContinuationToken") if response.get("IsTruncated") else None
    return Folder(nodes=nodes, next_page_token=token)


def delete(drive_path: str) -> None:
    """Delete the file: a delete marker hides it, and every version (pinned ones too) stays readable by id."""
    with _errors(drive_path):
        _s3(None).delete_object(Bucket=settings.script_bucket(), Key=key_for(drive_path))
