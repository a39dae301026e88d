"""Management: an endpoint's invocation history (`GET <base>/<id>/invocations`; the base comes from the template)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from httpendpoint.core.observability import logger, metrics, tracer
from httpendpoint.management import contract, operations
from httpendpoint.management.models import InvocationListView, parse_invocations_limit
from httpendpoint.management.resolver import (
    caller_account,
    json_response,
    new_resolver,
    only_declared_query_parameters,
)

app = new_resolver(check_id=operations.checked_id)


@app.get(
    "/<id>/invocations",
    operation_id="listInvocations",
    tags=[contract.TAG],
    summary="An endpoint's latest invocations",
    description="One record per trigger that reached the endpoint (including a rejected signature, a disabled "
    "endpoint, a fault and a timeout; never a request refused for lack of a valid token), newest first, readable "
    "within 2 seconds and kept `InvocationRetentionDays` (a template parameter, default 7). A re-created id "
    "starts with an empty history.",
    middlewares=[only_declared_query_parameters],
    responses=contract.responses(200, "The endpoint's newest records.", 400, 403, 404),
)
def list_invocations(id: contract.UrlId, limit: contract.InvocationsLimit = "") -> Response[InvocationListView]:
    account = caller_account(app)
    return json_response(200, operations.list_invocations(account, id, parse_invocations_limit(limit)))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
