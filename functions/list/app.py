"""Management: list the caller's endpoints (`GET <base>/list`; the base path comes from the template)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from httpendpoint.core.observability import logger, metrics, tracer
from httpendpoint.management import contract, operations
from httpendpoint.management.models import EndpointListView, parse_list_query
from httpendpoint.management.resolver import (
    caller_account,
    json_response,
    new_resolver,
    only_declared_query_parameters,
)

app = new_resolver()


@app.get(
    "/list",
    operation_id="listEndpoints",
    tags=[contract.TAG],
    summary="List the caller's endpoints",
    description="Filters combine with AND; each is optional and an empty value (`id=`) counts as not given. No "
    "filter returns all of the caller's endpoints, ordered by `id`, one page at a time. `handler_script_path` is a "
    "synonym of `handler`, and `enabled=true|false` of `state=ENABLED|DISABLED`: give at most one of each pair "
    "(else `400`). A repeated or unknown parameter is a `400`. This static route takes precedence over "
    "`{id}`: `GET .../list` is always this operation (`list` is a reserved id).",
    middlewares=[only_declared_query_parameters],
    responses=contract.responses(200, "One page of the caller's endpoints that match every filter.", 400, 403),
)
def list_endpoints(
    id: contract.IdFilter = "",
    path: contract.PathFilter = "",
    handler: contract.HandlerFilter = "",
    handler_script_path: contract.HandlerSynonym = "",
    state: contract.StateFilter = "",
    enabled: contract.EnabledFilter = "",
    offset: contract.Offset = "",
    limit: contract.Limit = "",
) -> Response[EndpointListView]:
    given = {
        "id": id,
        "path": path,
        "handler": handler,
        "handler_script_path": handler_script_path,
        "state": state,
        "enabled": enabled,
        "offset": offset,
        "limit": limit,
    }
    query = parse_list_query({name: [value] for name, value in given.items()})
    return json_response(200, operations.list_endpoints(caller_account(app), query))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
