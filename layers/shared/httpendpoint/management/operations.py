"""The five management operations (API.md): business rules between the HTTP layer and the stores.

Each `handle_*` function is what one Lambda function's route calls: it takes the caller's account and the
URL's id from the resolver, runs the operation and shapes the response. The operations themselves take plain
values, so they read (and test) without any HTTP around them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.metrics import MetricUnit

from httpendpoint import scripts
from httpendpoint.core import settings
from httpendpoint.core.errors import BadRequest, NotFound, ServiceError
from httpendpoint.core.observability import logger, metrics
from httpendpoint.management.models import (
    CreateRequest,
    EndpointIdView,
    EndpointListView,
    EndpointView,
    ListQuery,
    UpdateRequest,
    check_endpoint_id,
    parse_list_query,
    state_of,
)
from httpendpoint.management.resolver import caller_account
from httpendpoint.stores import endpoint_store
from httpendpoint.stores.endpoint_store import Endpoint, ListPage

View = TypeVar("View", EndpointIdView, EndpointView, EndpointListView)

# ---------------------------------------------------------------------------------------------- operations


def create_endpoint(account: str, endpoint_id: str, request: CreateRequest) -> Endpoint:
    _same_id(endpoint_id, request.id)
    # Pinned to the version that passed the check (the current one, or the one asked for).
    version = scripts.check_handler_script(request.handler_script_path, account, request.handler_script_version)
    return endpoint_store.create(
        endpoint_id,
        account,
        request.path,
        request.handler_script_path,
        max_endpoints=settings.max_endpoints_per_account(),
        handler_script_version=version,
    )


def get_endpoint(account: str, endpoint_id: str) -> Endpoint:
    endpoint = endpoint_store.get(endpoint_id, account)
    if endpoint is None:
        raise not_found(endpoint_id)
    return endpoint


def update_endpoint(account: str, endpoint_id: str, request: UpdateRequest) -> Endpoint:
    _same_id(endpoint_id, request.id)
    # Existence first, so a caller learns about a wrong id before anything about the script.
    current = get_endpoint(account, endpoint_id)
    version = None
    if request.handler_script_path is not None or request.handler_script_version is not None:
        # A new path pins that file's current version (or the one given); a version alone is a rollback (or
        # roll-forward) of the file the endpoint runs. Either way the version must pass the handler check.
        drive_path = request.handler_script_path or current.handler_script_path
        version = scripts.check_handler_script(drive_path, account, request.handler_script_version)
    return endpoint_store.update(
        endpoint_id,
        account,
        path=request.path,
        handler_script_path=request.handler_script_path,
        handler_script_version=version,
        enabled=request.enabled,
    )


def delete_endpoint(account: str, endpoint_id: str) -> Endpoint:
    return endpoint_store.delete(endpoint_id, account)


def list_endpoints(account: str, query: ListQuery) -> ListPage:
    return endpoint_store.list_endpoints(
        account,
        endpoint_id=query.id,
        path=query.path,
        handler_script_path=query.handler,
        enabled=query.enabled,
        offset=query.offset,
        limit=query.limit,
    )


def not_found(endpoint_id: str) -> NotFound:
    return NotFound(f"no endpoint with id {endpoint_id!r}")


def _same_id(url_id: str, body_id: str | None) -> None:
    if body_id is not None and body_id != url_id:
        raise BadRequest(f"id: {body_id!r} in the body differs from {url_id!r} in the URL")


# ---------------------------------------------------------------------------------------------- routes


def handle_create(app: APIGatewayRestResolver, request: CreateRequest) -> Response[EndpointIdView]:
    """PUT API_ROOT/<id>: 201 {"id"}."""
    endpoint_id = _url_id(app, invalid=lambda message: BadRequest(f"id in the URL: {message}"))
    endpoint = create_endpoint(_account(app), endpoint_id, request)
    logger.info("endpoint created", extra={"path": endpoint.path, "handler_script_path": endpoint.handler_script_path})
    metrics.add_metric(name="EndpointsCreated", unit=MetricUnit.Count, value=1)
    return _json(201, EndpointIdView(id=endpoint.id))


def handle_get(app: APIGatewayRestResolver) -> Response[EndpointView]:
    """GET API_ROOT/<id>: 200 {"id", "path", "handler_script_path", "state"}."""
    endpoint = get_endpoint(_account(app), _url_id(app))
    return _json(200, endpoint_view(endpoint))


def handle_update(app: APIGatewayRestResolver, request: UpdateRequest) -> Response[EndpointIdView]:
    """PATCH API_ROOT/<id>: 200 {"id"}."""
    endpoint = update_endpoint(_account(app), _url_id(app), request)
    logger.info("endpoint updated", extra={"changes": request.model_dump(exclude_unset=True, exclude={"id"})})
    metrics.add_metric(name="EndpointsUpdated", unit=MetricUnit.Count, value=1)
    return _json(200, EndpointIdView(id=endpoint.id))


def handle_delete(app: APIGatewayRestResolver) -> Response[EndpointIdView]:
    """DELETE API_ROOT/<id>: 200 {"id"}."""
    endpoint = delete_endpoint(_account(app), _url_id(app))
    logger.info("endpoint deleted", extra={"path": endpoint.path})
    metrics.add_metric(name="EndpointsDeleted", unit=MetricUnit.Count, value=1)
    return _json(200, EndpointIdView(id=endpoint.id))


def handle_list(app: APIGatewayRestResolver) -> Response[EndpointListView]:
    """GET API_ROOT/list?id=&path=&handler=&state=&offset=&limit=: one page of the caller's endpoints."""
    account = _account(app)
    event = app.current_event
    # API Gateway gives every value of a repeated parameter here; a repeat is an error, not a silent pick.
    parameters = event.multi_value_query_string_parameters or {
        name: [value] for name, value in (event.query_string_parameters or {}).items()
    }
    query = parse_list_query(parameters)
    page = list_endpoints(account, query)
    view = EndpointListView(
        id=query.id,
        endpoints=[endpoint_view(endpoint) for endpoint in page.endpoints],
        next_offset=query.offset + query.limit if page.has_more else None,
    )
    return _json(200, view)


def endpoint_view(endpoint: Endpoint) -> EndpointView:
    return EndpointView(
        id=endpoint.id,
        path=endpoint.path,
        handler_script_path=endpoint.handler_script_path,
        handler_script_version=endpoint.handler_script_version,
        state=state_of(endpoint.enabled),
    )


def _account(app: APIGatewayRestResolver) -> str:
    account = caller_account(app)
    logger.append_keys(account=account)
    return account


def _url_id(app: APIGatewayRestResolver, invalid: Callable[[str], ServiceError] | None = None) -> str:
    """The id in the URL. An id that breaks the rules names no endpoint: 404, unless `invalid` says otherwise."""
    endpoint_id = str((app.current_event.path_parameters or {}).get("id", ""))
    logger.append_keys(endpoint_id=endpoint_id)
    try:
        return check_endpoint_id(endpoint_id)
    except ValueError as exc:
        raise (invalid(str(exc)) if invalid else not_found(endpoint_id)) from None


def _json(status: int, body: View) -> Response[View]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)
