"""The local Lambda service's tenancy (read from the template) and the guard of its control plane."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from samcli.commands.local.lib.exceptions import TenantIdValidationError
from werkzeug.serving import make_server

from httpendpoint.sandbox.limits import CHILD_UID_VARIABLE
from httpep.local.guard import connection_owner, owner_only
from httpep.local.runner import CHILD_UID_BASE, LocalLambdaRunner, TenantPools, is_per_tenant
from httpep.local.template import LocalTemplate


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


def test_under_root_a_tenants_worker_is_told_its_uid(template: LocalTemplate, monkeypatch: pytest.MonkeyPatch) -> None:
    (sandbox,) = [f for f in template.functions() if f.name == "SandboxFunction"]
    pools = TenantPools(sandbox, {"X": "1"}, lambda *_: None)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    first, second = pools.pool("a"), pools.pool("b")
    assert first is not second
    assert pools.pool("a") is first
    assert (first.env[CHILD_UID_VARIABLE], second.env[CHILD_UID_VARIABLE]) == (
        str(CHILD_UID_BASE),
        str(CHILD_UID_BASE + 1),
    )
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert CHILD_UID_VARIABLE not in pools.pool("c").env


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
