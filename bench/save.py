"""The files API's write, in-process on moto: the first trigger after a save (part 1), and the time of a save
that re-pins 1 and 100 endpoints (part 6).

Saves go through the files function's lambda_handler with a real API Gateway event, as a client's would.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from bench.inprocess import AwsMeter, Trigger
from bench.support import SEED, median, progress, quiet_stdout
from tests.support.events import create_endpoint, files_request

SAVE_ACCOUNT = "bench-save"
FANOUTS = (1, 100)


def save(drive_path: str, source: bytes, account: str) -> dict[str, Any]:
    response = files_request("PUT", drive_path, body=source, account=account)
    if response["statusCode"] not in (200, 201):
        raise RuntimeError(f"saving {drive_path} failed: {response}")
    return dict(json.loads(response["body"]))


def measure_first_trigger_after_save(trigger: Trigger, meter: AwsMeter) -> dict[str, Any]:
    """Save the seed's script again (a new version, the same bytes), then count the next trigger's requests."""
    progress("part 1: a save of the seed's script, then one trigger")
    with quiet_stdout():
        written = save(SEED.drive_path, SEED.source().encode(), SEED.account)
        if SEED.endpoint_id not in written["endpoints"]["updated"]:
            raise RuntimeError(f"the save did not re-pin the seed's endpoint: {written}")
        meter.reset()
        trigger()
        trigger.check()
    return {
        "aws_requests_first_trigger_after_save": meter.total(),
        "s3_requests_first_trigger_after_save": meter.total("s3"),
        "s3_get_objects_first_trigger_after_save": meter.calls["s3.GetObject"],
    }


@dataclass
class SaveResult:
    calls: int
    ms_by_fanout: dict[int, float]

    def to_json(self) -> dict[str, Any]:
        figures: dict[str, Any] = {"save_calls_each": self.calls}
        for fanout, ms in self.ms_by_fanout.items():
            figures[f"save_repins_{fanout}_ms_median"] = ms
        return figures


def measure_save(calls: int) -> SaveResult:
    """For each fan-out, a file run by that many endpoints, saved `calls` times (each save re-pins them all)."""
    ms_by_fanout: dict[int, float] = {}
    for fanout in FANOUTS:
        drive_path = f"/{SAVE_ACCOUNT}/fanout-{fanout}/handler.py"
        progress(f"part 6: {fanout} endpoint(s) on {drive_path}, created through the create function")
        with quiet_stdout():
            save(drive_path, SEED.source().encode(), SAVE_ACCOUNT)
            for n in range(fanout):
                endpoint_id = f"save-{fanout}-{n:03d}"
                response = create_endpoint(endpoint_id, endpoint_id, drive_path, SAVE_ACCOUNT)
                if response["statusCode"] != 201:
                    raise RuntimeError(f"creating {endpoint_id} failed: {response}")
        progress(f"part 6: {calls} saves re-pinning {fanout} endpoint(s) each")
        samples = []
        with quiet_stdout():
            for call in range(calls):
                source = f"{SEED.source()}\n# save {call}\n".encode()
                started = time.perf_counter()
                written = save(drive_path, source, SAVE_ACCOUNT)
                samples.append(time.perf_counter() - started)
                if len(written["endpoints"]["updated"]) != fanout:
                    raise RuntimeError(f"a save re-pinned {written['endpoints']} instead of {fanout} endpoints")
        ms_by_fanout[fanout] = median(samples) * 1000
    return SaveResult(calls, ms_by_fanout)
