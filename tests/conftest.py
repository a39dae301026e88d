"""Fixtures shared by every test: the template, moto-backed AWS built from it, a Lambda context, the log.

The helpers behind them (also used by the benchmarks) are in tests/support/.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from typing import Any, ClassVar

import botocore.loaders
import botocore.session
import pytest
from moto import mock_aws

from httpendpoint.core.aws import reset_clients
from httpep.local.resources import create_resources
from httpep.local.template import LocalTemplate
from tests.support.aws import aws_client, fake_aws_environment, template_environment
from tests.support.events import TOKENS
from tests.support.functions import FakeContext
from tests.support.repo import TEMPLATE_PATH


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


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--stack NAME`: the e2e suite (tests/e2e) calls this deployed stack instead of starting the local one.

    Declared here, not in tests/e2e/conftest.py: pytest reads options only from the conftests it loads first.
    """
    group = parser.getgroup("e2e")
    group.addoption("--stack", metavar="NAME", help="run the e2e suite against this deployed CloudFormation stack")
    group.addoption("--stack-region", metavar="REGION", help="the region of --stack (default: your AWS configuration)")


def pytest_configure(config: pytest.Config) -> None:
    """Share botocore's parsed models between sessions (see SharedCacheLoader), and give the process the
    template's POWERTOOLS_* settings before any test module is collected.

    Powertools reads them once, when `httpendpoint.core.observability` is first imported (often at collection,
    before the `aws` fixture sets the environment): a Metrics object created without its namespace fails
    every invocation that records a metric.
    """
    botocore.session.create_loader = create_shared_cache_loader
    for key, value in template_environment(LocalTemplate(TEMPLATE_PATH)).items():
        if key.startswith("POWERTOOLS_"):
            os.environ.setdefault(key, value)


@pytest.fixture(scope="session")
def template() -> LocalTemplate:
    return LocalTemplate(TEMPLATE_PATH)


@pytest.fixture
def aws(template: LocalTemplate, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalTemplate]:
    """moto with the template's tables and bucket, and the functions' environment variables set."""
    for key, value in fake_aws_environment(template).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    reset_clients()
    TOKENS.clear()
    with mock_aws():
        create_resources(template, aws_client)
        yield template
    reset_clients()
    TOKENS.clear()


@pytest.fixture
def lambda_context() -> FakeContext:
    return FakeContext()


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
