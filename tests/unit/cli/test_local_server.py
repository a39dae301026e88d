"""The local stack's opt-in authorizer cache: the same token on the same method ARN, for a while, and nothing else."""

from __future__ import annotations

import time

from httpep.local.server import AuthorizerCache

ARN = "arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/api/v1/http-endpoint/u/hook"


def token_event(token: str, arn: str = ARN) -> dict[str, str]:
    return {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": arn}


def test_an_answer_is_reused_for_the_same_token_and_method_until_it_expires() -> None:
    cache = AuthorizerCache(0.2)
    key = AuthorizerCache.key(token_event("hep_a"))
    assert key is not None
    cache.put(key, '{"principalId": "jaydoe"}')
    assert cache.get(key) == '{"principalId": "jaydoe"}'
    assert cache.get(str(AuthorizerCache.key(token_event("hep_b")))) is None
    assert cache.get(str(AuthorizerCache.key(token_event("hep_a", ARN.replace("GET", "POST"))))) is None
    time.sleep(0.25)
    assert cache.get(key) is None


def test_events_that_are_not_token_authorizer_events_are_never_cached() -> None:
    assert AuthorizerCache.key({"httpMethod": "GET", "requestContext": {"requestId": "r"}}) is None
    assert AuthorizerCache.key({"type": "REQUEST", "methodArn": ARN}) is None
    assert AuthorizerCache.key("not a dict") is None
