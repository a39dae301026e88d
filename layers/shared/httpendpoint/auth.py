"""The TOKEN authorizer's decision: a valid `manage` token allows the whole API for its account, a `call`
token only the trigger route (anything else is denied: API Gateway's ACCESS_DENIED response, a JSON 403)."""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerResponse,
    APIGatewayAuthorizerTokenEvent,
    HttpVerb,
)

from httpendpoint.core import settings
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
    # Every route the token may use, not just this one: API Gateway caches the decision per token for every
    # route, so a policy naming one route would deny the others until the cache expires.
    if record.manages:
        policy.allow_all_routes()
    else:
        # Nothing but the trigger route; the router checks which endpoints the token covers.
        policy.allow_route(HttpVerb.ALL.value, trigger_resource())
    logger.info("token accepted", scope=record.scope)
    return policy.asdict()


def trigger_resource() -> str:
    """The trigger route's resource in a policy: `<API_BASE_PATH>/u/*`."""
    return f"{settings.api_base_path().strip('/')}/u/*"
