"""Sandbox: runs one user handler per invoke, in a fresh child process without credentials."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from httpendpoint.core.observability import logger
from httpendpoint.sandbox import entry


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return entry.handle(event, context)
