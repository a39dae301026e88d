"""Management: delete an endpoint (`DELETE <base>/<id>`; the base path comes from the template)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from httpendpoint.core.observability import logger, metrics, tracer
from httpendpoint.management import contract, operations
from httpendpoint.management.models import EndpointIdView
from httpendpoint.management.resolver import caller_account, json_response, new_resolver

app = new_resolver(check_id=operations.checked_id)


@app.delete(
    "/<id>",
    operation_id="deleteEndpoint",
    tags=[contract.TAG],
    summary="Delete an endpoint",
    description="Deletes the endpoint and frees its path at once.",
    responses=contract.responses(200, "Deleted.", 403, 404, links=contract.links_to("getEndpoint")),
)
def delete(id: contract.UrlId) -> Response[EndpointIdView]:
    endpoint = operations.delete_endpoint(caller_account(app), id)
    return json_response(200, EndpointIdView(id=endpoint.id))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
