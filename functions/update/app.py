"""Management: update an endpoint's path, script or state (`PATCH <base>/<id>`; base path from the template)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from httpendpoint.core.observability import logger, metrics, tracer
from httpendpoint.management import contract, operations
from httpendpoint.management.models import EndpointIdView, UpdateRequest
from httpendpoint.management.resolver import caller_account, json_response, new_resolver

app = new_resolver(check_id=operations.checked_id)


@app.patch(
    "/<id>",
    operation_id="updateEndpoint",
    tags=[contract.TAG],
    summary="Update an endpoint's path, handler script, state, trigger auth or secrets",
    description="Any of `path`, `handler_script_path`, `handler_script_version`, `enabled`, `auth`, `hmac` and "
    "`secrets` (at least one of them); an `id` in the body must equal the URL's (else `400`). Changing the path "
    "frees the old one and claims the new one atomically. A new handler script is checked as at create time. "
    "`secrets` changes the named secrets only (`null` removes one); leaving `auth: hmac` drops the `hmac` "
    "settings, and `hmac.secret` must name one of the endpoint's secrets after the update. The change is "
    "visible to the next request.",
    responses=contract.responses(
        200,
        "Updated.",
        400,
        403,
        404,
        409,
        413,
        links=contract.links_to("getEndpoint", "deleteEndpoint"),
    ),
)
def update(id: contract.UrlId, request: Annotated[UpdateRequest, Body()]) -> Response[EndpointIdView]:
    endpoint = operations.update_endpoint(caller_account(app), id, request)
    return json_response(200, EndpointIdView(id=endpoint.id))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
