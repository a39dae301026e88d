"""moto's in-process AWS as the tests and benchmarks set it up: the template's environment, fake credentials."""

from __future__ import annotations

from typing import Any

import boto3

from httpep.local.template import LOCAL_REGION, LocalTemplate


def template_environment(template: LocalTemplate) -> dict[str, str]:
    """Every variable the template gives any function, with names resolved as the local stack does."""
    env: dict[str, str] = {}
    for function in template.functions():
        for key, value in (function.environment or {}).get("Variables", {}).items():
            env[key] = str(value)
    return env


def fake_aws_environment(template: LocalTemplate) -> dict[str, str]:
    """Fake credentials, the local region and every variable the template gives the functions."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "AWS_REGION": LOCAL_REGION,
        **template_environment(template),
    }


def aws_client(service: str) -> Any:
    """A client of the AWS that the current test sees (moto in-process)."""
    return boto3.client(service, region_name=LOCAL_REGION)  # type: ignore[call-overload]
