"""Management: get one endpoint (`GET <base>/<id>`; the base path comes from the template)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from httpendpoint.core.observability import logger, metrics, tracer
from httpendpoint.management import contract, operations
from httpendpoint.management.models import EndpointView
from httpendpoint.management.resolver import caller_account, json_response, new_resolver

app = new_resolver(check_id=operations.checked_id)


@app.get(
    "/<id>",
    operation_id="getEndpoint",
    tags=[contract.TAG],
    summary="Get an endpoint",
    responses=contract.responses(
        200,
        "The endpoint.",
        403,
        404,
        links={
            **contract.links_to("updateEndpoint", "deleteEndpoint"),
            **contract.links_to("triggerGet", parameter="path", source="$response.body#/path"),
        },
    ),
)
def get(id: contract.UrlId) -> Response[EndpointView]:
    endpoint = operations.get_endpoint(caller_account(app), id)
    return json_response(200, operations.endpoint_view(endpoint))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
