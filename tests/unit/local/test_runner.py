"""The local Lambda service's tenancy (read from the template) and the guard of its control plane."""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from samcli.commands.local.lib.exceptions import TenantIdValidationError
from werkzeug.serving import make_server

from httpendpoint.sandbox.limits import CHILD_UID_VARIABLE
from httpep.local.guard import connection_owner, owner_only
from httpep.local.runner import (
    CHILD_UID_BASE,
    LocalLambdaRunner,
    TenantPools,
    Worker,
    WorkerGone,
    function_environment,
    is_per_tenant,
)
from httpep.local.template import LocalTemplate
from tests.support.repo import REPO_ROOT


@pytest.fixture(scope="module")
def runner(template: LocalTemplate) -> Iterator[LocalLambdaRunner]:
    local = LocalLambdaRunner(template, "http://127.0.0.1:1", "http://127.0.0.1:2", lambda *_: None)
    yield local
    local.stop()


def tenancy_modes(template: LocalTemplate) -> dict[str, object]:
    return {
        logical_id: resource.get("Properties", {}).get("TenancyConfig", {}).get("TenantIsolationMode")
        for logical_id, resource in template.resources_of_type("AWS::Serverless::Function").items()
    }


def test_per_tenant_functions_are_those_the_template_says(template: LocalTemplate, runner: LocalLambdaRunner) -> None:
    modes = tenancy_modes(template)
    assert modes["SandboxFunction"] == "PER_TENANT"
    for function in template.functions():
        assert is_per_tenant(function) == (modes[function.name] == "PER_TENANT")
        assert isinstance(runner.pools[function.name], TenantPools) == is_per_tenant(function)


def test_a_per_tenant_function_needs_a_tenant_id_and_no_other_takes_one(runner: LocalLambdaRunner) -> None:
    with pytest.raises(TenantIdValidationError):
        runner.get_function("SandboxFunction")
    assert runner.get_function("SandboxFunction", "acme").name == "SandboxFunction"
    with pytest.raises(TenantIdValidationError):
        runner.get_function("ListEndpointsFunction", "acme")


def test_each_tenant_gets_its_own_uid_in_order_of_first_use_and_keeps_it(template: LocalTemplate) -> None:
    (sandbox,) = [f for f in template.functions() if f.name == "SandboxFunction"]
    pools = TenantPools(sandbox, {}, lambda *_: None)
    assert [pools.child_uid(t) for t in ("a", "b", "a", "c")] == [
        CHILD_UID_BASE,
        CHILD_UID_BASE + 1,
        CHILD_UID_BASE,
        CHILD_UID_BASE + 2,
    ]


def test_each_worker_of_a_tenant_gets_a_uid_of_its_own_never_another_tenants(template: LocalTemplate) -> None:
    (sandbox,) = [f for f in template.functions() if f.name == "SandboxFunction"]
    pools = TenantPools(sandbox, {}, lambda *_: None)
    uids = [pools.child_uid(t, slot) for t, slot in (("a", 0), ("b", 0), ("a", 1), ("a", 0), ("b", 1), ("a", 1))]
    assert [uid - CHILD_UID_BASE for uid in uids] == [0, 1, 2, 0, 3, 2]


def test_under_root_a_tenants_worker_is_told_its_uid(template: LocalTemplate, monkeypatch: pytest.MonkeyPatch) -> None:
    (sandbox,) = [f for f in template.functions() if f.name == "SandboxFunction"]
    pools = TenantPools(sandbox, {"X": "1"}, lambda *_: None)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    first, second = pools.pool("a"), pools.pool("b")
    assert first is not second
    assert pools.pool("a") is first
    assert (first.worker_env(0)[CHILD_UID_VARIABLE], second.worker_env(0)[CHILD_UID_VARIABLE]) == (
        str(CHILD_UID_BASE),
        str(CHILD_UID_BASE + 1),
    )
    assert first.worker_env(1)[CHILD_UID_VARIABLE] == str(CHILD_UID_BASE + 2)
    assert first.worker_env(0)["X"] == "1"
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert CHILD_UID_VARIABLE not in pools.pool("c").worker_env(0)


# A function whose invoke takes a while and tells which uid its worker was given.
SLOW_HANDLER = f"""
import os, time
def handler(event, context):
    time.sleep(event["seconds"])
    return os.environ["{CHILD_UID_VARIABLE}"]
"""


def test_a_tenants_overlapping_requests_run_in_workers_of_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As Lambda gives a tenant an environment per concurrent request: requests that overlap are not queued
    behind one another in one worker, and each worker has its own uid (the sandbox's clean-up stops every
    process of its uid, so two workers sharing one would kill each other's handlers)."""
    (tmp_path / "slow.py").write_text(SLOW_HANDLER)
    function = SimpleNamespace(name="Slow", handler="slow.handler", codeuri=str(tmp_path), timeout=30)
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": os.pathsep.join(sys.path)}
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    pools = TenantPools(function, env, lambda *_: None)
    try:
        with concurrent.futures.ThreadPoolExecutor(3) as threads:
            overlapping = [
                threads.submit(pools.invoke, json.dumps({"seconds": 3}), "a"),
                threads.submit(pools.invoke, json.dumps({"seconds": 3}), "a"),
                threads.submit(pools.invoke, json.dumps({"seconds": 0}), "b"),
            ]
            a_uids = {json.loads(future.result()["result"]) for future in overlapping[:2]}
            b_uid = json.loads(overlapping[2].result()["result"])
    finally:
        pools.stop()
    assert len(a_uids) == 2
    assert {int(uid) for uid in (*a_uids, b_uid)} == {CHILD_UID_BASE, CHILD_UID_BASE + 1, CHILD_UID_BASE + 2}


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


@pytest.mark.parametrize(("uid", "status"), [(None, 200), (os.geteuid() + 1, 403)])
def test_the_guard_answers_only_the_user_it_serves(uid: int | None, status: int) -> None:
    server = make_server("127.0.0.1", 0, owner_only(hello, uid), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        response = requests.get(f"http://127.0.0.1:{server.server_port}/", timeout=10)
    finally:
        server.shutdown()
    assert response.status_code == status


def test_the_owner_of_a_loopback_connection_is_found() -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as listener, socket.create_connection(listener.getsockname()) as c:
        assert connection_owner(c.getsockname(), listener.getsockname()) == os.geteuid()
        assert connection_owner(c.getsockname(), ("127.0.0.1", 1)) is None


HANDLERS = """
import os, time

def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("exit"):
        os._exit(event["exit"])
    return {"echo": event, "request_id": context.aws_request_id}
"""


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    (tmp_path / "handlers.py").write_text(HANDLERS)
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(tmp_path)}
    one = Worker("Echo", "handlers.handler", tmp_path, env, lambda *_: None)
    yield one
    one.kill()


def test_a_worker_answers_invoke_after_invoke(worker: Worker) -> None:
    for n in range(3):
        answer = worker.invoke(json.dumps({"n": n}), 10, f"req-{n}")
        assert json.loads(answer["result"]) == {"echo": {"n": n}, "request_id": f"req-{n}"}


def test_each_line_a_worker_writes_is_tagged_with_the_invoke_that_wrote_it(tmp_path: Path) -> None:
    """Invokes back to back on one worker, the log reader held up after the first line: the lines still unread
    when later invokes start keep their own invoke's tag."""
    (tmp_path / "printer.py").write_text("def handler(event, context):\n    print('said', event['n'])\n    return 1\n")
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(tmp_path)}
    seen: list[tuple[str, str, str | None]] = []
    released = threading.Event()

    def sink(*line: Any) -> None:
        seen.append(line)
        if len(seen) == 1:
            released.wait(10)

    printer = Worker("Printer", "printer.handler", tmp_path, env, sink)
    try:
        for n in range(20):
            printer.invoke(json.dumps({"n": n}), 10, f"req-{n}")
        released.set()
        deadline = time.monotonic() + 10
        while len(seen) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        printer.kill()
    assert seen == [("Printer", f"said {n}", f"req-{n}") for n in range(20)]


def test_a_worker_past_its_timeout_is_gone(worker: Worker) -> None:
    with pytest.raises(WorkerGone) as gone:
        worker.invoke(json.dumps({"sleep": 5}), 0.3, "slow")
    assert gone.value.error["errorType"] == "Sandbox.Timedout"
    assert "slow" in gone.value.error["errorMessage"]


def test_a_worker_that_exits_is_gone_with_its_exit_status(worker: Worker) -> None:
    with pytest.raises(WorkerGone) as gone:
        worker.invoke(json.dumps({"exit": 3}), 10, "dies")
    assert gone.value.error["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in gone.value.error["errorMessage"]


def test_functions_sign_without_awscrt_as_on_lambda_where_the_layer_has_none(template: LocalTemplate) -> None:
    (router,) = [f for f in template.functions() if f.name == "RouterFunction"]
    env = function_environment(template, router, "http://127.0.0.1:1", "http://127.0.0.1:2")
    assert "awscrt" not in (REPO_ROOT / "layers" / "shared" / "requirements.txt").read_text()
    probe = "import botocore.compat; print(botocore.compat.HAS_CRT)"
    ran = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "False"


def test_big_events_and_results_cross_whole_invoke_after_invoke(worker: Worker) -> None:
    big = {"text": "line\n" * 100_000, "unicode": "é€😀"}  # far more than a pipe holds at once
    for n in range(2):
        answer = worker.invoke(json.dumps({**big, "n": n}), 10, f"big-{n}")
        assert json.loads(answer["result"])["echo"] == {**big, "n": n}


def test_a_handler_that_cannot_be_imported_fails_every_invoke_alike(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("raise ImportError('no such thing')\n")
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(tmp_path)}
    broken = Worker("Broken", "broken.handler", tmp_path, env, lambda *_: None)
    try:
        answers = [broken.invoke(json.dumps({"n": n, "pad": "x" * 5000}), 10, f"r{n}") for n in range(2)]
    finally:
        broken.kill()
    assert [answer["error"]["errorType"] for answer in answers] == ["Runtime.ImportModuleError: ImportError"] * 2
