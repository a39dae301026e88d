"""The stack the e2e suite calls over HTTP: the local one as `make dev` runs it, started on free ports for the
session; or, with `--stack NAME`, a deployed stack (tests marked `local_only` are then skipped)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.support.stack import E2E_PARAMETERS, RunningStack, Stack, deployed_stack, start_stack

LOCAL_ONLY_REASON = (
    "needs the local stack (its log, its embedded AWS, its parameters or its process); --stack runs what goes over HTTP"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--stack"):
        return
    skip = pytest.mark.skip(reason=LOCAL_ONLY_REASON)
    for item in items:
        if item.get_closest_marker("local_only"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    name = request.config.getoption("--stack")
    if name:
        yield deployed_stack(name, request.config.getoption("--stack-region"))
        return
    running = start_stack(tmp_path_factory.mktemp("stack"), E2E_PARAMETERS)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def patient_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A stack whose handlers may run 10 s: for hostile handlers that import boto3 or wait for each other."""
    running = start_stack(tmp_path_factory.mktemp("patient"), {**E2E_PARAMETERS, "EndpointTimeout": "10"})
    yield running
    running.stop()


@pytest.fixture(scope="session")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session
