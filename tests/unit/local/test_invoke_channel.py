"""The stack's invoke socket: the router's sandbox invokes cross it, and only the stack's own user may use it."""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from samcli.commands.local.lib.exceptions import TenantIdValidationError

from httpendpoint.core.errors import Unavailable
from httpendpoint.trigger.sandbox_client import LambdaSandbox
from httpep.local import invoke_channel
from httpep.local.defaults import INVOKE_CHANNEL_VARIABLE
from httpep.local.invoke_channel import ChannelSandbox, InvokeChannel
from httpep.local.runner import LocalLambdaRunner, TenantPools, Worker
from httpep.local.template import LocalTemplate
from tests.support.local import as_user
from tests.support.repo import REPO_ROOT

ANOTHER_UID = 65_000


class FakeInvoker:
    """Answers as the runner would, and remembers what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, str | None]] = []
        self.answer: dict[str, Any] = {"result": json.dumps({"outcome": "response", "response": {"ok": True}})}
        self.refusal: Exception | None = None

    def call(self, function_identifier: str, event: str, tenant_id: str | None = None) -> dict[str, Any]:
        self.calls.append((function_identifier, json.loads(event), tenant_id))
        if self.refusal is not None:
            raise self.refusal
        return self.answer


@pytest.fixture
def invoker() -> FakeInvoker:
    return FakeInvoker()


@pytest.fixture
def channel(invoker: FakeInvoker) -> Iterator[InvokeChannel]:
    served = InvokeChannel(invoker)
    yield served
    served.stop()


def run(sandbox: ChannelSandbox, payload: dict[str, Any], tenant: str = "jaydoe") -> dict[str, Any]:
    return sandbox.run(payload, json.dumps(payload).encode(), tenant)


def test_an_invoke_crosses_with_its_function_and_tenant_and_the_answer_comes_back(
    channel: InvokeChannel, invoker: FakeInvoker
) -> None:
    sandbox = ChannelSandbox("SandboxFunction", channel.path)
    assert [run(sandbox, {"n": n, "text": "é" * 100_000}) for n in range(2)] == [
        {"outcome": "response", "response": {"ok": True}}
    ] * 2  # one connection, kept for the next invoke
    assert invoker.calls == [("SandboxFunction", {"n": n, "text": "é" * 100_000}, "jaydoe") for n in range(2)]


def test_a_failed_function_is_reported_as_lambda_reports_its_function_error(
    channel: InvokeChannel, invoker: FakeInvoker
) -> None:
    invoker.answer = {"error": {"errorType": "Runtime.ExitError", "errorMessage": "exit status 3"}}
    outcome = run(ChannelSandbox("SandboxFunction", channel.path), {})
    assert outcome == {"outcome": "crashed", "error": "the sandbox failed: Runtime.ExitError"}


def test_what_the_lambda_service_refuses_leaves_the_sandbox_unavailable(
    channel: InvokeChannel, invoker: FakeInvoker
) -> None:
    invoker.refusal = TenantIdValidationError("SandboxFunction is a PER_TENANT function: an invoke must name one")
    with pytest.raises(Unavailable, match=r"could not be reached \(TenantIdValidationError\)") as refused:
        run(ChannelSandbox("SandboxFunction", channel.path), {})
    assert "PER_TENANT" not in str(refused.value)  # the stack's own words stay in the stack, as Lambda's would


def test_the_stack_goes_on_accepting_after_a_failed_accept(
    channel: InvokeChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of descriptors for a moment (EMFILE), say: the next worker that connects is still served."""
    monkeypatch.setattr(invoke_channel, "SANDBOX_ANSWER_SECONDS", 5)

    class FailsOnce:
        def __init__(self, listener: socket.socket) -> None:
            self.listener, self.failed = listener, False

        def accept(self) -> tuple[socket.socket, Any]:
            if not self.failed:
                self.failed = True
                raise OSError(errno.EMFILE, "Too many open files")
            return self.listener.accept()

        def __getattr__(self, name: str) -> Any:
            return getattr(self.listener, name)

    real = channel._listener
    channel._listener = FailsOnce(real)  # type: ignore[assignment]
    assert run(ChannelSandbox("SandboxFunction", channel.path), {})["outcome"] == "response"  # the pending accept
    assert run(ChannelSandbox("SandboxFunction", channel.path), {})["outcome"] == "response"  # after the failure
    channel._listener = real


@contextmanager
def fake_stack(path: Path, answer: bytes | None) -> Iterator[str]:
    """A socket at `path` that answers the first request with `answer` as it is (None: never answers)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen(1)

        def answer_once() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.recv(1 << 16)
                if answer is not None:
                    connection.sendall(answer)

        if answer is not None:
            threading.Thread(target=answer_once, daemon=True).start()
        yield str(path)


@pytest.mark.parametrize("answer", [b"", b"not json\n", b'{"size": 10}\nshort', b'{"no size": 1}\n'])
def test_an_answer_cut_off_or_garbled_leaves_the_sandbox_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: bytes
) -> None:
    monkeypatch.setattr(invoke_channel, "SANDBOX_ANSWER_SECONDS", 5)
    with fake_stack(tmp_path / "fake.sock", answer) as path, pytest.raises(Unavailable, match="could not be reached"):
        run(ChannelSandbox("SandboxFunction", path), {})


def test_a_stack_that_never_answers_leaves_the_sandbox_unavailable_in_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(invoke_channel, "SANDBOX_ANSWER_SECONDS", 0.2)
    with (
        fake_stack(tmp_path / "silent.sock", None) as path,
        pytest.raises(Unavailable, match=r"could not be reached \(TimeoutError\)"),
    ):
        run(ChannelSandbox("SandboxFunction", path), {})


def test_a_garbled_request_ends_its_connection_and_nothing_else(channel: InvokeChannel) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
        raw.settimeout(5)
        raw.connect(channel.path)
        raw.sendall(b"not json\n")
        assert raw.recv(100) == b""  # closed without an answer
    assert run(ChannelSandbox("SandboxFunction", channel.path), {})["outcome"] == "response"


def test_without_the_stack_the_sandbox_is_unavailable_and_a_new_stack_is_found_again(invoker: FakeInvoker) -> None:
    channel = InvokeChannel(invoker)
    sandbox = ChannelSandbox("SandboxFunction", channel.path)
    assert run(sandbox, {})["outcome"] == "response"
    channel.stop()
    assert not channel.directory.exists()
    with pytest.raises(Unavailable, match="could not be reached"):
        run(sandbox, {})
    again = InvokeChannel(invoker)
    try:
        sandbox.path = again.path
        assert run(sandbox, {})["outcome"] == "response"
    finally:
        again.stop()


def test_the_socket_lies_where_only_the_stacks_user_may_enter(channel: InvokeChannel) -> None:
    info = channel.directory.stat()
    assert info.st_uid == os.geteuid()
    assert stat.S_IMODE(info.st_mode) == 0o700


def _as_another_user(path: str) -> str:
    """What a process of another user gets from the socket: an exception's name, or the answer's outcome."""

    def invoke() -> bytes:
        try:
            return str(run(ChannelSandbox("SandboxFunction", path), {})["outcome"]).encode()
        except Unavailable as exc:
            return f"Unavailable: {exc}".encode()

    return as_user(ANOTHER_UID, invoke).decode()


@pytest.mark.skipif(os.geteuid() != 0, reason="handlers run as users of their own only under root")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_process_of_another_user_can_neither_reach_the_socket_nor_be_answered(
    channel: InvokeChannel, invoker: FakeInvoker
) -> None:
    assert _as_another_user(channel.path) == "Unavailable: the sandbox could not be reached (PermissionError)"
    channel.directory.chmod(0o755)  # as if it had found a way in: the stack still answers only its own user
    assert _as_another_user(channel.path).startswith("Unavailable: the sandbox could not be reached")
    assert invoker.calls == []


@pytest.fixture
def template() -> LocalTemplate:
    return LocalTemplate(REPO_ROOT / "template.yaml")


def test_functions_with_aws_permissions_are_told_where_the_socket_is_and_the_sandbox_is_not(
    template: LocalTemplate,
) -> None:
    runner = LocalLambdaRunner(template, "http://127.0.0.1:1", "http://127.0.0.1:2", lambda *_: None)
    try:
        router, sandbox = runner.pools["RouterFunction"], runner.pools["SandboxFunction"]
        assert router.env[INVOKE_CHANNEL_VARIABLE] == runner.channel.path
        assert isinstance(sandbox, TenantPools) and INVOKE_CHANNEL_VARIABLE not in sandbox.env
    finally:
        runner.stop()
    assert not Path(runner.channel.path).exists()


PROBE_HANDLER = """
import os
from httpendpoint.trigger import sandbox_client

def handler(event, context):
    executor = sandbox_client.current()
    return {"executor": type(executor).__name__, "path": getattr(executor, "path", None),
            "variable": os.environ.get(event["variable"])}
"""


@pytest.mark.parametrize("given", [True, False])
def test_a_worker_whose_code_invokes_the_sandbox_does_so_through_the_socket_it_was_given(
    tmp_path: Path, given: bool
) -> None:
    (tmp_path / "probe.py").write_text(PROBE_HANDLER)
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT / "layers" / "shared"), *sys.path]),
        "SANDBOX_FUNCTION": "SandboxFunction",
    }
    if given:
        env[INVOKE_CHANNEL_VARIABLE] = "/run/the-stacks.sock"
    worker = Worker("Probe", "probe.handler", tmp_path, env, lambda *_: None)
    try:
        answer = worker.invoke(json.dumps({"variable": INVOKE_CHANNEL_VARIABLE}), 30, "probe")
    finally:
        worker.kill()
    found = json.loads(answer["result"])
    if given:  # and the function's own code does not see the variable: Lambda has none such
        assert found == {"executor": ChannelSandbox.__name__, "path": "/run/the-stacks.sock", "variable": None}
    else:
        assert found == {"executor": LambdaSandbox.__name__, "path": None, "variable": None}
