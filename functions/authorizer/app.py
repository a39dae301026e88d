"""TOKEN authorizer of the API: `Authorization: Bearer <token>` to the token's account."""

from typing import Any

from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import APIGatewayAuthorizerTokenEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from httpendpoint.auth import authorize
from httpendpoint.core.observability import logger


# The event carries the bearer token: log_event=False explicitly, so POWERTOOLS_LOGGER_LOG_EVENT cannot turn
# event logging on; clear_state=True so one caller's account never lingers in the next invocation's logs.
@logger.inject_lambda_context(log_event=False, clear_state=True)
@event_source(data_class=APIGatewayAuthorizerTokenEvent)
def lambda_handler(event: APIGatewayAuthorizerTokenEvent, context: LambdaContext) -> dict[str, Any]:
    return authorize(event)
