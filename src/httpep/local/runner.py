"""An in-process stand-in for Lambda's runtime: each function runs in its own warm worker processes.

SAM CLI's local API Gateway and Lambda services call `invoke` exactly as they would call its Docker-based
runner. A worker is a separate Python process that sees only the environment the template gives its
function (plus what Lambda itself sets), so code never shares memory or credentials with the stack.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import math
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from httpendpoint.sandbox.limits import CHILD_UID_VARIABLE
from httpep.local import defaults
from httpep.local.frames import write_frame
from httpep.local.template import LOCAL_REGION, LocalTemplate

if TYPE_CHECKING:
    from httpep.local.guard import WsgiApp

MAX_WORKERS_PER_FUNCTION = 16
# A PER_TENANT function (template.yaml's TenancyConfig) gets warm workers per tenant (account), never shared
# with another tenant: the first on the tenant's first invoke, more while its requests overlap (as Lambda gives
# a tenant an environment per concurrent request), up to this many; beyond it, its requests wait their turn.
MAX_WORKERS_PER_TENANT = 4
# Beyond this many tenants with workers, the least recently used idle tenant's are stopped, as Lambda reclaims
# idle environments (its tenant keeps its uids).
MAX_TENANT_WORKERS = 8
# Under root, each worker of a tenant is told the uid its handlers' processes run as (HTTPEP_CHILD_UID): one
# uid per worker slot of a tenant, handed out in order of first use within this run of the stack, from
# CHILD_UID_BASE up. No account shares a uid with another, so they cannot signal, trace or read one another,
# and process limits are theirs; nor do two workers at once (the sandbox's clean-up stops every process of its
# uid and removes every file it left).
CHILD_UID_BASE = 200_000
CHILD_UID_COUNT = 65_536
LOCAL_CREDENTIALS = defaults.CREDENTIALS


class LogSink(Protocol):
    """Where a worker's stderr goes, line by line, with the request id of the invoke that wrote it (the one the
    worker's last marker named: defaults.INVOKE_MARKER), if any."""

    def __call__(self, source: str, line: str, invoke_id: str | None = None, /) -> None: ...


# Told each invoke's request id (its context's `aws_request_id`) on the invoking thread, before the invoke.
InvokeHook = Callable[[str], None]


class AuthorizerRejected(Exception):
    """An authorizer raised `Unauthorized`: API Gateway answers 401 without calling the route."""


class WorkerGone(Exception):
    """The worker timed out or died; it is discarded and the invoke reports a Lambda-style error."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error = {"errorType": error_type, "errorMessage": message}


class Worker:
    """One warm execution environment of a function."""

    def __init__(self, name: str, handler: str, cwd: Path, env: dict[str, str], log: LogSink, slot: int = 0) -> None:
        self.name = name
        self.slot = slot  # which of its pool's environments it is (see FunctionPool.worker_env)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "httpep.local.worker", handler],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, so a kill takes any children with it
        )
        self._pending = b""
        # One poll object for the worker's life: a selector per invoke cost an epoll descriptor each time.
        assert self.process.stdout is not None
        self._results = select.poll()
        self._results.register(self.process.stdout.fileno(), select.POLLIN)
        threading.Thread(target=self._pump_logs, args=(log,), daemon=True).start()

    def _pump_logs(self, log: LogSink) -> None:
        assert self.process.stderr is not None
        invoke_id: str | None = None
        for raw in self.process.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            if line.startswith(defaults.INVOKE_MARKER):
                invoke_id = line.removeprefix(defaults.INVOKE_MARKER)
            else:
                log(self.name, line, invoke_id)

    def invoke(self, event: str, timeout: float, request_id: str) -> dict[str, Any]:
        """The worker's answer: {"result": the result's JSON text} or {"error": {...}} (see worker.py)."""
        assert self.process.stdin is not None
        deadline = time.monotonic() + timeout
        header = {"request_id": request_id, "deadline_ms": int((time.time() + timeout) * 1000)}
        try:
            write_frame(self.process.stdin, header, event.encode())
        except BrokenPipeError:
            raise WorkerGone("Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited") from None
        while b"\n" not in self._pending:
            self._read(deadline, timeout, request_id)
        # A frame (frames.py), read as it comes: the worker's stdout is polled, under the invoke's deadline.
        line, _, self._pending = self._pending.partition(b"\n")
        answer = dict(json.loads(line))
        size = int(answer.pop("size"))
        while len(self._pending) < size:
            self._read(deadline, timeout, request_id)
        if "error" not in answer:
            answer["result"] = self._pending[:size].decode()
        self._pending = self._pending[size:]
        return answer

    def _read(self, deadline: float, timeout: float, request_id: str) -> None:
        """What the worker wrote next, once it wrote something, into `_pending`; WorkerGone if it times out or
        exits first."""
        assert self.process.stdout is not None
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not self._results.poll(math.ceil(remaining * 1000)):
            raise WorkerGone(
                "Sandbox.Timedout", f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
            )
        chunk = os.read(self.process.stdout.fileno(), 1 << 20)
        if not chunk:
            code = self.process.wait()
            raise WorkerGone(
                "Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited with error: exit status {code}"
            )
        self._pending += chunk

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


class FunctionPool:
    """The warm workers of one function; a busy function scales out to new workers, as Lambda does."""

    def __init__(
        self,
        function: Any,
        env: dict[str, str],
        log: LogSink,
        max_workers: int = MAX_WORKERS_PER_FUNCTION,
        slot_env: Callable[[int], dict[str, str]] | None = None,
    ) -> None:
        self.function = function
        self.env = env
        self.log = log
        self.timeout = float(function.timeout or 3)
        self._slot_env = slot_env
        self._idle: list[Worker] = []
        self._all: set[Worker] = set()
        self._busy_slots: set[int] = set()  # the slots of the workers in `_all`
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_workers)

    def worker_env(self, slot: int) -> dict[str, str]:
        """The environment of the worker in `slot` (the lowest slot no live worker holds)."""
        return self.env if self._slot_env is None else self._slot_env(slot)

    def _spawn(self) -> Worker:
        with self._lock:
            slot = next(n for n in itertools.count() if n not in self._busy_slots)
            self._busy_slots.add(slot)
        try:
            env = self.worker_env(slot)
            worker = Worker(self.function.name, self.function.handler, Path(self.function.codeuri), env, self.log, slot)
        except BaseException:
            with self._lock:
                self._busy_slots.discard(slot)
            raise
        with self._lock:
            self._all.add(worker)
        return worker

    def prewarm(self) -> None:
        worker = self._spawn()
        with self._lock:
            self._idle.append(worker)

    def invoke(self, event: str, request_id: str | None = None) -> dict[str, Any]:
        request_id = request_id or str(uuid.uuid4())
        with self._slots:
            with self._lock:
                worker = self._idle.pop() if self._idle else None
            worker = worker or self._spawn()
            try:
                message = worker.invoke(event, self.timeout, request_id)
            except WorkerGone as gone:
                self._discard(worker)
                self.log(self.function.name, f"[ERROR] {gone.error['errorType']}: {gone}", request_id)
                return {"error": gone.error}
            with self._lock:
                self._idle.append(worker)
            return message

    def _discard(self, worker: Worker) -> None:
        worker.kill()
        with self._lock:
            self._all.discard(worker)
            self._busy_slots.discard(worker.slot)

    def stop(self) -> None:
        with self._lock:
            workers, self._all, self._idle, self._busy_slots = list(self._all), set(), [], set()
        for worker in workers:
            worker.kill()

    def has_workers(self) -> bool:
        with self._lock:
            return bool(self._all)

    def stop_if_idle(self) -> bool:
        """Stop the workers if none is busy; False (and nothing stopped) if one is."""
        with self._lock:
            if len(self._idle) != len(self._all):
                return False
            workers, self._all, self._idle, self._busy_slots = list(self._all), set(), [], set()
        for worker in workers:
            worker.kill()
        return True


class TenantError(Exception):
    """An invoke's tenant id does not fit the function's tenancy (what Lambda answers with a 400)."""


def is_per_tenant(function: Any) -> bool:
    return (
        isinstance(function.tenancy_config, dict) and function.tenancy_config.get("TenantIsolationMode") == "PER_TENANT"
    )


class TenantPools:
    """The workers of a PER_TENANT function: warm workers per tenant, never shared with another tenant."""

    def __init__(self, function: Any, env: dict[str, str], log: LogSink) -> None:
        self.function = function
        self.env = env
        self.log = log
        self._pools: dict[str, FunctionPool] = {}  # by tenant, least recently used first
        self._uids: dict[str, list[int]] = {}  # by tenant, by worker slot
        self._handed_out = 0
        self._lock = threading.Lock()

    def child_uid(self, tenant: str, slot: int = 0) -> int:
        """The uid of the tenant's worker in `slot`, stable for this run of the stack: handed out in order of
        first use, from the base, and never to another tenant."""
        with self._lock:
            uids = self._uids.get(tenant, [])
            while len(uids) <= slot:
                if self._handed_out >= CHILD_UID_COUNT:
                    raise TenantError(f"more than {CHILD_UID_COUNT} tenants' workers in one run of the local stack")
                uids.append(CHILD_UID_BASE + self._handed_out)
                self._handed_out += 1
            self._uids[tenant] = uids
            return uids[slot]

    def _slot_env(self, tenant: str, slot: int) -> dict[str, str]:
        env = dict(self.env)
        if os.geteuid() == 0:
            env[CHILD_UID_VARIABLE] = str(self.child_uid(tenant, slot))
        return env

    def pool(self, tenant: str) -> FunctionPool:
        with self._lock:
            pool = self._pools.pop(tenant, None) or FunctionPool(
                self.function,
                self.env,
                self.log,
                max_workers=MAX_WORKERS_PER_TENANT,
                slot_env=functools.partial(self._slot_env, tenant),
            )
            self._pools[tenant] = pool
            others = [p for t, p in self._pools.items() if t != tenant]
        others = [other for other in others if other.has_workers()]
        for other in others[: max(0, len(others) + 1 - MAX_TENANT_WORKERS)]:
            other.stop_if_idle()
        return pool

    def invoke(self, event: str, tenant: str, request_id: str | None = None) -> dict[str, Any]:
        return self.pool(tenant).invoke(event, request_id)

    def stop(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.stop()


def function_environment(
    template: LocalTemplate, function: Any, aws_endpoint: str, lambda_endpoint: str
) -> dict[str, str]:
    """Exactly what Lambda would give this function: its template variables and the runtime's own."""
    code_dir = Path(function.codeuri).resolve()
    layer_dirs = [str(Path(layer.codeuri).resolve()) for layer in function.layers if layer.codeuri]
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "PYTHONPATH": os.pathsep.join([str(code_dir), *layer_dirs]),
        "PYTHONUNBUFFERED": "1",
        "LAMBDA_TASK_ROOT": str(code_dir),
        "_HANDLER": function.handler,
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory or 128),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(function.timeout or 3),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_REGION": LOCAL_REGION,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "AWS_SAM_LOCAL": "true",
        "AWS_ENDPOINT_URL": aws_endpoint,
        "AWS_ENDPOINT_URL_LAMBDA": lambda_endpoint,
        # No credential files and no instance metadata: a function holds only what is given below.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        # The layer ships no awscrt, so botocore on Lambda signs in Python; the venv has it (for SAM CLI), and
        # botocore would sign every local request through it instead (slower, too, for requests this small).
        "BOTO_DISABLE_CRT": "true",
    }
    if template.has_aws_permissions(function.name):
        env.update(LOCAL_CREDENTIALS)
    variables = (function.environment or {}).get("Variables", {})
    for key, value in variables.items():
        env[key] = json.dumps(value) if isinstance(value, bool) else template.local_function_name(str(value))
    return env


def is_authorizer_event(event: str) -> bool:
    try:
        parsed = json.loads(event)
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed.get("type") in ("TOKEN", "REQUEST") and "methodArn" in parsed


class LocalLambdaRunner:
    """The runner interface SAM CLI's local services expect (`invoke`, `get_function`, `is_debugging`)."""

    def __init__(
        self,
        template: LocalTemplate,
        aws_endpoint: str,
        lambda_endpoint: str,
        log: LogSink,
        aws_app: WsgiApp | None = None,
        on_invoke: InvokeHook | None = None,
    ) -> None:
        """`aws_app`: the embedded AWS's WSGI application, which the workers' AWS requests reach through the
        stack's socket (channel.py); without it they go to `aws_endpoint` over HTTP (the socket says so).
        `on_invoke`: told each invoke's request id first, on the caller's thread (the console ties the invoke's
        log lines to the API request being served there)."""
        from httpep.local.channel import StackChannel

        self.template = template
        self.on_invoke = on_invoke
        self.pools: dict[str, FunctionPool | TenantPools] = {}
        self.channel = StackChannel(self, aws_app, log)
        try:
            for function in template.functions():
                env = function_environment(template, function, aws_endpoint, lambda_endpoint)
                if template.has_aws_permissions(function.name):  # one that calls AWS or invokes another
                    env[defaults.STACK_CHANNEL_VARIABLE] = self.channel.path
                pools = TenantPools if is_per_tenant(function) else FunctionPool
                self.pools[function.name] = pools(function, env, log)
        except BaseException:
            self.channel.stop()
            raise

    def is_debugging(self) -> bool:
        return False

    def get_function(self, function_identifier: str, tenant_id: str | None = None) -> Any:
        """The function, checked against the tenancy of its template (SAM CLI's Lambda service answers 400)."""
        name = function_identifier.rsplit(":", 1)[-1] if function_identifier.startswith("arn:") else function_identifier
        pool = self.pools.get(name)
        if pool is None:
            from samcli.local.lambdafn.exceptions import FunctionNotFound as SamFunctionNotFound

            raise SamFunctionNotFound(f"Unable to find a function with name '{function_identifier}'")
        from samcli.commands.local.lib.exceptions import TenantIdValidationError

        if isinstance(pool, TenantPools) and not tenant_id:
            raise TenantIdValidationError(f"{name} is a PER_TENANT function: an invoke must name its tenant id")
        if not isinstance(pool, TenantPools) and tenant_id:
            raise TenantIdValidationError(f"{name} has no tenancy configuration: an invoke may not name a tenant")
        return pool.function

    def invoke(
        self,
        function_identifier: str,
        event: str,
        *args: Any,
        stdout: Any = None,
        tenant_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        message = self.call(function_identifier, event, tenant_id)
        if "error" in message:
            error = message["error"]
            if error.get("errorMessage") == defaults.AUTHORIZER_REFUSAL and is_authorizer_event(event):
                raise AuthorizerRejected()
            payload = json.dumps(error)
        else:
            payload = message["result"]
        if stdout is not None:
            stdout.write_str(payload)

    def call(self, function_identifier: str, event: str, tenant_id: str | None = None) -> dict[str, Any]:
        """The function's answer to `event`: {"result": its JSON text} or {"error": {...}} (see worker.py)."""
        function = self.get_function(function_identifier, tenant_id)
        pool = self.pools[function.name]
        request_id = str(uuid.uuid4())
        if self.on_invoke is not None:
            self.on_invoke(request_id)
        if isinstance(pool, TenantPools):
            assert tenant_id  # checked by get_function
            return pool.invoke(event, tenant_id, request_id)
        return pool.invoke(event, request_id)

    def prewarm(self) -> None:
        # A tenant's worker starts on its first invoke, as a tenant's first environment does on Lambda.
        for pool in self.pools.values():
            if isinstance(pool, FunctionPool):
                threading.Thread(target=pool.prewarm, daemon=True).start()

    def stop(self) -> None:
        self.channel.stop()
        for pool in self.pools.values():
            pool.stop()
