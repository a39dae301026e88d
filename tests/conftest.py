"""Fixtures shared by every test: the template, moto-backed AWS built from it, events and function modules."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from httpendpoint.aws import reset_clients
from httpep.local.resources import create_resources
from httpep.local.template import LOCAL_REGION, REPO_ROOT, LocalTemplate

EVENTS_DIR = REPO_ROOT / "events"
FUNCTIONS_DIR = REPO_ROOT / "functions"


@pytest.fixture(scope="session")
def template() -> LocalTemplate:
    return LocalTemplate()


def template_environment(template: LocalTemplate) -> dict[str, str]:
    """Every variable the template gives any function, with names resolved as the local stack does."""
    env: dict[str, str] = {}
    for function in template.functions():
        for key, value in (function.environment or {}).get("Variables", {}).items():
            env[key] = str(value)
    return env


@pytest.fixture
def aws(template: LocalTemplate, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalTemplate]:
    """moto with the template's tables and bucket, and the functions' environment variables set."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "AWS_REGION": LOCAL_REGION,
        **template_environment(template),
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    reset_clients()
    with mock_aws():
        create_resources(template, aws_client)
        yield template
    reset_clients()


def aws_client(service: str) -> Any:
    """A client of the AWS that the current test sees (moto in-process)."""
    return boto3.client(service, region_name=LOCAL_REGION)  # type: ignore[call-overload]


def load_event(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS_DIR / f"{name}.json").read_text()))


def load_function(name: str) -> ModuleType:
    """Import functions/<name>/app.py under a unique module name (every function's file is app.py)."""
    module_name = f"function_{name}_app"
    if module_name in sys.modules:
        return sys.modules[module_name]
    path = FUNCTIONS_DIR / name / "app.py"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


class FakeContext:
    function_name = "test"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "11111111-2222-3333-4444-555555555555"
    log_group_name = "/aws/lambda/test"
    log_stream_name = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@pytest.fixture
def lambda_context() -> FakeContext:
    return FakeContext()


def repo_path(*parts: str) -> Path:
    return REPO_ROOT.joinpath(*parts)
