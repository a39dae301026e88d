"""boto3 clients, created on first use and reused by a warm container (never at import time)."""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any

from botocore.config import Config

# botocore's standard retry mode: bounded, jittered retries of throttling and transient errors.
# Three attempts in all, each short, so a failing store answers 503 well inside API Gateway's 29 s.
AWS_CONNECT_SECONDS = 2
AWS_ANSWER_SECONDS = 5
RETRY_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=AWS_CONNECT_SECONDS,
    read_timeout=AWS_ANSWER_SECONDS,
)
# Invoking the sandbox runs a user's handler: never twice for one request (no retries), and the answer may
# take as long as the longest endpoint timeout the template allows (25 s) plus the sandbox's own work.
# (`max_attempts` counts retries, not attempts: one attempt in all is `total_max_attempts: 1`.)
SANDBOX_CONNECT_SECONDS = 2
SANDBOX_ANSWER_SECONDS = 60
SANDBOX_INVOKE_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    connect_timeout=SANDBOX_CONNECT_SECONDS,
    read_timeout=SANDBOX_ANSWER_SECONDS,
)
SERVICE_CONFIGS = {"lambda": SANDBOX_INVOKE_CONFIG}


@cache
def session() -> Any:
    """The boto3 session every client is made from: each new session re-reads configuration and the endpoint
    data. (Handlers of its events, registered before the first client is made, apply to every client.)"""
    import boto3

    _remember_user_agent_components()
    return boto3.session.Session()


def _remember_user_agent_components() -> None:
    """botocore builds the User-Agent header twice per request, cleaning each of its 30-odd components character
    by character: a sixth of the CPU a warm DynamoDB call costs the router. The cleaning is a function of the
    component alone, and the components are a few dozen strings (versions, feature ids, settings)."""
    from botocore import useragent

    clean = useragent.sanitize_user_agent_string_component
    if not hasattr(clean, "cache_info"):
        useragent.sanitize_user_agent_string_component = lru_cache(maxsize=512)(clean)


@cache
def client(service: str) -> Any:
    return session().client(service, config=SERVICE_CONFIGS.get(service, RETRY_CONFIG))


def reset_clients() -> None:
    """Forget cached clients and their session (tests switch between moto backends and environments)."""
    client.cache_clear()
    session.cache_clear()
