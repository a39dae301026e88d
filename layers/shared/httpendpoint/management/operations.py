"""The management operations: business rules between the HTTP routes and the stores.

They take plain values (the caller's account, the URL's id, a validated request model) and return plain
results, so they read (and test) without any HTTP around them; the functions' routes only translate.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict

from aws_lambda_powertools.metrics import MetricUnit

from httpendpoint import scripts
from httpendpoint.core import settings
from httpendpoint.core.errors import BadRequest, NotFound, ServiceError
from httpendpoint.core.limits import INVOKE_LIMIT_BYTES
from httpendpoint.core.observability import logger, metrics
from httpendpoint.management.models import (
    MAX_SECRETS,
    CreateRequest,
    EndpointListView,
    EndpointView,
    Hmac,
    InvocationListView,
    InvocationView,
    ListQuery,
    UpdateRequest,
    check_endpoint_id,
    state_of,
)
from httpendpoint.stores import endpoint_store, invocation_store
from httpendpoint.stores.endpoint_store import HMAC, Endpoint, HmacSettings

# The invocations route's answer, with room for the JSON around the records and the headers.
INVOCATIONS_RESPONSE_BUDGET = INVOKE_LIMIT_BYTES - 256 * 1024


def create_endpoint(account: str, endpoint_id: str, request: CreateRequest) -> Endpoint:
    """A new endpoint; an id in the URL that breaks the id rules is the client's mistake (400)."""
    checked_new_id(endpoint_id)
    _same_id(endpoint_id, request.id)
    # Pinned to the version that passed the check (the current one, or the one asked for).
    auth = request.auth or endpoint_store.BEARER
    hmac = _hmac_settings(request.hmac)
    secrets = dict(request.secrets or {})
    check_access(auth, hmac, secrets)
    version = scripts.check_handler_script(request.handler_script_path, account, request.handler_script_version)
    endpoint = endpoint_store.create(
        endpoint_id,
        account,
        request.path,
        request.handler_script_path,
        max_endpoints=settings.max_endpoints_per_account(),
        handler_script_version=version,
        auth=auth,
        hmac=hmac,
        secrets=secrets,
    )
    logger.info("endpoint created", extra={"path": endpoint.path, "handler_script_path": endpoint.handler_script_path})
    metrics.add_metric(name="EndpointsCreated", unit=MetricUnit.Count, value=1)
    return endpoint


def get_endpoint(account: str, endpoint_id: str) -> Endpoint:
    """The caller's endpoint; another account's, a missing one and an id that breaks the rules are all 404."""
    endpoint = endpoint_store.get(checked_id(endpoint_id), account)
    if endpoint is None:
        raise not_found(endpoint_id)
    return endpoint


def update_endpoint(account: str, endpoint_id: str, request: UpdateRequest) -> Endpoint:
    checked_id(endpoint_id)
    _same_id(endpoint_id, request.id)
    # Existence first, so a caller learns about a wrong id before anything about the script.
    current = get_endpoint(account, endpoint_id)
    version = None
    if request.handler_script_path is not None or request.handler_script_version is not None:
        # A new path pins that file's current version (or the one given); a version alone is a rollback (or
        # roll-forward) of the file the endpoint runs. Either way the version must pass the handler check.
        drive_path = request.handler_script_path or current.handler_script_path
        version = scripts.check_handler_script(drive_path, account, request.handler_script_version)
    endpoint = endpoint_store.update(
        endpoint_id,
        account,
        path=request.path,
        handler_script_path=request.handler_script_path,
        handler_script_version=version,
        enabled=request.enabled,
        auth=request.auth,
        hmac=_hmac_settings(request.hmac),
        secrets=request.secrets,
        check=lambda changed: check_access(changed.auth, changed.hmac, changed.secrets),
    )
    # Secret values never reach a log line: the changed names only.
    changes = request.model_dump(exclude_unset=True, exclude={"id", "secrets"})
    if request.secrets is not None:
        changes["secrets"] = sorted(request.secrets)
    logger.info("endpoint updated", extra={"changes": changes})
    metrics.add_metric(name="EndpointsUpdated", unit=MetricUnit.Count, value=1)
    return endpoint


def delete_endpoint(account: str, endpoint_id: str) -> Endpoint:
    endpoint = endpoint_store.delete(checked_id(endpoint_id), account)
    logger.info("endpoint deleted", extra={"path": endpoint.path})
    metrics.add_metric(name="EndpointsDeleted", unit=MetricUnit.Count, value=1)
    return endpoint


def list_endpoints(account: str, query: ListQuery) -> EndpointListView:
    """One page of the caller's endpoints that match every filter of `query`."""
    page = endpoint_store.list_endpoints(
        account,
        endpoint_id=query.id,
        path=query.path,
        handler_script_path=query.handler,
        enabled=query.enabled,
        offset=query.offset,
        limit=query.limit,
    )
    return EndpointListView(
        id=query.id,
        endpoints=[endpoint_view(endpoint) for endpoint in page.endpoints],
        next_offset=query.offset + query.limit if page.has_more else None,
    )


def endpoint_view(endpoint: Endpoint) -> EndpointView:
    hmac = endpoint.hmac
    return EndpointView(
        id=endpoint.id,
        path=endpoint.path,
        handler_script_path=endpoint.handler_script_path,
        handler_script_version=endpoint.handler_script_version,
        state=state_of(endpoint.enabled),
        auth=endpoint.auth,  # type: ignore[arg-type]  # the store only holds the models' modes
        secrets=sorted(endpoint.secrets),
        hmac=None
        if hmac is None or endpoint.auth != HMAC
        else Hmac(header=hmac.header, secret=hmac.secret, encoding=hmac.encoding, prefix=hmac.prefix),  # type: ignore[arg-type]
    )


def check_access(auth: str, hmac: HmacSettings | None, secrets: Mapping[str, str]) -> None:
    """The rules that tie `auth`, `hmac` and `secrets` together, on the endpoint as it would be stored."""
    if len(secrets) > MAX_SECRETS:
        raise BadRequest(f"secrets: an endpoint has at most {MAX_SECRETS} secrets (this would leave {len(secrets)})")
    if auth == HMAC and hmac is None:
        raise BadRequest("hmac: required when auth is 'hmac' (header and secret name)")
    if auth != HMAC and hmac is not None:
        raise BadRequest(f"hmac: only allowed when auth is 'hmac' (auth is {auth!r})")
    if hmac is not None and hmac.secret not in secrets:
        raise BadRequest(f"hmac.secret: {hmac.secret!r} is not one of the endpoint's secrets")


def _hmac_settings(hmac: Hmac | None) -> HmacSettings | None:
    if hmac is None:
        return None
    return HmacSettings(header=hmac.header, secret=hmac.secret, encoding=hmac.encoding, prefix=hmac.prefix)


def not_found(endpoint_id: str) -> NotFound:
    return NotFound(f"no endpoint with id {endpoint_id!r}")


def checked_id(endpoint_id: str) -> str:
    """The URL's id of an existing endpoint. One that breaks the id rules names no endpoint: 404."""
    return _checked(endpoint_id, lambda message: not_found(endpoint_id))


def checked_new_id(endpoint_id: str) -> str:
    """The URL's id of an endpoint to create. One that breaks the id rules is the client's mistake: 400."""
    return _checked(endpoint_id, lambda message: BadRequest(f"id in the URL: {message}"))


def _checked(endpoint_id: str, invalid: Callable[[str], ServiceError]) -> str:
    logger.append_keys(endpoint_id=endpoint_id)
    try:
        return check_endpoint_id(endpoint_id)
    except ValueError as exc:
        raise invalid(str(exc)) from None


def _same_id(url_id: str, body_id: str | None) -> None:
    if body_id is not None and body_id != url_id:
        raise BadRequest(f"id: {body_id!r} in the body differs from {url_id!r} in the URL")


def list_invocations(account: str, endpoint_id: str, limit: int) -> InvocationListView:
    """The newest `limit` records of the caller's endpoint, newest first; only this incarnation's (a deleted
    endpoint's records stay behind, unread, until they expire).

    Fewer when they would not fit one Lambda response: a record may hold 4096 characters of output and of
    error, and one character can take 14 bytes once escaped in the body and the body escaped in the response
    (an emoji: `\\ud83d\\ude00`), so 100 records could pass 6 MB.
    """
    endpoint = get_endpoint(account, endpoint_id)
    records = invocation_store.recent(account, endpoint.id, since=endpoint.created_at, limit=limit)
    views: list[InvocationView] = []
    size = 0
    for record in records:
        fields = asdict(record)
        # Its size as the response carries it: JSON in the body, the body a JSON string in Lambda's answer.
        size += len(json.dumps(json.dumps(fields, separators=(",", ":"))))
        if size > INVOCATIONS_RESPONSE_BUDGET:
            break
        views.append(InvocationView(**fields))
    return InvocationListView(id=endpoint.id, invocations=views)
