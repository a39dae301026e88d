"""Fixtures shared by every test: the template, moto-backed AWS built from it, events and function modules."""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import boto3
import botocore.loaders
import botocore.session
import pytest
from moto import mock_aws

from httpendpoint.core.aws import reset_clients
from httpep.local import defaults
from httpep.local.resources import create_resources
from httpep.local.template import LOCAL_REGION, LocalTemplate
from tests.support.paths import REPO_ROOT

EVENTS_DIR = REPO_ROOT / "events"
FUNCTIONS_DIR = REPO_ROOT / "functions"


class SharedCacheLoader(botocore.loaders.Loader):
    """A botocore data loader whose parsed model files are shared by every session in the test process.

    The `aws` fixture gives each test new boto3 sessions (moto resets boto3's default one, and the service's
    clients are rebuilt by `reset_clients()`); each new session would otherwise read and parse the same large
    JSON models again, which cost about 0.4 s per test. The cache is keyed by the search path, so a loader
    with other data directories never sees another's files; the loaded models are read-only to botocore.
    """

    _shared: ClassVar[dict[tuple[str, ...], dict[Any, Any]]] = {}

    @property
    def _cache(self) -> dict[Any, Any]:
        return self._shared.setdefault(tuple(self.search_paths), {})

    @_cache.setter
    def _cache(self, value: dict[Any, Any]) -> None:
        """Loader.__init__ assigns a fresh dict; the shared one is used instead."""


def create_shared_cache_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
    """botocore.loaders.create_loader, building a SharedCacheLoader."""
    if search_path_string is None:
        return SharedCacheLoader()
    paths = [os.path.expanduser(os.path.expandvars(path)) for path in search_path_string.split(os.pathsep)]
    return SharedCacheLoader(extra_search_paths=paths)


def pytest_configure(config: pytest.Config) -> None:
    """Share botocore's parsed models between sessions (see SharedCacheLoader), and give the process the
    template's POWERTOOLS_* settings before any test module is collected.

    Powertools reads them once, when `httpendpoint.core.observability` is first imported (often at collection,
    before the `aws` fixture sets the environment): a Metrics object created without its namespace fails
    every invocation that records a metric.
    """
    botocore.session.create_loader = create_shared_cache_loader
    for key, value in template_environment(LocalTemplate()).items():
        if key.startswith("POWERTOOLS_"):
            os.environ.setdefault(key, value)


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


def fake_aws_environment(template: LocalTemplate) -> dict[str, str]:
    """Fake credentials, the local region and every variable the template gives the functions."""
    return {
        **defaults.CREDENTIALS,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "AWS_REGION": LOCAL_REGION,
        **template_environment(template),
    }


@pytest.fixture
def aws(template: LocalTemplate, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalTemplate]:
    """moto with the template's tables and bucket, and the functions' environment variables set."""
    for key, value in fake_aws_environment(template).items():
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


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Everything the service's Logger writes, at DEBUG, during the test."""
    # Imported here: Powertools reads its POWERTOOLS_* settings when the Logger is made, after pytest_configure.
    from httpendpoint.core.observability import logger

    buffer = io.StringIO()
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous_stream, previous_level = handler.setStream(buffer), logger.log_level
    logger.setLevel("DEBUG")
    try:
        yield buffer
    finally:
        handler.setStream(previous_stream)
        logger.setLevel(previous_level)
