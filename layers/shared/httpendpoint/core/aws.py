"""boto3 clients, created on first use and reused by a warm container (never at import time)."""

from __future__ import annotations

from functools import cache, wraps
from typing import Any
from weakref import WeakKeyDictionary

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

    _remember_user_agents()
    return boto3.session.Session()


def _remember_user_agents() -> None:
    """botocore builds the User-Agent header twice per request, from 30-odd components it cleans character by
    character: about a sixth of the CPU a warm DynamoDB call costs the router. The text is a function of what
    the builder holds (its platform, fixed when made; the session's name and the client's settings, which
    botocore sets on it) and of the request's feature ids (retry mode, paginator...): it is built by botocore
    itself once per builder and set of those, and the same text is sent again."""
    from botocore import useragent
    from botocore.context import get_context

    build = useragent.UserAgentString.to_string
    if getattr(build, "__wrapped__", None) is not None:
        return
    # By builder, never in the builder's own attributes: botocore copies a builder (copy.copy) for each client.
    built: WeakKeyDictionary[Any, dict[tuple[Any, ...], str]] = WeakKeyDictionary()

    @wraps(build)
    def to_string(self: Any) -> str:
        context = get_context()
        key = (
            frozenset((self._client_features or set()) | (context.features if context is not None else set())),
            self._client_config,  # compared by identity, as Config defines no equality
            self._session_user_agent_name,
            self._session_user_agent_version,
            self._session_user_agent_extra,
        )
        texts = built.setdefault(self, {})
        text = texts.get(key)
        if text is None:
            text = texts[key] = build(self)
        return text

    useragent.UserAgentString.to_string = to_string  # type: ignore[method-assign]


@cache
def client(service: str) -> Any:
    return session().client(service, config=SERVICE_CONFIGS.get(service, RETRY_CONFIG))


def reset_clients() -> None:
    """Forget cached clients and their session (tests switch between moto backends and environments)."""
    client.cache_clear()
    session.cache_clear()
