"""Management: create an endpoint (the template decides the route)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from httpendpoint.core.observability import logger, metrics, tracer
from httpendpoint.management import operations
from httpendpoint.management.models import CreateRequest, EndpointIdView
from httpendpoint.management.resolver import ANY_ROUTE, new_resolver

app = new_resolver()


@app.route(ANY_ROUTE, method="PUT")
def create(request: Annotated[CreateRequest, Body()]) -> Response[EndpointIdView]:
    return operations.handle_create(app, request)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
