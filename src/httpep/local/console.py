"""The local stack's console: one readable line per request, then what the handler printed and its traceback.

The functions log JSON lines (Powertools) tagged with the request id the local API Gateway gave the
request; they are gathered per request and printed under that request's line, as plain indented text.
`httpep serve --json-logs` prints the JSON lines as they are instead. One thread writes everything, one
whole block at a time, so lines never interleave.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

# How long a finished request's block waits for its functions' last log lines (they travel through a pipe
# and a reader thread, so they can arrive just after the response).
LINGER_SECONDS = 0.05
# The longest the writer sleeps while blocks wait (what arrives meanwhile is taken in one go when it wakes).
NAP_SECONDS = 0.05
# Lines tagged with a request the API never reports (a direct Lambda invoke) are printed after this; an
# authorizer's verdict waits longer while requests are still running (a cold start or a slow handler), for the
# request it belongs to, but never beyond the second figure.
ORPHAN_SECONDS = 1.0
VERDICT_SECONDS = 60.0
INDENT = "    "
# Keys of a Powertools log record that say nothing a reader of the console needs.
QUIET_KEYS = frozenset(
    {
        "level",
        "location",
        "message",
        "timestamp",
        "service",
        "correlation_id",
        "xray_trace_id",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "sampling_rate",
        "request_id",
        "method",
        "path",
        "exception_name",
        "stack_trace",
        # Shown once, on the request's own line.
        "endpoint_id",
        "account",
    }
)
# The router's records of what the handler printed and raised: shown as the text alone.
HANDLER_TEXT = {"handler output": "output", "handler traceback": "traceback"}
# Records outside any request at these levels are routine (the authorizer's "token accepted").
ROUTINE_LEVELS = frozenset({"DEBUG", "INFO"})
TEXT_KEYS = ("output", "traceback", "exception")


@dataclass
class _Unclaimed:
    """A record with no request id (the TOKEN authorizer's event has none), waiting for its request's block."""

    source: str
    record: dict[str, Any]
    deadline: float
    last_deadline: float


@dataclass
class _Request:
    deadline: float
    status: int | None = None
    header: str | None = None
    lines: list[str] = field(default_factory=list)
    endpoint: str | None = None
    account: str | None = None


def _indented(text: str, depth: int = 1) -> list[str]:
    return [INDENT * depth + line for line in str(text).rstrip("\n").splitlines()]


def describe(record: dict[str, Any]) -> list[str]:
    """A Powertools record as plain text: `LEVEL message key=value ...`, then any output or traceback below it."""
    message = str(record.get("message", ""))
    if message in HANDLER_TEXT and record.get(HANDLER_TEXT[message]):
        return _indented(str(record[HANDLER_TEXT[message]]))
    level = str(record.get("level", "INFO"))
    extras = [
        f"{key}={value}"
        for key, value in record.items()
        if key not in QUIET_KEYS and key not in TEXT_KEYS and not key.startswith("_")
    ]
    lines = _indented(" ".join([level, message, *extras]))
    for key in TEXT_KEYS:
        if record.get(key):
            lines += _indented(str(record[key]), 2)
    return lines


class Console:
    """The single writer of the local stack's console (see the module's docstring)."""

    def __init__(
        self,
        json_logs: bool = False,
        stream: TextIO | None = None,
        linger: float = LINGER_SECONDS,
        orphan: float = ORPHAN_SECONDS,
    ) -> None:
        self.json_logs = json_logs
        self.stream = stream
        self.linger = linger
        self.orphan = orphan
        self._queue: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._pending: dict[str, _Request] = {}
        self._unclaimed: list[_Unclaimed] = []
        self._running = 0  # requests the API has started and not yet answered
        self._thread = threading.Thread(target=self._run, name="console", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------------------------ producers (any thread)

    def say(self, text: str) -> None:
        """A line of the stack's own (start-up, shutdown)."""
        self._queue.put(("say", text))

    def function_log(self, source: str, line: str) -> None:
        """A line a function wrote (the runner's log sink)."""
        self._queue.put(("log", source, line))

    def started(self) -> None:
        """The API took a request (the local API Gateway's before-request hook); `request` follows when it answers."""
        self._queue.put(("started",))

    def request(
        self,
        request_id: str | None,
        method: str,
        path: str,
        status: int,
        elapsed_ms: float,
        account: str | None = None,
    ) -> None:
        """The API answered a request (the local API Gateway's after-request hook; `account` is the authorizer's)."""
        self._queue.put(("request", request_id, method, path, status, elapsed_ms, time.time(), account))

    def close(self) -> None:
        """Print everything still pending and stop the writer."""
        self._queue.put(None)
        self._thread.join(timeout=5)

    # ------------------------------------------------------------------------------------ the writer

    def _write(self, lines: list[str]) -> None:
        stream = self.stream or sys.stderr
        stream.write("".join(line + "\n" for line in lines))
        stream.flush()

    def _run(self) -> None:
        while True:
            now = time.monotonic()
            deadlines = [pending.deadline for pending in self._pending.values()]
            deadlines += [self._due(unclaimed) for unclaimed in self._unclaimed]
            if deadlines:
                # A block waits for its deadline: sleep till then (a nap at most), and take whatever came meanwhile
                # at once. Waiting on the queue instead woke this thread for every line of every request, a
                # dozen thread switches per trigger on a busy stack.
                time.sleep(min(max(0.0, min(deadlines) - now), NAP_SECONDS))
                items = []
            else:
                items = [self._queue.get()]
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for item in items:
                if item is None:
                    self._flush(force=True)
                    return
                self._handle(item)
            self._flush()

    def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "say":
            self._write([str(item[1])])
        elif kind == "request":
            self._running = max(0, self._running - 1)
            self._on_request(*item[1:])
        elif kind == "started":
            self._running += 1
        elif kind == "log":
            self._on_log(item[1], item[2])

    def _on_request(
        self,
        request_id: str | None,
        method: str,
        path: str,
        status: int,
        elapsed_ms: float,
        at: float,
        account: str | None,
    ) -> None:
        clock = datetime.fromtimestamp(at).strftime("%H:%M:%S")
        header = f"{clock} {method} {path} {status} {elapsed_ms:.0f} ms"
        if self.json_logs or not request_id:
            self._write([f"{'api':>24} | {method} {path} {status} {elapsed_ms:.0f} ms" if self.json_logs else header])
            return
        pending = self._pending.setdefault(request_id, _Request(deadline=0.0))
        pending.header = header
        pending.status = status
        pending.account = pending.account or account
        pending.deadline = time.monotonic() + self.linger

    def _on_log(self, source: str, line: str) -> None:
        if self.json_logs:
            self._write([f"{source:>24} | {line}"])
            return
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            # Plain text (a function's own print, or a traceback from outside any request).
            self._write([f"{INDENT}{source} | {line}"])
            return
        request: dict[str, Any] = record["request"] if isinstance(record.get("request"), dict) else {}
        request_id = record.get("correlation_id") or request.get("request_id")
        if not request_id:
            if "_aws" in record:  # a metrics line with no request says nothing
                return
            if str(record.get("level", "INFO")) in ROUTINE_LEVELS:
                # The authorizer's verdict: shown under the request it was for (matched by account, or by
                # the 401 it caused), else on its own once that request is long gone.
                now = time.monotonic()
                self._unclaimed.append(_Unclaimed(source, record, now + self.orphan, now + VERDICT_SECONDS))
                return
            first, *rest = describe(record)
            self._write([f"{INDENT}{source} | {first.strip()}", *rest])
            return
        pending = self._pending.get(str(request_id))
        if pending is None:
            pending = self._pending[str(request_id)] = _Request(deadline=time.monotonic() + self.orphan)
        if "_aws" in record:
            # The metrics line: its `request` record names the endpoint and account; nothing to print.
            pending.endpoint = request.get("endpoint_id") or pending.endpoint
            pending.account = request.get("account") or pending.account
            return
        pending.endpoint = record.get("endpoint_id") or pending.endpoint
        pending.account = record.get("account") or pending.account
        pending.lines += describe(record)

    def _claim(self, pending: _Request) -> list[str]:
        for unclaimed in self._unclaimed:
            account = unclaimed.record.get("account")
            if (account and account == pending.account) or (not account and pending.status == 401):
                self._unclaimed.remove(unclaimed)
                return describe(unclaimed.record)
        return []

    def _due(self, unclaimed: _Unclaimed) -> float:
        """When an unclaimed verdict is shown on its own: while requests run or wait to be written, one of them may
        still claim it."""
        return unclaimed.last_deadline if self._running or self._pending else unclaimed.deadline

    def _flush(self, force: bool = False) -> None:
        now = time.monotonic()
        for request_id, pending in list(self._pending.items()):
            if not force and pending.deadline > now:
                continue
            del self._pending[request_id]
            header = pending.header or f"(request {request_id[:8]})"
            who = [f"endpoint={pending.endpoint}"] if pending.endpoint else []
            who += [f"account={pending.account}"] if pending.account else []
            self._write([" ".join([header, *who]), *self._claim(pending), *pending.lines])
        for unclaimed in list(self._unclaimed):
            if force or self._due(unclaimed) <= now:
                self._unclaimed.remove(unclaimed)
                first, *rest = describe(unclaimed.record)
                self._write([f"{INDENT}{unclaimed.source} | {first.strip()}", *rest])
