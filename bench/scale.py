"""Part 3: does anything grow with the number of endpoints? The warm trigger with 10 vs 10,000 endpoints in the
table, and a list page at offset 0 and at offset 9,000 of one account's 10,000 endpoints.

The big table is a second table with the template's own definition, filled with the endpoint store's own item
layout (`endpoint_store._endpoint_item` / `_path_item`); creating 10,000 endpoints through the create function
would take minutes. Triggers alternate between the two tables (the router reads the table name from the
environment on every call), so both sizes see the same machine at the same moments.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.inprocess import AwsMeter, Trigger, TriggerSample
from bench.support import SEED, micros, progress, quiet_stdout, ratio
from httpendpoint.stores import endpoint_store
from httpendpoint.stores.endpoint_store import ACCOUNT_PREFIX, Endpoint
from httpep.local.resources import table_definition
from httpep.local.template import LocalTemplate
from tests.support.aws import aws_client
from tests.support.events import api_event
from tests.support.functions import FakeContext, load_function

BIG_TABLE_ENDPOINTS = 10_000
PAGE_SIZE = 100
DEEP_OFFSET = 9_000
BATCH = 25  # BatchWriteItem's limit


def endpoints_table_definition(template: LocalTemplate) -> dict[str, Any]:
    name = os.environ["ENDPOINTS_TABLE"]
    for logical_id, resource in template.resources_of_type("AWS::DynamoDB::Table").items():
        if template.local_names[logical_id] == name:
            return table_definition(resource.get("Properties", {}))
    raise RuntimeError(f"no table {name} in the template")


def fill_big_table(template: LocalTemplate, count: int) -> str:
    """A copy of the endpoints table holding the seed's endpoint and count - 1 more, all of one account."""
    table = os.environ["ENDPOINTS_TABLE"] + "-10k"
    dynamodb = aws_client("dynamodb")  # not the router's client: these writes are not part of any measurement
    dynamodb.create_table(TableName=table, **endpoints_table_definition(template))
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    # Pinned as create pins them: to the version of the seed's script the small table's endpoint runs.
    seed = endpoint_store.get(SEED.endpoint_id, SEED.account)
    assert seed is not None and seed.handler_script_version is not None, "the seed's endpoint comes first"
    version = seed.handler_script_version
    endpoints = [Endpoint(SEED.endpoint_id, SEED.account, SEED.path, SEED.drive_path, True, now, now, version)]
    endpoints += [
        Endpoint(f"bench-{n:05d}", SEED.account, f"bench-path-{n:05d}", SEED.drive_path, True, now, now, version)
        for n in range(1, count)
    ]
    items = [item for e in endpoints for item in (endpoint_store._endpoint_item(e), endpoint_store._path_item(e))]
    # The account's counter, as create would have left it.
    items.append({**endpoint_store._key(ACCOUNT_PREFIX + SEED.account), "endpoint_count": {"N": str(count)}})
    for start in range(0, len(items), BATCH):
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + BATCH]]
        while requests:
            response = dynamodb.batch_write_item(RequestItems={table: requests})
            requests = response.get("UnprocessedItems", {}).get(table, [])
    return table


@dataclass
class ScaleResult:
    endpoints_small: int
    endpoints_big: int
    calls_each: int
    small_wall_us: float
    big_wall_us: float
    small_own_us: float
    big_own_us: float
    small_aws_requests: float
    big_aws_requests: float
    list_items_read_offset0: int
    list_items_read_offset9000: int
    list_ms_offset0: float
    list_ms_offset9000: float

    def to_json(self) -> dict[str, Any]:
        return {
            "scale_endpoints_small": self.endpoints_small,
            "scale_endpoints_big": self.endpoints_big,
            "scale_calls_each": self.calls_each,
            "scale_trigger_us_median_10": self.small_wall_us,
            "scale_trigger_us_median_10k": self.big_wall_us,
            "scale_ratio_10k_vs_10": ratio(self.big_wall_us, self.small_wall_us),
            "scale_own_us_median_10": self.small_own_us,
            "scale_own_us_median_10k": self.big_own_us,
            "scale_own_ratio_10k_vs_10": ratio(self.big_own_us, self.small_own_us),
            "scale_aws_requests_per_trigger_10": self.small_aws_requests,
            "scale_aws_requests_per_trigger_10k": self.big_aws_requests,
            "list_page_size": PAGE_SIZE,
            "list_items_read_offset0": self.list_items_read_offset0,
            "list_items_read_offset9000": self.list_items_read_offset9000,
            "list_ms_median_offset0": self.list_ms_offset0,
            "list_ms_median_offset9000": self.list_ms_offset9000,
        }


def measure_scale(
    template: LocalTemplate, trigger: Trigger, meter: AwsMeter, endpoints_small: int, calls: int, list_calls: int
) -> ScaleResult:
    small = os.environ["ENDPOINTS_TABLE"]
    progress(f"part 3: writing {BIG_TABLE_ENDPOINTS:,} endpoints (endpoint and path items) to a second table")
    big = fill_big_table(template, BIG_TABLE_ENDPOINTS)

    samples: dict[str, list[TriggerSample]] = {small: [], big: []}
    requests = dict.fromkeys(samples, 0)
    progress(f"part 3: {calls} warm triggers on each table, alternating")
    with quiet_stdout():
        for table in (small, big):  # one warm-up each: the first read of a table is not what is measured
            os.environ["ENDPOINTS_TABLE"] = table
            trigger()
            trigger.check()
        for n in range(2 * calls):
            table = (small, big)[n % 2]
            os.environ["ENDPOINTS_TABLE"] = table
            meter.reset()
            samples[table].append(trigger())
            requests[table] += meter.total()
            trigger.check()
    os.environ["ENDPOINTS_TABLE"] = big

    progress(f"part 3: list pages of {PAGE_SIZE} at offsets 0 and {DEEP_OFFSET:,} ({list_calls} calls each)")
    lists = {offset: list_page(meter, offset, list_calls) for offset in (0, DEEP_OFFSET)}
    os.environ["ENDPOINTS_TABLE"] = small
    return ScaleResult(
        endpoints_small=endpoints_small,
        endpoints_big=BIG_TABLE_ENDPOINTS,
        calls_each=calls,
        small_wall_us=micros([s.wall for s in samples[small]]),
        big_wall_us=micros([s.wall for s in samples[big]]),
        small_own_us=micros([s.own for s in samples[small]]),
        big_own_us=micros([s.own for s in samples[big]]),
        small_aws_requests=requests[small] / calls,
        big_aws_requests=requests[big] / calls,
        list_items_read_offset0=lists[0][0],
        list_items_read_offset9000=lists[DEEP_OFFSET][0],
        list_ms_offset0=lists[0][1],
        list_ms_offset9000=lists[DEEP_OFFSET][1],
    )


def list_page(meter: AwsMeter, offset: int, calls: int) -> tuple[int, float]:
    """Items DynamoDB read for one page (sum of ScannedCount over its Query calls) and its median time in ms."""
    handler = load_function("list").lambda_handler
    # The list function records no metric of its own; Powertools warns about that on every call.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    event = api_event("list", query={"offset": [str(offset)], "limit": [str(PAGE_SIZE)]}, account=SEED.account)
    # The meter is already on the cached DynamoDB client, which the list function shares with the router.
    read: set[int] = set()
    seconds = []
    with quiet_stdout():
        for _ in range(calls):
            meter.reset()
            started = time.perf_counter()
            response = handler(event, FakeContext())
            seconds.append(time.perf_counter() - started)
            read.add(meter.query_items_read)
            _check_page(response, offset)
    if len(read) != 1:
        raise RuntimeError(f"the same page read different numbers of items: {sorted(read)}")
    return read.pop(), micros(seconds) / 1000


def _check_page(response: dict[str, Any], offset: int) -> None:
    if response.get("statusCode") != 200:
        raise RuntimeError(f"list failed: {response}")
    body = json.loads(response["body"])
    if len(body["endpoints"]) != PAGE_SIZE or body["next_offset"] != offset + PAGE_SIZE:
        raise RuntimeError(f"list at offset {offset} returned an unexpected page: next_offset {body['next_offset']}")
