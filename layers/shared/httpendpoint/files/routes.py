"""The files API over HTTP: the resolver, the caller and its scope, the raw body, and the response shapes.

`functions/files/app.py` declares the routes (`/<path>` below `/api/v2/files`, where `<path>` spans segments as
API Gateway's greedy `{path+}` does) and calls the `handle_*` functions here; `drive` does the work.
API Gateway and SAM's local service both hand the path over percent-decoded, once.
"""

from __future__ import annotations

import base64
import re
from datetime import datetime
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types

from httpendpoint.core.errors import Forbidden
from httpendpoint.core.observability import logger
from httpendpoint.files import drive
from httpendpoint.files.models import (
    FileDeletedView,
    FileWrittenView,
    FolderView,
    KeptView,
    NodeView,
    RepinView,
    VersionsView,
    VersionView,
)
from httpendpoint.management.resolver import caller_account, new_resolver

# Relative to the function's API_BASE_PATH (`/api/v2/files`, from the template).
FILES_ROUTE = "/<path>"
MANAGE_SCOPE = "manage"
TAG = "files"
# How the files routes' errors read in the contract (the shapes are the management API's).
ERROR_DESCRIPTIONS = {
    400: "A drive path with an empty, `.` or `..` segment, a control character, or over the length limit.",
    403: "The drive path's first segment is not the caller's account, or the token's scope is not `manage`.",
    404: "No such file, version or folder in the caller's drive.",
    409: "Endpoints run this file (named in `error`): re-point or delete them first.",
    413: "The body is larger than `MaxScriptBytes`; nothing is stored.",
}


class DriveResolver(APIGatewayRestResolver):
    """Powertools' REST resolver, with `<path>` matching every remaining segment (and any character)."""

    @staticmethod
    def _compile_regex(rule: str, base_regex: str = "^{}/*$") -> re.Pattern[str]:
        # The files routes have no other parameter, so the rule needs no more of Powertools' own substitution.
        return re.compile(base_regex.format(rule.replace("<path>", r"(?P<path>[\s\S]+)")))


def new_files_resolver() -> APIGatewayRestResolver:
    return new_resolver(resolver=DriveResolver)


def given_path(app: APIGatewayRestResolver, matched: str) -> str:
    """The drive path as API Gateway's `{path+}` parameter gives it (what the route matched, as a fallback)."""
    return str((app.current_event.path_parameters or {}).get("path", matched))


def caller(app: APIGatewayRestResolver) -> str:
    """The caller's account. The one place the files API checks a token's scope: `manage` only."""
    authorizer = app.current_event.request_context.authorizer
    # A token without a scope is a manage token (every token minted before scopes existed).
    scope = (authorizer.get("scope") if authorizer else None) or MANAGE_SCOPE
    if scope != MANAGE_SCOPE:
        raise Forbidden("the files API needs a token of scope 'manage'")
    account = caller_account(app)
    logger.append_keys(account=account)
    return account


def raw_body(app: APIGatewayRestResolver) -> bytes:
    """The request body as sent (the API's binary media types make API Gateway pass every body base64-encoded)."""
    event = app.current_event
    body = event.body or ""
    return base64.b64decode(body) if event.is_base64_encoded else body.encode()


def handle_write(app: APIGatewayRestResolver, path: str) -> Response[FileWrittenView]:
    """PUT FILES_ROOT/<path>: 201 (new) or 200 (replaced), with the endpoints re-pinned and kept."""
    written = drive.write_file(caller(app), given_path(app, path), raw_body(app))
    stored = written.stored
    logger.info(
        "file written",
        extra={
            "drive_path": stored.drive_path,
            "version": stored.version,
            "updated": written.updated,
            "kept": [kept.id for kept in written.kept],
        },
    )
    view = FileWrittenView(
        path=stored.drive_path,
        version=stored.version,
        size=stored.size,
        endpoints=RepinView(
            updated=written.updated, kept=[KeptView(id=kept.id, error=kept.error) for kept in written.kept]
        ),
    )
    return _json(201 if stored.created else 200, view)


def handle_read(
    app: APIGatewayRestResolver, path: str, version: str | None, versions: bool, listing: bool, page_token: str | None
) -> Response[Any]:
    """GET FILES_ROOT/<path>: the bytes (`?version=`), the versions (`?versions=true`) or a folder (`?list=true`)."""
    account = caller(app)
    path = given_path(app, path)
    if listing:
        folder = drive.list_folder(account, path, page_token)
        nodes = [
            NodeView(
                name=node.name,
                path=node.drive_path,
                type="file" if node.type == "file" else "folder",
                size=node.size,
                modified=_time(node.modified),
            )
            for node in folder.nodes
        ]
        return _json(200, FolderView(path="/" + path, nodes=nodes, next_page_token=folder.next_page_token))
    if versions:
        found = drive.file_versions(account, path)
        views = [
            VersionView(version=v.version, size=v.size, modified=_time(v.modified) or "", current=v.current)
            for v in found
        ]
        return _json(200, VersionsView(path="/" + path, versions=views))
    script = drive.read_file(account, path, version)
    response: Response[Any] = Response(
        status_code=200,
        content_type="application/octet-stream",
        # Encoded here: the validating resolver would turn a bytes body into text on its way out.
        body=base64.b64encode(script.source).decode(),
        # The bytes are the user's; a browser must never render them as a page of this origin.
        headers={"X-Content-Type-Options": "nosniff", "Content-Disposition": "attachment", "X-Version": script.version},
    )
    response.base64_encoded = True
    return response


def handle_delete(app: APIGatewayRestResolver, path: str) -> Response[FileDeletedView]:
    """DELETE FILES_ROOT/<path>: 200 {"path"}; 409 while an endpoint runs it."""
    deleted = drive.delete_file(caller(app), given_path(app, path))
    logger.info("file deleted", extra={"drive_path": deleted})
    return _json(200, FileDeletedView(path=deleted))


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")


def _json(status: int, body: Any) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)
