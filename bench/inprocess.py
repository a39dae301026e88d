"""In-process AWS (moto's `mock_aws`) for parts 1, 3 and 5, set up exactly as the integration tests do it.

Also the two instruments those parts read: `AwsMeter` counts and times every botocore call of the clients the
functions use, and `TimedExecutor` times the sandbox run around the executor the router calls.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.support import SEED, environment
from httpendpoint.trigger import sandbox_client
from httpep.local import defaults
from httpep.local.template import LOCAL_REGION, LocalTemplate
from tests.support import events
from tests.support.aws import aws_client, template_environment
from tests.support.events import api_event
from tests.support.functions import FakeContext, load_function

CREDENTIALS = defaults.CREDENTIALS


def function_settings(template: LocalTemplate) -> dict[str, str]:
    """What the `aws` test fixture gives a function: the template's variables, region and dummy credentials."""
    return {
        **CREDENTIALS,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "AWS_REGION": LOCAL_REGION,
        **template_environment(template),
    }


@contextmanager
def moto_aws(template: LocalTemplate) -> Iterator[None]:
    """moto in this process with the template's tables and bucket, and the functions' environment set."""
    from moto import mock_aws

    from httpendpoint.core.aws import reset_clients
    from httpep.local.resources import create_resources

    with environment(function_settings(template), remove=("AWS_ENDPOINT_URL",)):
        reset_clients()
        with mock_aws():
            create_resources(template, aws_client)
            yield
        reset_clients()


def put_script(drive_path: str, source: bytes) -> None:
    aws_client("s3").put_object(Bucket=os.environ["SCRIPT_BUCKET"], Key=drive_path.lstrip("/"), Body=source)


def create_endpoint(endpoint_id: str, path: str, drive_path: str, account: str = SEED.account) -> None:
    """Through the create function, as a client would."""
    response = events.create_endpoint(endpoint_id, path, drive_path, account)
    if response["statusCode"] != 201:
        raise RuntimeError(f"creating {endpoint_id} failed: {response}")


def trigger_event(token: str, path: str = SEED.path) -> dict[str, Any]:
    """A real API Gateway (REST, v1) proxy event for GET API_ROOT/u/<path>, from events/router.json, with the
    caller's token (the router checks it itself: one BatchGetItem with the path item)."""
    headers = {"Authorization": [f"Bearer {token}"]}
    return api_event("router", path_parameters={"path": path}, headers=headers, account=SEED.account)


@dataclass
class AwsMeter:
    """Counts a client's calls by operation (botocore's `before-call` / `after-call` events) and times them.

    The time is taken around the client's `_make_api_call`, which every operation method calls: the events
    alone would leave botocore's own prologue (before `provide-client-params`, its first event) and the raising
    of an error status as `ClientError` (after `after-call`, its last) on the caller's side.
    """

    calls: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    query_items_read: int = 0
    sdk_seconds: float = 0.0
    _depth: int = 0

    def attach(self, client: Any) -> None:
        events = client.meta.events
        events.register("before-call", self._count)
        events.register_last("after-call", self._finished)
        original = client._make_api_call

        def timed_call(operation_name: str, api_params: dict[str, Any]) -> Any:
            self._depth += 1
            started = time.perf_counter()
            try:
                return original(operation_name, api_params)
            finally:
                self._depth -= 1
                if self._depth == 0:  # an inner call (a redirect, say) is already inside this window
                    self.sdk_seconds += time.perf_counter() - started

        # An instance attribute shadows the class's method, and `client.get_item(...)` looks it up on self.
        client._make_api_call = timed_call

    def reset(self) -> None:
        self.calls.clear()
        self.statuses.clear()
        self.query_items_read = 0
        self.sdk_seconds = 0.0

    def total(self, service: str | None = None) -> int:
        return sum(n for key, n in self.calls.items() if service is None or key.startswith(service + "."))

    def _count(self, event_name: str, **kwargs: Any) -> None:
        self.calls[event_name.split(".", 1)[1]] += 1

    def _finished(self, event_name: str, http_response: Any, parsed: dict[str, Any], **kwargs: Any) -> None:
        operation = event_name.split(".", 1)[1]
        self.statuses[f"{operation} {http_response.status_code}"] += 1
        if operation == "dynamodb.Query":
            self.query_items_read += int(parsed.get("ScannedCount", 0))


class TimedExecutor:
    """The router's executor seam with a stopwatch around each sandbox run."""

    def __init__(self, inner: sandbox_client.Executor) -> None:
        self.inner = inner
        self.runs = 0
        self.seconds = 0.0
        self.last_payload: dict[str, Any] = {}

    def run(self, payload: dict[str, Any], encoded: bytes, tenant: str) -> dict[str, Any]:
        self.runs += 1
        self.last_payload = payload
        started = time.perf_counter()
        try:
            return self.inner.run(payload, encoded, tenant)
        finally:
            self.seconds += time.perf_counter() - started


@dataclass(frozen=True)
class TriggerSample:
    wall: float  # the whole lambda_handler call
    sdk: float  # inside botocore (and moto)
    sandbox: float  # inside the executor (fork, run, return)

    @property
    def own(self) -> float:
        return self.wall - self.sdk - self.sandbox


class Trigger:
    """Calls the router's lambda_handler with one event and splits each call's time three ways."""

    def __init__(self, meter: AwsMeter, timed: TimedExecutor, event: dict[str, Any]) -> None:
        self.handler = load_function("router").lambda_handler
        self.meter = meter
        self.timed = timed
        self.event = event
        self.context = FakeContext()
        self.last_response: dict[str, Any] = {}

    def __call__(self) -> TriggerSample:
        meter, timed = self.meter, self.timed
        sdk_before, sandbox_before = meter.sdk_seconds, timed.seconds
        started = time.perf_counter()
        self.last_response = self.handler(self.event, self.context)
        wall = time.perf_counter() - started
        return TriggerSample(wall, meter.sdk_seconds - sdk_before, timed.seconds - sandbox_before)

    def check(self) -> None:
        body = self.last_response.get("body")
        if self.last_response.get("statusCode") != 200 or body != "Hello World":
            raise RuntimeError(f"the seed's hello endpoint did not answer 'Hello World': {self.last_response}")
