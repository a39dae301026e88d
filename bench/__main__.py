"""`make bench`: how much the service adds to a user's handler, each figure against its baseline in this run.

    1. the warm trigger in-process on moto: AWS requests, downloads, compiles, the router's own time vs the floor
    2. cold start of the router vs a bare boto3 + Flask interpreter
    3. scale: 10 vs 10,000 endpoints, and list pages deep into one account
    4. end to end over HTTP on the local stack vs a plain Flask app
    5. the sandbox's fork-run-return vs the floor
    6. a save through the files API that re-pins 1 and 100 endpoints
    7. webhooks: the HMAC check's cost, and what a rejected signature costs (no sandbox run)

Progress goes to stderr, the table to stdout, every figure to bench/results.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench.support import PARTIAL_RESULTS_PATH, RESULTS_PATH, SEED, load_average, progress, quiet_stdout

PARTS = ("warm", "cold", "scale", "e2e", "sandbox", "save", "webhooks")


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500, help="measured warm triggers in part 1 (default 500)")
    parser.add_argument("--warmup", type=int, default=30, help="warm-up triggers before part 1 (default 30)")
    parser.add_argument("--scale-calls", type=int, default=150, help="triggers per table size in part 3")
    parser.add_argument("--list-calls", type=int, default=3, help="list calls per offset in part 3")
    parser.add_argument("--cold-runs", type=int, default=5, help="child processes of each kind in part 2")
    parser.add_argument("--e2e-seconds", type=float, default=10.0, help="seconds of load per server in part 4")
    parser.add_argument("--sandbox-calls", type=int, default=200, help="sandbox runs in part 5")
    parser.add_argument("--save-calls", type=int, default=10, help="saves per fan-out in part 6")
    parser.add_argument("--webhook-calls", type=int, default=200, help="rejected and signed requests in part 7")
    parser.add_argument(
        "--only",
        choices=PARTS,
        action="append",
        help="run only these parts (repeatable); their figures go to bench/results-partial.json",
    )
    return parser.parse_args(argv)


def set_powertools_environment() -> None:
    """Powertools reads its settings once, when `httpendpoint.core.observability` is first imported; give it the
    template's before anything imports it (as tests/conftest.py's pytest_configure does)."""
    from httpep.local.template import LocalTemplate
    from tests.support.aws import template_environment
    from tests.support.repo import TEMPLATE_PATH

    for key, value in template_environment(LocalTemplate(TEMPLATE_PATH)).items():
        if key.startswith("POWERTOOLS_"):
            os.environ.setdefault(key, value)


def in_process_parts(options: argparse.Namespace, parts: set[str]) -> dict[str, Any]:
    """Parts 1, 5, 6, 7 and 3, all against moto in this process (part 3 last: its big table stays in memory)."""
    from bench.inprocess import Trigger, create_endpoint, moto_aws, put_script, trigger_event
    from bench.save import measure_first_trigger_after_save, measure_save
    from bench.scale import measure_scale
    from bench.warm import measure_sandbox, measure_warm, router_instruments
    from bench.webhooks import measure_webhooks
    from httpendpoint.sandbox import function
    from httpendpoint.stores import token_store
    from httpendpoint.trigger import sandbox_client
    from httpep.local.template import LocalTemplate
    from tests.support.repo import TEMPLATE_PATH

    results: dict[str, Any] = {}
    template = LocalTemplate(TEMPLATE_PATH)
    endpoints = 10
    with moto_aws(template):
        progress("in-process moto: the seed's script and endpoint, and 9 more endpoints, via the create function")
        with quiet_stdout():
            put_script(SEED.drive_path, SEED.source().encode())
            create_endpoint(SEED.endpoint_id, SEED.path, SEED.drive_path)
            for n in range(1, endpoints):
                create_endpoint(f"other-{n}", f"other-{n}", SEED.drive_path)
            token = token_store.create_token(SEED.account)
        meter, timed = router_instruments()
        trigger = Trigger(meter, timed, trigger_event(token))
        try:
            warm = measure_warm(trigger, meter, timed, options.calls, options.warmup)
            results.update(warm.to_json())
            results.update(measure_first_trigger_after_save(trigger, meter))
            if "sandbox" in parts:
                results.update(measure_sandbox(timed.last_payload, options.sandbox_calls).to_json(warm.floor_us))
            if "save" in parts:
                results.update(measure_save(options.save_calls).to_json())
            if "webhooks" in parts:
                results.update(measure_webhooks(meter, timed, options.webhook_calls).to_json())
            if "scale" in parts:
                scale = measure_scale(template, trigger, meter, endpoints, options.scale_calls, options.list_calls)
                results.update(scale.to_json())
        finally:
            sandbox_client.use(None)
            function.shutdown()
    return results


def stack_parts(options: argparse.Namespace, parts: set[str]) -> dict[str, Any]:
    """Parts 2 and 4, against the local stack in its own processes."""
    from bench.cold import measure_cold
    from bench.e2e import measure_e2e
    from bench.stack import seeded_stack

    results: dict[str, Any] = {}
    with seeded_stack() as seeded:
        if "cold" in parts:
            results.update(measure_cold(seeded, options.cold_runs).to_json())
        if "e2e" in parts:
            results.update(measure_e2e(seeded, options.e2e_seconds).to_json())
    return results


def main(argv: list[str] | None = None) -> int:
    options = arguments(argv)
    parts = set(options.only or PARTS)
    set_powertools_environment()
    started = time.monotonic()
    load_before = load_average()
    progress(f"{os.cpu_count()} CPUs, load average {load_before:.2f}")
    results: dict[str, Any] = {}
    if parts & {"warm", "scale", "sandbox", "save", "webhooks"}:
        results.update(in_process_parts(options, parts))
    if parts & {"cold", "e2e"}:
        results.update(stack_parts(options, parts))
    results.update(
        bench_seconds=time.monotonic() - started,
        cpus=os.cpu_count(),
        load_average_start=load_before,
        load_average_end=load_average(),
        python=sys.version.split()[0],
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        command="make bench",
    )
    from bench.report import NOTES, table, verdicts, write_json

    results["targets"] = verdicts(results)
    results_path = PARTIAL_RESULTS_PATH if options.only else RESULTS_PATH
    written = write_json(results, results_path)
    if not options.only:
        # The figures as written (rounded), so the README shows exactly what results.json holds.
        from bench import readme

        progress("README.md: figures updated" if readme.update(written) else "README.md: no figures block found")
    print(table(results))
    print(
        f"\nLoad average {load_before:.2f} at the start, {results['load_average_end']:.2f} at the end, "
        f"on {os.cpu_count()} CPUs. Every figure is in {results_path.relative_to(results_path.parents[1])}.\n"
    )
    print(NOTES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
