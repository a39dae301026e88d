"""The TOKEN authorizer's decision: a valid bearer token allows the whole API for its account."""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerResponse,
    APIGatewayAuthorizerTokenEvent,
)

from httpendpoint import token_store
from httpendpoint.observability import logger

BEARER = re.compile(r"Bearer ([A-Za-z0-9._~+/-]+=*)")


class Unauthorized(Exception):
    """API Gateway turns exactly this message from a TOKEN authorizer into a 401."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def bearer_token(header: str | None) -> str:
    match = BEARER.fullmatch(header or "")
    if match is None:
        raise Unauthorized()
    return match.group(1)


def authorize(event: APIGatewayAuthorizerTokenEvent) -> dict[str, Any]:
    record = token_store.find_active(bearer_token(event.authorization_token))
    if record is None:
        raise Unauthorized()
    logger.append_keys(account=record.account)
    arn = event.parsed_arn
    policy = APIGatewayAuthorizerResponse(
        principal_id=record.account,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        context={"account": record.account},
    )
    # The whole API, not just this method: API Gateway caches the decision for every route.
    policy.allow_all_routes()
    return policy.asdict()
