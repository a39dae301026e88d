"""Part 1 (the warm trigger in-process on moto, against the floor) and part 5 (the sandbox, against the floor).

The floor is the least any service could do: the same handler, called directly inside a Flask test request
context built from the same request. It is timed twice. In loops of its own (blocks of 50, after 10 warm-up
calls, spread over the run), its code stays hot in the CPU caches: that is the strict baseline the target is
checked against. And once right after each trigger, as cold as the router's own code, which always runs
between SDK calls and the sandbox run: a like-for-like comparison.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flask

from bench.inprocess import AwsMeter, TimedExecutor, Trigger, TriggerSample
from bench.support import SEED, micros, progress, quiet_stdout, ratio, stat_fields
from httpendpoint.sandbox import code_cache, function
from httpendpoint.sandbox.protocol import pack_request
from httpendpoint.sandbox.zygote_client import pool, zygote_environment
from httpendpoint.trigger import history, sandbox_client, script_cache
from tests.support.sandbox import InProcessSandbox

ROUTER_SERVICES = ("dynamodb", "s3")
# Hot floor calls run in blocks of this many, each after as many triggers and a few unrecorded warm-up calls.
FLOOR_BLOCK = 50
FLOOR_BLOCK_WARMUP = 10


def floor_call(event: dict[str, Any]) -> Callable[[], object]:
    """The seed's handler called inside `flask.Flask.test_request_context` for the event's request."""
    namespace: dict[str, Any] = {"__name__": "hello"}
    exec(compile(SEED.source(), SEED.local_file.name, "exec"), namespace)
    handler = namespace["handler"]
    app = flask.Flask("floor")
    headers = {k: v for k, v in event["headers"].items() if k.lower() != "authorization"}
    path, method = event["path"], event["httpMethod"]

    def call() -> object:
        with app.test_request_context(path, method=method, headers=headers):
            return handler(flask.request)

    return call


def time_calls(call: Callable[[], object], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


# The invocation record is a write; what the trigger reads to decide and run is the rest.
DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


@dataclass
class WarmResult:
    calls: int
    dynamodb_requests: float
    s3_requests: float
    operations: dict[str, float]
    statuses: dict[str, float]
    sandbox_invokes: float
    script_bytes: float
    router_compiles: float
    sandbox_compiles: float
    wall_us: float
    own_us: float
    sdk_us: float
    sandbox_us: float
    floor_us: float
    floor_after_trigger_us: float
    history_write_us: float  # the invocation record: building it, masking, and its PutItem (on moto)
    history_own_us: float  # the same without the time inside botocore and moto
    history_sdk_us: float  # its PutItem: inside botocore and moto

    def to_json(self) -> dict[str, Any]:
        return {
            "aws_requests_per_warm_trigger": self.dynamodb_requests + self.s3_requests,
            "dynamodb_reads_per_warm_trigger": sum(
                n
                for key, n in self.operations.items()
                if key.startswith("dynamodb.") and key.split(".", 1)[1] not in DYNAMODB_WRITES
            ),
            "s3_requests_per_warm_trigger": self.s3_requests,
            "aws_operations_per_warm_trigger": self.operations,
            "aws_statuses_per_warm_trigger": self.statuses,
            "sandbox_invokes_per_trigger": self.sandbox_invokes,
            "script_bytes_per_warm_trigger": self.script_bytes,
            "compiles_per_warm_trigger": self.router_compiles + self.sandbox_compiles,
            "router_compiles_per_warm_trigger": self.router_compiles,
            "sandbox_compiles_per_warm_trigger": self.sandbox_compiles,
            "warm_trigger_calls": self.calls,
            "warm_trigger_us_median": self.wall_us,
            "router_own_us_median": self.own_us,
            "router_sdk_us_median": self.sdk_us,
            "router_sandbox_us_median": self.sandbox_us,
            "floor_us_median": self.floor_us,
            "floor_after_trigger_us_median": self.floor_after_trigger_us,
            "router_overhead_ratio": ratio(self.own_us, self.floor_us),
            "router_overhead_ratio_same_conditions": ratio(self.own_us, self.floor_after_trigger_us),
            "history_write_us_median": self.history_write_us,
            "history_write_own_us_median": self.history_own_us,
            "history_write_sdk_us_median": self.history_sdk_us,
        }


class TimedHistory:
    """A stopwatch around the router's `history.record` (the invocation record: build, mask, PutItem), with the
    share of it spent inside botocore (and moto), taken from the meter."""

    def __init__(self, meter: AwsMeter) -> None:
        self.meter = meter
        self.wall: list[float] = []
        self.own: list[float] = []
        self.sdk: list[float] = []
        self.original = history.record

    def __enter__(self) -> TimedHistory:
        original, meter = self.original, self.meter

        def timed(*args: Any, **kwargs: Any) -> None:
            sdk_before = meter.sdk_seconds
            started = time.perf_counter()
            try:
                original(*args, **kwargs)
            finally:
                wall = time.perf_counter() - started
                self.wall.append(wall)
                self.sdk.append(meter.sdk_seconds - sdk_before)
                self.own.append(wall - self.sdk[-1])

        history.record = timed  # the router looks it up on the module at each trigger
        return self

    def __exit__(self, *exc: object) -> None:
        history.record = self.original


def measure_warm(trigger: Trigger, meter: AwsMeter, timed: TimedExecutor, calls: int, warmup: int) -> WarmResult:
    floor = floor_call(trigger.event)
    progress(f"part 1: {warmup} warm-up triggers")
    with quiet_stdout():
        for _ in range(warmup):
            trigger()
            trigger.check()
    time_calls(floor, warmup)  # the floor gets as many warm-up calls as the router

    meter.reset()
    runs_before = timed.runs
    router_stats = (script_cache.stats.bytes_downloaded, script_cache.stats.compiles)
    sandbox_compiles_before = code_cache.stats.compiles
    progress(
        f"part 1: {calls} warm triggers of {SEED.trigger_path}, each followed by one floor call, and "
        f"{calls} floor calls in a row, in blocks of {FLOOR_BLOCK} between them"
    )
    samples: list[TriggerSample] = []
    floor_after_trigger: list[float] = []
    floor_samples: list[float] = []
    with quiet_stdout(), TimedHistory(meter) as timed_history:
        for done in range(calls):
            samples.append(trigger())
            # The same handler right after a trigger, when the floor's code is as cold as the router's.
            started = time.perf_counter()
            floor()
            floor_after_trigger.append(time.perf_counter() - started)
            trigger.check()
            if (done + 1) % FLOOR_BLOCK == 0 or done + 1 == calls:
                # The hot floor is spread over the run like the triggers: a machine slower for a moment (another
                # process, a CPU's clock) then slows both, not the one that happened to run in that moment.
                time_calls(floor, FLOOR_BLOCK_WARMUP)  # the triggers pushed its code out of the caches: re-warm
                floor_samples += time_calls(floor, len(samples) - len(floor_samples))

    def per_call(value: float) -> float:
        return value / calls

    return WarmResult(
        calls=calls,
        dynamodb_requests=per_call(meter.total("dynamodb")),
        s3_requests=per_call(meter.total("s3")),
        operations={key: per_call(n) for key, n in sorted(meter.calls.items())},
        statuses={key: per_call(n) for key, n in sorted(meter.statuses.items())},
        sandbox_invokes=per_call(timed.runs - runs_before),
        script_bytes=per_call(script_cache.stats.bytes_downloaded - router_stats[0]),
        router_compiles=per_call(script_cache.stats.compiles - router_stats[1]),
        sandbox_compiles=per_call(code_cache.stats.compiles - sandbox_compiles_before),
        wall_us=micros([s.wall for s in samples]),
        own_us=micros([s.own for s in samples]),
        sdk_us=micros([s.sdk for s in samples]),
        sandbox_us=micros([s.sandbox for s in samples]),
        floor_us=micros(floor_samples),
        floor_after_trigger_us=micros(floor_after_trigger),
        history_write_us=micros(timed_history.wall),
        history_own_us=micros(timed_history.own),
        history_sdk_us=micros(timed_history.sdk),
    )


@dataclass
class SandboxResult:
    calls: int
    run_us: float
    floor_us: float  # fork + run the handler + write the result + wait, in a process of the zygote's size
    page_faults: float  # per run, of the zygote and its children: each one a page copied or newly mapped

    def to_json(self, floor_us: float) -> dict[str, Any]:
        return {
            "sandbox_calls": self.calls,
            "sandbox_run_us_median": self.run_us,
            "sandbox_overhead_ratio": ratio(self.run_us, floor_us),
            "sandbox_floor_us_median": self.floor_us,
            "sandbox_floor_ratio": ratio(self.run_us, self.floor_us),
            "sandbox_page_faults_per_run": round(self.page_faults, 1),
        }


# Part 5 alternates blocks of this many sandbox runs and floor calls: a machine slower for a while (the cost
# of a fork and of a page fault here varies through the day) then slows both alike.
SANDBOX_BLOCK = 20


def measure_sandbox(payload: dict[str, Any], calls: int) -> SandboxResult:
    """`function.run` with exactly the payload the router sent, back to back: zygote fork, handler run,
    checked result, every cleanup; and, in blocks between them, the floor of the same work in a process of
    the zygote's size."""
    for _ in range(5):
        outcome = function.run(payload)
    if outcome.get("outcome") != "response":
        raise RuntimeError(f"the sandbox did not answer with a response: {outcome}")
    (zygote,) = pool.idle_pids()
    with sandbox_floor(payload) as floor_calls:
        progress(
            f"part 5: {calls} sandbox runs of the router's own payload, back to back, and as many runs of the "
            f"floor (fork, run the handler, write the result, wait), in alternate blocks of {SANDBOX_BLOCK}"
        )
        samples: list[float] = []
        floor_samples: list[float] = []
        faults = 0
        while len(samples) < calls:
            block = min(SANDBOX_BLOCK, calls - len(samples))
            faults_before = page_faults(zygote)
            samples += time_calls(lambda: function.run(payload), block)
            faults += page_faults(zygote) - faults_before
            floor_samples += floor_calls(block)
    return SandboxResult(calls, micros(samples), micros(floor_samples), faults / calls)


def page_faults(pid: int) -> int:
    """Minor page faults of `pid` and of its children it has reaped (minflt and cminflt)."""
    fields = stat_fields(pid)
    return int(fields[7]) + int(fields[8])


@contextmanager
def sandbox_floor(payload: dict[str, Any]) -> Iterator[Callable[[int], list[float]]]:
    """bench/sandbox_floor.py in a process of its own, warm: a function that times a block of its calls."""
    compiled = code_cache.compiled(payload["script"], payload["script_path"])
    request = pack_request(compiled.code, payload["script"], payload["script_path"], payload["event"])
    with tempfile.NamedTemporaryFile(prefix="httpep-floor-") as file:
        file.write(request)
        file.flush()
        with subprocess.Popen(
            [sys.executable, "-s", "-m", "bench.sandbox_floor", file.name],
            env=zygote_environment() | {"PYTHONPATH": os.pathsep.join(sys.path)},
            cwd=Path(__file__).parents[1],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        ) as process:
            assert process.stdin is not None and process.stdout is not None
            commands, answers = process.stdin, process.stdout

            def answer() -> str:
                line = answers.readline()
                if not line:
                    raise RuntimeError(f"the floor's process ended (status {process.wait()})")
                return line.strip()

            def calls(count: int) -> list[float]:
                commands.write(f"{count}\n")
                commands.flush()
                return [float(seconds) for seconds in json.loads(answer())]

            if answer() != "ready":
                raise RuntimeError("the floor's process did not start")
            yield calls
            commands.close()


def router_instruments() -> tuple[AwsMeter, TimedExecutor]:
    """Attach the meter to the router's own clients and time its executor (in-process: it still forks)."""
    from httpendpoint.core.aws import client

    meter = AwsMeter()
    for service in ROUTER_SERVICES:
        meter.attach(client(service))
    timed = TimedExecutor(InProcessSandbox())
    sandbox_client.use(timed)
    return meter, timed
