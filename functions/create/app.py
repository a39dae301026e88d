"""Management: create an endpoint (`PUT <base>/<id>`; the base path comes from the template)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from httpendpoint.core.observability import logger, metrics, tracer
from httpendpoint.management import contract, operations
from httpendpoint.management.models import CreateRequest, EndpointIdView
from httpendpoint.management.resolver import caller_account, json_response, new_resolver

app = new_resolver(check_id=operations.checked_new_id)


@app.put(
    "/<id>",
    operation_id="createEndpoint",
    tags=[contract.TAG],
    summary="Create an endpoint",
    description="Creates the endpoint `id`, served at `API_ROOT/u/<path>`. An `id` in the body must equal the "
    "URL's. The handler script must be in the caller's drive (`/<account>/...`, else `403`), exist in the script "
    "store and compile with a top-level `def handler` (else `400`, naming the problem; a syntax error with its "
    "line). It is never run at this point. `auth` (default `bearer`) says who may call the trigger route; `hmac` "
    "is required when `auth` is `hmac` and its `secret` must name one of `secrets`, which become the handler's "
    "environment variables and are never shown again (reads list their names).",
    responses=contract.responses(
        201,
        "Created.",
        400,
        403,
        409,
        413,
        links={
            **contract.links_to("getEndpoint", "updateEndpoint", "deleteEndpoint", "listInvocations"),
            **contract.links_to(*contract.TRIGGER_OPERATIONS, parameter="path", source="$request.body#/path"),
        },
    ),
)
def create(id: contract.UrlId, request: Annotated[CreateRequest, Body()]) -> Response[EndpointIdView]:
    endpoint = operations.create_endpoint(caller_account(app), id, request)
    return json_response(201, EndpointIdView(id=endpoint.id))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
