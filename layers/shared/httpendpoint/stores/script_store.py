"""The script store: handler scripts in S3, keyed by their drive path (`/jaydoe/...` -> `jaydoe/...`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from httpendpoint.core import settings
from httpendpoint.core.aws import client
from httpendpoint.core.errors import NotFound, PayloadTooLarge, Unavailable


@dataclass(frozen=True)
class Script:
    drive_path: str
    source: bytes
    etag: str


class ScriptMissing(NotFound):
    def __init__(self, drive_path: str) -> None:
        super().__init__(f"handler script {drive_path} does not exist in the script store")
        self.drive_path = drive_path


def key_for(drive_path: str) -> str:
    return drive_path.lstrip("/")


def _s3(s3: Any) -> Any:
    return s3 or client("s3")


def put(drive_path: str, source: bytes, bucket: str | None = None, s3: Any = None) -> str:
    """Store a script; returns its ETag."""
    response = _s3(s3).put_object(
        Bucket=bucket or settings.script_bucket(),
        Key=key_for(drive_path),
        Body=source,
        ContentType="text/x-python; charset=utf-8",
    )
    return str(response["ETag"])


def fetch(drive_path: str, if_none_match: str | None = None, max_bytes: int | None = None) -> Script | None:
    """The script at `drive_path`; None when it still has ETag `if_none_match` (a 304 carries no body)."""
    arguments: dict[str, Any] = {"Bucket": settings.script_bucket(), "Key": key_for(drive_path)}
    if if_none_match:
        arguments["IfNoneMatch"] = if_none_match
    try:
        response = _s3(None).get_object(**arguments)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 304 or error.get("Code") in ("304", "NotModified"):
            return None
        if error.get("Code") in ("NoSuchKey", "404", "NotFound"):
            raise ScriptMissing(drive_path) from exc
        raise Unavailable(f"script store unavailable: {error.get('Code')}") from exc
    except BotoCoreError as exc:
        # No answer at all (connection refused or closed, timed out), once botocore's retries are spent.
        raise Unavailable(f"script store unavailable: {type(exc).__name__}") from exc
    body = response["Body"]
    if max_bytes is not None and int(response.get("ContentLength", 0)) > max_bytes:
        body.close()
        raise PayloadTooLarge(f"handler script {drive_path} is larger than {max_bytes} bytes")
    try:
        source = body.read()
    except BotoCoreError as exc:
        # The body is streamed after the call returned: a connection lost mid-body surfaces here.
        raise Unavailable(f"script store unavailable: {type(exc).__name__}") from exc
    return Script(drive_path=drive_path, source=source, etag=str(response["ETag"]))
