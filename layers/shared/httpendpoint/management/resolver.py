"""The API Gateway resolver every management function uses, and the one place errors become HTTP.

Each function serves exactly the route(s) the template wires to it, so the resolver matches any path and
the template alone says which paths exist.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from httpendpoint.core.errors import RETRY_AFTER_SECONDS, ServiceError, Unavailable
from httpendpoint.core.observability import logger

# The template decides the path; a function answers whatever route API Gateway sends it (any character,
# a decoded newline included, hence not ".*").
ANY_ROUTE = r"/[\s\S]*"


def error_response(status: int, message: str, **extra: Any) -> Response[dict[str, Any]]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body={"error": message, **extra})


def new_resolver(resolver: type[APIGatewayRestResolver] = APIGatewayRestResolver) -> APIGatewayRestResolver:
    app = resolver(enable_validation=True)

    @app.exception_handler(ServiceError)
    def service_error(exc: ServiceError) -> Response[dict[str, Any]]:
        response = error_response(exc.status, exc.message)
        if isinstance(exc, Unavailable):
            # A dependency failed or throttled: tell clients when a retry is worth it.
            response.headers["Retry-After"] = RETRY_AFTER_SECONDS
        return response

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
    return str(account)
