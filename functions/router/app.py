"""Trigger route: run the handler script of the endpoint at the path."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from httpendpoint.errors import NotImplementedYet
from httpendpoint.http import ANY_ROUTE, new_resolver
from httpendpoint.observability import logger, metrics, tracer

app = new_resolver()


@app.route(ANY_ROUTE, method=["GET", "POST", "PUT", "PATCH", "DELETE"])
def trigger() -> dict[str, Any]:
    raise NotImplementedYet("trigger is not implemented yet")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
