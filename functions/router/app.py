"""ANY /api/v1/http-endpoint/u/{path}: run the handler script of the endpoint at that path (its `auth` says who may)."""

import logging
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from httpendpoint.core.observability import logger, metrics, tracer
from httpendpoint.trigger.router import trigger

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]

# Every log record would otherwise look up its thread, process and asyncio task (a caught RuntimeError when no
# loop runs), and the log format prints none of them. This process runs the router and nothing else.
logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
logging.logAsyncioTasks = False  # type: ignore[attr-defined]  # Python 3.12+, missing from mypy's stubs


def traced(handler: Handler) -> Handler:
    """X-Ray's subsegment around the handler where tracing is on; where it is off (locally, in tests) the
    tracer's wrapper would still build and close dummy segments on every request, for nothing."""
    return handler if tracer.disabled else tracer.capture_lambda_handler(capture_response=False)(handler)


# The correlation id (API Gateway's request id) is set by `trigger`, which reads it anyway. No clear_state: the
# router appends no key of its own (a request's fields go with each log line), so there is nothing to clear,
# and clearing rebuilt the logger's keys on every request.
@logger.inject_lambda_context
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return trigger(event)
