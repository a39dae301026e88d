"""The API Gateway resolver every management function uses, and the one place errors become HTTP.

A function's routes are relative (`/<id>`, `/list`): the template's `API_BASE_PATH` is stripped before routing,
and the same variable puts them back when `openapi.yaml` is generated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from httpendpoint.core import settings
from httpendpoint.core.errors import NotFound, ServiceError, Unavailable
from httpendpoint.core.limits import RETRY_AFTER_HEADER, RETRY_AFTER_SECONDS
from httpendpoint.core.observability import logger


def error_response(status: int, message: str, **extra: Any) -> Response[dict[str, Any]]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body={"error": message, **extra})


def new_resolver(
    check_id: Callable[[str], object] | None = None, resolver: type[APIGatewayRestResolver] = APIGatewayRestResolver
) -> APIGatewayRestResolver:
    """The resolver of one management (or files) function: `resolver` is Powertools' REST resolver or a subclass.

    `check_id` is the route's check of the URL's `{id}`. A request whose `{id}` API Gateway accepted but no
    route pattern of the resolver does (a decoded character such as a quote or a newline) breaks the id rules,
    so it gets the answer that check gives.
    """
    app = resolver(enable_validation=True, strip_prefixes=[settings.api_base_path()])

    app.exception_handler(ServiceError)(service_error)

    def check_url_id() -> None:
        """The URL's `{id}` as API Gateway handed it over, by the route's rule (raises its ServiceError)."""
        endpoint_id = (app.current_event.path_parameters or {}).get("id")
        if check_id is not None and endpoint_id is not None:
            check_id(endpoint_id)

    def whole_url_id(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
        # A route pattern ends in `$`, which also matches before a final newline: `/hello%0A` would reach
        # `hello`'s route with the id cut short.
        check_url_id()
        return next_middleware(app)

    if check_id is not None:
        app.use([whole_url_id])

    @app.not_found
    def no_route(exc: NotFoundError) -> Response[dict[str, Any]]:
        try:
            check_url_id()
            raise NotFound(f"no route for {app.current_event.http_method} {app.current_event.path}")
        except ServiceError as exc:
            return service_error(exc)

    @app.exception_handler(RequestValidationError)
    def invalid_request(exc: RequestValidationError) -> Response[dict[str, Any]]:
        content_type = app.current_event.headers.get("content-type", "")
        if content_type.startswith(FORM_CONTENT_TYPES):
            # The validator read the body as a form (e.g. `curl -d`): its field errors would only confuse.
            return error_response(400, not_json(content_type))
        return error_response(400, describe_validation_errors(exc.errors()))

    @app.exception_handler(RequestUnsupportedContentType)
    def unsupported_content_type(exc: RequestUnsupportedContentType) -> Response[dict[str, Any]]:
        return error_response(400, not_json(app.current_event.headers.get("content-type", "")))

    @app.exception_handler(UnicodeDecodeError)
    def undecodable_body(exc: UnicodeDecodeError) -> Response[dict[str, Any]]:
        # Raised by the event's `decoded_body` while the validator reads a body that is not UTF-8.
        return error_response(400, "body: is not valid UTF-8 text")

    @app.exception_handler(Exception)
    def unexpected(exc: Exception) -> Response[dict[str, Any]]:
        return internal_error()

    @app.exception_handler(ValueError)
    def bad_value(exc: ValueError) -> Response[dict[str, Any]]:
        content_type = app.current_event.headers.get("content-type", "")
        if content_type.startswith(FORM_CONTENT_TYPES):
            # Powertools' form parsers raise a bare ValueError for a malformed form (e.g. no multipart boundary).
            return error_response(400, not_json(content_type))
        return internal_error()

    return app


def service_error(exc: ServiceError) -> Response[dict[str, Any]]:
    response = error_response(exc.status, exc.message)
    if isinstance(exc, Unavailable):
        # A dependency failed or throttled: tell clients when a retry is worth it.
        response.headers[RETRY_AFTER_HEADER] = RETRY_AFTER_SECONDS
    return response


def internal_error() -> Response[dict[str, Any]]:
    """A 500 that says nothing about the code; the traceback goes to the log only."""
    logger.exception("unhandled error")
    return error_response(500, "internal error")


FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def not_json(content_type: str) -> str:
    return f"body: must be a JSON object sent as application/json, not {content_type[:100]}"


LOCATIONS = ("body", "query", "path", "header", "cookie")
# Friendlier wording of pydantic's most common messages (strict mode: no coercion from other JSON types).
MESSAGES = {
    "extra_forbidden": "is not a known field",
    "missing": "is required",
    "string_type": "must be a string",
    "bool_type": "must be a boolean (true or false)",
    "model_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
}


def describe_validation_errors(errors: Any) -> str:
    """One readable clause per pydantic error, naming the field (or `body` for the body as a whole)."""
    parts = []
    for error in list(errors):
        loc = [str(part) for part in error.get("loc", ())]
        # Only a leading location marker is dropped: `path` is also the name of a body field.
        where = loc.pop(0) if loc and loc[0] in LOCATIONS else "body"
        kind = error.get("type")
        if kind == "json_invalid":
            detail = (error.get("ctx") or {}).get("error", "")
            parts.append(f"body: is not valid JSON ({detail})" if detail else "body: is not valid JSON")
            continue
        field = ".".join(loc) or where
        message = MESSAGES.get(kind) or str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        if kind == "extra_forbidden" and where == "query":
            message = "is not a known query parameter"
        elif where == "query" and isinstance(error.get("input"), list):
            # A scalar parameter given more than once (API Gateway hands over every value).
            message = "may be given only once"
        elif kind == "missing" and not loc and where == "body":
            message = "a JSON object is required"
        parts.append(f"{field}: {message}")
    return "; ".join(parts) or "invalid request"


def caller_account(app: APIGatewayRestResolver) -> str:
    """The account the authorizer put in the request context."""
    authorizer = app.current_event.request_context.authorizer
    account = authorizer.get("account") if authorizer else None
    if not account:
        # Only reachable if the API is misconfigured without its authorizer.
        raise ServiceError("no account in the authorizer context")
    logger.append_keys(account=account)
    return str(account)


def only_declared_query_parameters(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """Route middleware: a query parameter the route does not declare is a 400, not silently ignored."""
    route = app.context["_route"]
    declared = {field.alias for field in route.dependant.query_params}
    unknown = sorted(set(app.current_event.resolved_query_string_parameters or {}) - declared)
    if unknown:
        raise RequestValidationError([{"type": "extra_forbidden", "loc": ("query", name)} for name in unknown])
    return next_middleware(app)


def json_response(status: int, body: Any) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)
