"""The TOKEN authorizer's decision: a valid bearer token allows the whole API for its account."""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerResponse,
    APIGatewayAuthorizerTokenEvent,
)

from httpendpoint.core.observability import logger
from httpendpoint.stores import token_store

# RFC 6750's `Bearer <token68>`; the scheme is case-insensitive (RFC 9110), the token is not. The length cap
# keeps an absurd header from being hashed and looked up.
BEARER = re.compile(r"(?i:bearer) ([A-Za-z0-9._~+/-]{1,512}=*)")


class Unauthorized(Exception):
    """API Gateway turns exactly this message from a TOKEN authorizer into a 401."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def bearer_token(header: object) -> str:
    match = BEARER.fullmatch(header) if isinstance(header, str) else None
    if match is None:
        raise Unauthorized()
    return match.group(1)


def authorize(event: APIGatewayAuthorizerTokenEvent) -> dict[str, Any]:
    """The Allow policy for the token's account; `Unauthorized` for any other header.

    Nothing here logs the header or the token: only the outcome and, once known, the account.
    """
    try:
        # .get, not .authorization_token: an event without the key is a missing token, not a crash.
        token = bearer_token(event.get("authorizationToken"))
    except Unauthorized:
        logger.info("token rejected", reason="not a bearer token")
        raise
    record = token_store.find_active(token)
    if record is None:
        logger.info("token rejected", reason="unknown or revoked")
        raise Unauthorized()
    logger.append_keys(account=record.account)
    arn = event.parsed_arn
    policy = APIGatewayAuthorizerResponse(
        principal_id=record.account,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        partition=arn.partition,
        context={"account": record.account},
    )
    # The whole API (`<api>/<stage>/*/*`), not just this method: API Gateway caches the decision per token
    # for every route, so a policy naming one route would deny the others until the cache expires.
    policy.allow_all_routes()
    logger.info("token accepted")
    return policy.asdict()
