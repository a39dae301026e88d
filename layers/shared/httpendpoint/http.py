"""The API Gateway resolver every management function uses, and the one place errors become HTTP.

Each function serves exactly the route(s) the template wires to it, so the resolver matches any path and
the template alone says which paths exist.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from httpendpoint.errors import ServiceError
from httpendpoint.observability import logger

# The template decides the path; a function answers whatever route API Gateway sends it.
ANY_ROUTE = "/.*"


def error_response(status: int, message: str, **extra: Any) -> Response[dict[str, Any]]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body={"error": message, **extra})


def new_resolver() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)

    @app.exception_handler(ServiceError)
    def service_error(exc: ServiceError) -> Response[dict[str, Any]]:
        return error_response(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    def invalid_request(exc: RequestValidationError) -> Response[dict[str, Any]]:
        return error_response(400, describe_validation_errors(exc.errors()))

    @app.exception_handler(Exception)
    def unexpected(exc: Exception) -> Response[dict[str, Any]]:
        logger.exception("unhandled error")
        return error_response(500, "internal error")

    return app


def describe_validation_errors(errors: Any) -> str:
    """One readable sentence per pydantic error, naming the field."""
    parts = []
    for error in list(errors):
        location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
        field = ".".join(location) or "body"
        message = str(error.get("msg", "is invalid"))
        if error.get("type") == "extra_forbidden":
            message = "is not a known field"
        elif error.get("type") == "missing":
            message = "is required"
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
