"""The README's table of latest figures, rendered from bench/results.json so the two never disagree.

`make bench` rewrites the block between the two markers after a full run; a unit test checks that the
committed README holds exactly what the committed results.json renders to.
"""

from __future__ import annotations

import re
from typing import Any

from tabulate import tabulate

from bench.report import number, verdicts
from tests.support.repo import REPO_ROOT

README_PATH = REPO_ROOT / "README.md"
START = "<!-- figures: written by make bench from bench/results.json -->"
END = "<!-- end of figures -->"


def _us(value: float) -> str:
    return f"{number(value, 0)} µs"


def _ms(value: float, digits: int = 1) -> str:
    return f"{number(value, digits)} ms"


def figures(results: dict[str, Any]) -> str:
    """The markdown block: one line on the run, then the table of figures against baselines and targets."""
    r = results
    checked = verdicts(r)

    def target(key: str) -> str:
        verdict = checked[key]
        return f"{verdict['target'].replace('<=', '≤')}: {'met' if verdict['met'] else '**missed**'}"

    calls = ", ".join(f"`{name.split(' ')[0]}` {name.split(' ')[1]}" for name in r["aws_statuses_per_warm_trigger"])
    rows = [
        [
            "AWS requests per warm trigger",
            f"{r['aws_requests_per_warm_trigger']:g}: {calls}",
            "",
            "",
            target("aws_requests_per_warm_trigger"),
        ],
        [
            "DynamoDB reads per warm trigger (the path item and the caller's token record, together)",
            f"{r['dynamodb_reads_per_warm_trigger']:g}",
            "",
            "",
            target("dynamodb_reads_per_warm_trigger"),
        ],
        [
            "S3 requests per warm trigger (pinned version, cached)",
            f"{r['s3_requests_per_warm_trigger']:g}",
            "",
            "",
            target("s3_requests_per_warm_trigger"),
        ],
        [
            "S3 GetObject on the first trigger after a save",
            f"{r['s3_get_objects_first_trigger_after_save']:g}",
            "",
            "",
            target("s3_get_objects_first_trigger_after_save"),
        ],
        [
            "script bytes downloaded per warm trigger",
            f"{r['script_bytes_per_warm_trigger']:g}",
            "",
            "",
            target("script_bytes_per_warm_trigger"),
        ],
        [
            "compiles per warm trigger (router + sandbox)",
            f"{r['router_compiles_per_warm_trigger']:g} + {r['sandbox_compiles_per_warm_trigger']:g}",
            "",
            "",
            target("compiles_per_warm_trigger"),
        ],
        [
            "router's own time per warm trigger (in-process, moto)",
            _us(r["router_own_us_median"]),
            f"{_us(r['floor_us_median'])}: the handler alone in `test_request_context`, in a loop",
            number(r["router_overhead_ratio"]),
            target("router_overhead_ratio"),
        ],
        [
            "the same, the floor timed right after each trigger",
            _us(r["router_own_us_median"]),
            _us(r["floor_after_trigger_us_median"]),
            number(r["router_overhead_ratio_same_conditions"]),
            "",
        ],
        [
            "cold start: new interpreter to first answer",
            _ms(r["cold_start_router_ms_median"], 0),
            f"{_ms(r['cold_start_baseline_ms_median'], 0)}: `import boto3, flask`, call the handler",
            number(r["cold_start_ratio"]),
            target("cold_start_ratio"),
        ],
        [
            f"warm trigger, 10,000 endpoints vs 10 (AWS requests {r['scale_aws_requests_per_trigger_10k']:g} "
            f"and {r['scale_aws_requests_per_trigger_10']:g})",
            _ms(r["scale_trigger_us_median_10k"] / 1000),
            _ms(r["scale_trigger_us_median_10"] / 1000),
            number(r["scale_ratio_10k_vs_10"]),
            target("scale_ratio_10k_vs_10"),
        ],
        [
            f"list page of {r['list_page_size']}: items read at offset 0 / 9,000",
            f"{r['list_items_read_offset0']:,} / {r['list_items_read_offset9000']:,}",
            "",
            "",
            target("list_items_read_offset0").replace("≤ ", "offset 0 ≤ "),
        ],
        [
            f"requests per second, {r['e2e_clients']} clients, local stack vs plain Flask app",
            number(r["e2e_rps"], 1),
            number(r["e2e_plain_flask_rps"], 1),
            number(r["e2e_rps_ratio"], 3),
            target("e2e_rps").replace(">=", "≥"),
        ],
        [
            "sandbox run per trigger (fork, run, return)",
            _ms(r["sandbox_run_us_median"] / 1000),
            _us(r["floor_us_median"]),
            number(r["sandbox_overhead_ratio"], 0),
            target("sandbox_run_us_median"),
        ],
        [
            "sandbox run vs fork + run + write + wait in a zygote-sized process",
            _us(r["sandbox_run_us_median"]),
            _us(r["sandbox_floor_us_median"]),
            number(r["sandbox_floor_ratio"], 2),
            target("sandbox_floor_ratio"),
        ],
        ["the whole of `make bench`", f"{number(r['bench_seconds'], 0)} s", "", "", target("bench_seconds")],
    ]
    if "sandbox_invokes_per_rejected_request" in r:
        rows.insert(
            -1,
            [
                f"webhook: HMAC check of a {r['hmac_check_body_bytes']:,}-byte body; sandbox runs per forged delivery",
                f"{number(r['hmac_check_us'], 1)} µs; {r['sandbox_invokes_per_rejected_request']:g}",
                "",
                "",
                target("sandbox_invokes_per_rejected_request").replace("= ", "sandbox runs = "),
            ],
        )
    if "e2e_one_client_ms_median" in r:
        one_client = [
            "one client, ms per trigger, local stack vs plain Flask app",
            _ms(r["e2e_one_client_ms_median"]),
            _ms(r["e2e_plain_flask_one_client_ms_median"]),
            "",
            target("e2e_one_client_ms_median"),
        ]
        rows.insert(-2, one_client)
    if "e2e_machine_probe_ms_median" in r:
        probe = [
            f"machine speed during the {r['e2e_clients']} clients: fixed pure-Python work (lower is faster)",
            _ms(r["e2e_machine_probe_ms_median"]),
            "",
            "",
            "",
        ]
        rows.insert(next(i for i, row in enumerate(rows) if row[0].startswith("requests per second")) + 1, probe)
    if "history_write_us_median" in r:
        history_row = [
            "invocation record per warm trigger: own (build, mask) + `PutItem` (in-process, moto)",
            f"{_us(r['history_write_own_us_median'])} + {_us(r['history_write_sdk_us_median'])}",
            "",
            "",
            "",
        ]
        rows.insert(next(i for i, row in enumerate(rows) if row[0].startswith("router's own time")) + 2, history_row)
    table = tabulate(
        rows, headers=["measure", "ours", "baseline", "ratio", "target"], tablefmt="github", disable_numparse=True
    )
    run = (
        f"From `{r['command']}` at {r['finished_at']} on {r['cpus']} CPUs, Python {r['python']}, load average "
        f"{r['load_average_start']:.2f} at the start and {r['load_average_end']:.2f} at the end:"
    )
    return f"{START}\n{run}\n\n{table}\n{END}"


def current_block(text: str) -> str | None:
    match = re.search(re.escape(START) + r".*?" + re.escape(END), text, flags=re.DOTALL)
    return match.group(0) if match else None


def update(results: dict[str, Any]) -> bool:
    """Rewrite the README's figures block; False when the README has no block to rewrite."""
    text = README_PATH.read_text()
    block = current_block(text)
    if block is None:
        return False
    README_PATH.write_text(text.replace(block, figures(results)))
    return True
