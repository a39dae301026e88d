"""Part 2: cold start. A fresh interpreter imports the router's module and serves its first request, against a
fresh interpreter that imports boto3 and Flask and calls the handler in a test request context.

The router child gets exactly the environment the local stack gives the router function (template variables,
AWS pointed at the stack's moto server, credentials). Its sandbox hop goes to the stack's real Lambda service,
whose sandbox worker is already warm: on AWS the sandbox is another function with its own cold start, so the
router's cold start is its own imports, its clients and its first request's round trips, not a second
interpreter's start. Both children run with the same interpreter, environment and working directory, and both
leave with `os._exit` once they have written their answer: interpreter teardown (freeing the whole heap, ~0.4 s
for the router's loaded botocore models) is never on a Lambda's request path, since Lambda
keeps the environment for the next request.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.stack import SeededStack
from bench.support import SEED, median, progress, ratio
from httpep.local.runner import function_environment
from httpep.local.template import LocalTemplate
from tests.support.events import api_event
from tests.support.repo import TEMPLATE_PATH

ROUTER_FUNCTION = "RouterFunction"

ROUTER_CHILD = """
import json, os, sys, time
started = time.perf_counter()
import app
imported = time.perf_counter()

class Context:
    function_name = "RouterFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:RouterFunction"
    aws_request_id = "cold-start"
    log_group_name = "/aws/lambda/RouterFunction"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self):
        return 29000

response = app.lambda_handler(json.loads(sys.argv[1]), Context())
served = time.perf_counter()
with open(sys.argv[2], "w") as out:
    json.dump({"import_s": imported - started, "request_s": served - imported,
               "status": response["statusCode"], "body": response["body"]}, out)
os._exit(0)
"""

BASELINE_CHILD = """
import json, os, sys, time
started = time.perf_counter()
import boto3, flask
imported = time.perf_counter()
namespace = {"__name__": "hello"}
exec(compile(open(sys.argv[1]).read(), sys.argv[1], "exec"), namespace)
app = flask.Flask("baseline")
with app.test_request_context(sys.argv[2], method="GET"):
    result = namespace["handler"](flask.request)
served = time.perf_counter()
with open(sys.argv[3], "w") as out:
    json.dump({"import_s": imported - started, "request_s": served - imported,
               "status": result.status_code, "body": result.get_data(as_text=True)}, out)
os._exit(0)
"""


@dataclass
class ChildRun:
    wall: float
    cpu: float  # user + system time of the child: what it costs, whatever else the machine is doing
    import_s: float
    request_s: float


@dataclass
class ColdResult:
    runs: int
    router: list[ChildRun]
    baseline: list[ChildRun]

    def to_json(self) -> dict[str, Any]:
        def ms(runs: list[ChildRun], field: str) -> float:
            return median([getattr(run, field) for run in runs]) * 1000

        router_ms, baseline_ms = ms(self.router, "wall"), ms(self.baseline, "wall")
        router_cpu_ms, baseline_cpu_ms = ms(self.router, "cpu"), ms(self.baseline, "cpu")
        return {
            "cold_start_runs": self.runs,
            "cold_start_router_ms_median": router_ms,
            "cold_start_baseline_ms_median": baseline_ms,
            "cold_start_ratio": ratio(router_ms, baseline_ms),
            "cold_start_router_cpu_ms_median": router_cpu_ms,
            "cold_start_baseline_cpu_ms_median": baseline_cpu_ms,
            "cold_start_cpu_ratio": ratio(router_cpu_ms, baseline_cpu_ms),
            "cold_start_router_import_ms_median": ms(self.router, "import_s"),
            "cold_start_router_first_request_ms_median": ms(self.router, "request_s"),
            "cold_start_baseline_import_ms_median": ms(self.baseline, "import_s"),
            "cold_start_baseline_request_ms_median": ms(self.baseline, "request_s"),
            "cold_start_sandbox_hop": "local Lambda service, warm sandbox worker",
        }


def measure_cold(seeded: SeededStack, runs: int) -> ColdResult:
    template = LocalTemplate(TEMPLATE_PATH)
    function = next(f for f in template.functions() if f.name == ROUTER_FUNCTION)
    env = function_environment(template, function, seeded.aws_endpoint, seeded.lambda_endpoint)
    cwd = Path(function.codeuri)
    headers = {"Authorization": [seeded.headers["Authorization"]]}  # the router checks the token itself
    event = json.dumps(api_event("router", path_parameters={"path": SEED.path}, headers=headers, account=SEED.account))
    router: list[ChildRun] = []
    baseline: list[ChildRun] = []
    progress(f"part 2: cold starts, router vs boto3+Flask baseline (1 + {runs} runs each, alternating)")
    with tempfile.TemporaryDirectory(prefix="httpep-bench-cold-") as workdir:
        result, errors = Path(workdir) / "result.json", Path(workdir) / "stderr.txt"
        for n in range(runs + 1):  # the first pair only fills the OS page cache
            pair = (
                _child([ROUTER_CHILD, event, str(result)], env, cwd, errors, result),
                _child(
                    [BASELINE_CHILD, str(SEED.local_file), SEED.trigger_path, str(result)], env, cwd, errors, result
                ),
            )
            if n:
                router.append(pair[0])
                baseline.append(pair[1])
    return ColdResult(runs, router, baseline)


def _child(arguments: list[str], env: dict[str, str], cwd: Path, errors: Path, result: Path) -> ChildRun:
    result.unlink(missing_ok=True)
    with errors.open("wb") as stderr:
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-c", *arguments], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=stderr
        )
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0 or not result.exists():
        raise RuntimeError(f"a cold-start child failed ({child.returncode}):\n{errors.read_text(errors='replace')}")
    report = json.loads(result.read_text())
    if report["status"] != 200 or report["body"] != "Hello World":
        raise RuntimeError(f"a cold-start child got {report['status']} {report['body']!r}")
    return ChildRun(wall, usage.ru_utime + usage.ru_stime, float(report["import_s"]), float(report["request_s"]))
