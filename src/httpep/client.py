"""A small client of the service's HTTP API (README "Routes", openapi.yaml): management and trigger routes.

It knows HTTP and the contract's shapes, nothing about click: `httpep endpoint ...` and `httpep call` wrap it,
and tests use it to drive the local stack.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import requests

# Connect fast (the local stack answers at once or not at all); read longer than API Gateway's 29 s
# integration timeout, so a slow handler's 504 arrives instead of a client-side timeout.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 65.0
# The management routes answer 503 only when a write lost a race with a concurrent one and nothing was
# committed (or a store throttled): trying again shortly is what the service asks for.
RETRIES_ON_503 = 4
BACKOFF_SECONDS = 0.2
MAX_PAGE_SIZE = 1000
USER_AGENT = "httpep"


class ApiError(Exception):
    """The API answered with an error status. `message` is the body's `error` (or `message`) text.

    `gateway` tells refusals in API Gateway's shape (their body has a `message` key: API Gateway's own, such as
    an unknown route or a refused token, and the trigger route's 401s, which take that shape) from the other
    answers of the service and from a handler's.
    """

    def __init__(self, status: int, message: str, gateway: bool = False) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.gateway = gateway

    @classmethod
    def from_response(cls, response: requests.Response) -> ApiError:
        try:
            body = response.json()
        except ValueError:
            body = None
        gateway = isinstance(body, dict) and "message" in body
        return cls(response.status_code, error_message(response, body), gateway)


class Unreachable(Exception):
    """Nothing answered at `url` (connection refused, unknown host, timeout)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach {url}: {reason}")
        self.url = url
        self.reason = reason


def error_message(response: requests.Response, body: Any) -> str:
    """What went wrong, in the service's own words when its body says (`{"error": ...}`), else the status phrase."""
    if isinstance(body, dict):
        for key in ("error", "message"):  # `message` is API Gateway's own 401/403 wording
            if isinstance(body.get(key), str) and body[key]:
                return " ".join(str(body[key]).split())
    try:
        return HTTPStatus(response.status_code).phrase
    except ValueError:
        return response.reason or "error"


def bare(token: str) -> str:
    """The token itself: one pasted with its scheme (the most common copy-paste slip) loses it."""
    return token[7:] if token[:7].lower() == "bearer " else token


def authorization(token: str) -> str:
    return f"Bearer {bare(token)}"


@dataclass
class ApiClient:
    """The HTTP API at `api_root` (`<base URL>/api/v1/http-endpoint`) as the account `token` belongs to."""

    api_root: str
    token: str
    session: requests.Session = field(default_factory=requests.Session)
    retries_on_503: int = RETRIES_ON_503

    def __post_init__(self) -> None:
        self.api_root = self.api_root.rstrip("/")

    # ------------------------------------------------------------------------------------ management

    def create_endpoint(
        self, endpoint_id: str, path: str, handler_script_path: str, access: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """`access`: any of `auth`, `hmac` and `secrets`, as the API takes them."""
        body = {"path": path, "handler_script_path": handler_script_path, **(access or {})}
        return self._json("PUT", self._endpoint_url(endpoint_id), body)

    def get_endpoint(self, endpoint_id: str) -> dict[str, Any]:
        return self._json("GET", self._endpoint_url(endpoint_id))

    def update_endpoint(
        self,
        endpoint_id: str,
        *,
        path: str | None = None,
        handler_script_path: str | None = None,
        enabled: bool | None = None,
        access: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        changes = {"path": path, "handler_script_path": handler_script_path, "enabled": enabled}
        body = {**{key: value for key, value in changes.items() if value is not None}, **(access or {})}
        return self._json("PATCH", self._endpoint_url(endpoint_id), body)

    def delete_endpoint(self, endpoint_id: str) -> dict[str, Any]:
        return self._json("DELETE", self._endpoint_url(endpoint_id))

    def list_page(self, filters: Mapping[str, str], offset: int = 0, limit: int = MAX_PAGE_SIZE) -> dict[str, Any]:
        """One page of `GET API_ROOT/list`; `filters` are its query parameters (id, path, handler, state)."""
        params = {**filters, "offset": str(offset), "limit": str(limit)}
        return self._json("GET", f"{self.api_root}/list", params=params)

    def iter_endpoints(self, filters: Mapping[str, str], page_size: int = MAX_PAGE_SIZE) -> Iterator[dict[str, Any]]:
        """Every endpoint matching `filters`, following `next_offset` until the last page."""
        offset = 0
        while True:
            page = self.list_page(filters, offset, page_size)
            yield from page.get("endpoints") or []
            next_offset = page.get("next_offset")
            if next_offset is None:
                return
            if not isinstance(next_offset, int) or next_offset <= offset:
                # A broken server must not send the client round in circles.
                raise ApiError(200, f"the list route returned next_offset {next_offset!r} after offset {offset}")
            offset = next_offset

    def list_endpoints(self, filters: Mapping[str, str], page_size: int = MAX_PAGE_SIZE) -> list[dict[str, Any]]:
        return list(self.iter_endpoints(filters, page_size))

    def invocations(self, endpoint_id: str, limit: int) -> list[dict[str, Any]]:
        """`GET API_ROOT/<id>/invocations?limit=N`: the endpoint's newest records, newest first."""
        page = self._json("GET", f"{self._endpoint_url(endpoint_id)}/invocations", params={"limit": str(limit)})
        records = page.get("invocations")
        if not isinstance(records, list):
            raise ApiError(200, "the invocations route answered without an `invocations` list")
        return records

    # ------------------------------------------------------------------------------------ files

    @property
    def files_root(self) -> str:
        """`<base URL>/api/v2/files`, beside the API root `<base URL>/api/v1/http-endpoint`."""
        return self.api_root.removesuffix("/api/v1/http-endpoint") + "/api/v2/files"

    def file_url(self, drive_path: str) -> str:
        return f"{self.files_root}/{quote(drive_path.lstrip('/'), safe='/')}"

    def put_file(self, drive_path: str, data: bytes) -> dict[str, Any]:
        """`PUT FILES_ROOT/<drive path>`: save a file; the answer lists the endpoints re-pinned and kept."""
        headers = {
            "Authorization": authorization(self.token),
            "Content-Type": "application/octet-stream",
            "User-Agent": USER_AGENT,
        }
        response = self._send("PUT", self.file_url(drive_path), data=data, headers=headers)
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        return dict(response.json())

    def get_file(self, drive_path: str, version: str | None = None) -> tuple[bytes, str | None]:
        """`GET FILES_ROOT/<drive path>[?version=V]`: the file's bytes and the version they are (`X-Version`)."""
        headers = {"Authorization": authorization(self.token), "User-Agent": USER_AGENT}
        params = {"version": version} if version is not None else None
        response = self._send("GET", self.file_url(drive_path), params=params, headers=headers)
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        return response.content, response.headers.get("X-Version")

    def file_versions(self, drive_path: str) -> dict[str, Any]:
        """`GET FILES_ROOT/<drive path>?versions=true`: `{"path", "versions": [...]}`, newest first."""
        return self._json("GET", self.file_url(drive_path), params={"versions": "true"})

    def folder_page(self, folder: str, page_token: str | None = None) -> dict[str, Any]:
        """One page of `GET FILES_ROOT/<folder>?list=true`: `{"path", "nodes", "next_page_token"}`."""
        params = {"list": "true", **({"page_token": page_token} if page_token else {})}
        return self._json("GET", self.file_url(folder), params=params)

    def iter_folder(self, folder: str) -> Iterator[dict[str, Any]]:
        """Every file and sub-folder of `folder`, following `next_page_token` until the last page."""
        token: str | None = None
        seen: set[str] = set()
        while True:
            page = self.folder_page(folder, token)
            yield from page.get("nodes") or []
            token = page.get("next_page_token")
            if not token:
                return
            if token in seen:
                # A broken server must not send the client round in circles.
                raise ApiError(200, f"the files route returned page_token {token!r} twice")
            seen.add(token)

    def delete_file(self, drive_path: str) -> dict[str, Any]:
        """`DELETE FILES_ROOT/<drive path>`: `{"path"}`; 409 names the endpoints that still run it."""
        return self._json("DELETE", self.file_url(drive_path))

    # ------------------------------------------------------------------------------------ trigger

    def trigger(
        self,
        path: str,
        method: str = "GET",
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Call `API_ROOT/u/<path>` (a query string may follow the path) and return the response as it is.

        Never raises for an HTTP status: whatever the handler answered, error statuses included, is the result.
        """
        url = f"{self.api_root}/u/{path.lstrip('/')}"
        all_headers = {"Authorization": authorization(self.token), "User-Agent": USER_AGENT, **(headers or {})}
        return self._send(method, url, data=data, headers=all_headers)

    # ------------------------------------------------------------------------------------ plumbing

    def _endpoint_url(self, endpoint_id: str) -> str:
        # Quoted so that an id with a character the API refuses reaches it (and gets its 400/404), rather
        # than naming another route.
        return f"{self.api_root}/{quote(endpoint_id, safe='')}"

    def _json(
        self,
        method: str,
        url: str,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        headers = {"Authorization": authorization(self.token), "Accept": "application/json", "User-Agent": USER_AGENT}
        for attempt in range(self.retries_on_503 + 1):
            response = self._send(method, url, json=body, params=params, headers=headers)
            if response.status_code != HTTPStatus.SERVICE_UNAVAILABLE or attempt == self.retries_on_503:
                break
            time.sleep(random.uniform(0.5, 1.5) * BACKOFF_SECONDS * 2**attempt)
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        try:
            result = response.json()
        except ValueError:
            raise ApiError(response.status_code, f"the API answered {url} with a body that is not JSON") from None
        if not isinstance(result, dict):
            raise ApiError(response.status_code, f"the API answered {url} with JSON that is not an object")
        return result

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        try:
            return self.session.request(method, url, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), **kwargs)
        except requests.exceptions.ReadTimeout:
            raise Unreachable(self.api_root, f"no answer within {READ_TIMEOUT:g} s") from None
        except requests.exceptions.ConnectionError as exc:
            raise Unreachable(self.api_root, _reason(exc)) from None
        except requests.exceptions.InvalidURL as exc:
            raise Unreachable(self.api_root, f"invalid URL ({exc})") from None


def _reason(exc: requests.exceptions.ConnectionError) -> str:
    """The innermost cause ("Connection refused", "Name or service not known"), not urllib3's retry prose."""
    cause: BaseException = exc
    while cause.__context__ is not None or cause.__cause__ is not None:
        cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
    text = str(cause)
    if isinstance(cause, ConnectionRefusedError) or "Connection refused" in text:
        return "connection refused"
    return " ".join(text.split())[:200] or type(cause).__name__
