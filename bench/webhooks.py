"""Part 7: webhooks, in-process on moto. What the service's signature check costs, and what a forged delivery
costs the service (it must never cost a sandbox run).

A GitHub-style endpoint (`auth: hmac`, `X-Hub-Signature-256: sha256=<hex>`) runs the seed's script, which
answers a POST with its own empty 404 (so a genuine delivery's 404 says the handler ran). The check
itself (`trigger/access.py` `signature_matches`: the header found, decoded, the HMAC-SHA256 of the body and a
constant-time compare) is timed on its own, for a typical delivery's size; forged and genuine deliveries go
through the router's lambda_handler, counting their DynamoDB requests and sandbox invokes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from bench.inprocess import AwsMeter, TimedExecutor
from bench.support import SEED, micros, progress, quiet_stdout
from httpendpoint.stores import endpoint_store
from httpendpoint.trigger import access
from tests.support.events import api_event
from tests.support.functions import FakeContext, load_function

ENDPOINT = "bench-github"
SECRET = "bench-webhook-secret-0123456789"
HMAC = {"header": "X-Hub-Signature-256", "secret": "GITHUB_SECRET", "prefix": "sha256="}
HANDLER_ANSWER = 404  # the seed's handler, to a POST
# About the size of a GitHub `push` delivery.
BODY = json.dumps({"ref": "refs/heads/main", "commits": [{"id": f"{n:040x}", "message": "x" * 200} for n in range(25)]})


@dataclass
class WebhookResult:
    calls: int
    body_bytes: int
    check_us: float
    rejected_sandbox_invokes: float
    rejected_dynamodb_requests: float
    rejected_us: float
    signed_sandbox_invokes: float
    signed_dynamodb_requests: float

    def to_json(self) -> dict[str, Any]:
        return {
            "webhook_calls": self.calls,
            "hmac_check_body_bytes": self.body_bytes,
            "hmac_check_us": self.check_us,
            "sandbox_invokes_per_rejected_request": self.rejected_sandbox_invokes,
            "dynamodb_requests_per_rejected_request": self.rejected_dynamodb_requests,
            "rejected_request_us_median": self.rejected_us,
            "sandbox_invokes_per_signed_request": self.signed_sandbox_invokes,
            "dynamodb_requests_per_signed_request": self.signed_dynamodb_requests,
        }


def delivery(signature: str) -> dict[str, Any]:
    headers = {"Authorization": [], "X-Hub-Signature-256": [signature], "Content-Type": ["application/json"]}
    return api_event("router", method="POST", path_parameters={"path": ENDPOINT}, body=BODY, headers=headers)


def register() -> None:
    body = {
        "path": ENDPOINT,
        "handler_script_path": SEED.drive_path,
        "auth": "hmac",
        "hmac": HMAC,
        "secrets": {"GITHUB_SECRET": SECRET},
    }
    event = api_event("create", path_parameters={"id": ENDPOINT}, body=body, account=SEED.account)
    response = load_function("create").lambda_handler(event, FakeContext())
    if response["statusCode"] != 201:
        raise RuntimeError(f"creating the webhook endpoint failed: {response}")


def measure_webhooks(meter: AwsMeter, timed: TimedExecutor, calls: int) -> WebhookResult:
    with quiet_stdout():
        register()
    route = endpoint_store.get_route(ENDPOINT)
    assert route is not None and route.hmac is not None
    genuine = "sha256=" + hmac.new(SECRET.encode(), BODY.encode(), hashlib.sha256).hexdigest()
    forged = "sha256=" + hmac.new(b"a guess", BODY.encode(), hashlib.sha256).hexdigest()

    progress(f"part 7: the HMAC check of a {len(BODY):,}-byte delivery, {calls * 10} times")
    signed_event = delivery(genuine)
    samples = []
    for _ in range(calls * 10):
        started = time.perf_counter()
        matched = access.signature_matches(route.hmac, route.secrets, signed_event)
        samples.append(time.perf_counter() - started)
        if not matched:
            raise RuntimeError("the genuine signature did not match")

    handler = load_function("router").lambda_handler
    context = FakeContext()

    def deliver(event: dict[str, Any], status: int) -> float:
        started = time.perf_counter()
        response = handler(event, context)
        elapsed = time.perf_counter() - started
        if response["statusCode"] != status:
            raise RuntimeError(f"expected {status}, the router answered {response}")
        return elapsed

    progress(f"part 7: {calls} forged deliveries, then {calls} genuine ones")
    forged_event = delivery(forged)
    with quiet_stdout():
        deliver(forged_event, 401)
        meter.reset()
        runs = timed.runs
        rejected = [deliver(forged_event, 401) for _ in range(calls)]
        rejected_invokes, rejected_requests = timed.runs - runs, meter.total("dynamodb")
        deliver(signed_event, HANDLER_ANSWER)
        meter.reset()
        runs = timed.runs
        for _ in range(calls):
            deliver(signed_event, HANDLER_ANSWER)
        signed_invokes, signed_requests = timed.runs - runs, meter.total("dynamodb")
    return WebhookResult(
        calls=calls,
        body_bytes=len(BODY),
        check_us=micros(samples),
        rejected_sandbox_invokes=rejected_invokes / calls,
        rejected_dynamodb_requests=rejected_requests / calls,
        rejected_us=micros(rejected),
        signed_sandbox_invokes=signed_invokes / calls,
        signed_dynamodb_requests=signed_requests / calls,
    )
