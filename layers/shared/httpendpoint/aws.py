"""boto3 clients, created on first use and reused by a warm container (never at import time)."""

from __future__ import annotations

from functools import cache
from typing import Any

from botocore.config import Config

# botocore's standard retry mode: bounded, jittered retries of throttling and transient errors.
RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=10)


@cache
def client(service: str) -> Any:
    import boto3

    return boto3.session.Session().client(service, config=RETRY_CONFIG)  # type: ignore[call-overload]


def reset_clients() -> None:
    """Forget cached clients (tests switch between moto backends)."""
    client.cache_clear()
