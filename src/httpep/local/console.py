"""The local stack's console: one readable line per request, then what the handler printed and its traceback.

The functions log JSON lines (Powertools). Each line goes under the API request whose function invoke wrote it:
the runner tells which request each invoke is for (`invoked`), and the line names its invoke
(`function_request_id`); a line of no invoke the console knows goes by its request id (`correlation_id`, the
router's). They are gathered per request and printed under that request's line, as plain indented text.
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

from httpep.local.defaults import AUTHORIZER_REFUSAL, ERROR_REPORT_PREFIX
from httpep.text import printable, printable_lines

# How long a finished request's block waits for its functions' last log lines (they travel through a pipe
# and a reader thread, so they can arrive just after the response).
LINGER_SECONDS = 0.05
# The longest the writer sleeps while blocks wait (what arrives meanwhile is taken in one go when it wakes).
NAP_SECONDS = 0.05
# Lines tagged with a request the API never reports (a direct Lambda invoke) are printed after this; those of
# a request the API is still running (a cold start, a slow handler) wait for its answer, but never beyond the
# second figure.
ORPHAN_SECONDS = 1.0
RUNNING_SECONDS = 60.0
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
TEXT_KEYS = ("output", "traceback", "exception")


@dataclass
class _Request:
    deadline: float
    status: int | None = None
    header: str | None = None
    lines: list[str] = field(default_factory=list)
    endpoint: str | None = None
    account: str | None = None
    note: str | None = None  # the stack's own word on the answer (a refusal's reason), after the functions' lines
    invokes: list[str] = field(default_factory=list)  # the function invokes made for it (see `invoked`)


def _who(endpoint: str | None, account: str | None) -> list[str]:
    return [f"{key}={printable(value)}" for key, value in (("endpoint", endpoint), ("account", account)) if value]


def _indented(text: str, depth: int = 1) -> list[str]:
    return [INDENT * depth + line for line in printable_lines(str(text))]


def _without_refusal_report(lines: list[str]) -> list[str]:
    """`lines` less the runtime's report of an authorizer's refusal, from its `[ERROR]` line to the traceback's
    last: raising `Unauthorized` is how a TOKEN authorizer answers 401, and the verdict line above the report
    (`INFO token rejected reason=...`) already says why."""
    said, first = f": {AUTHORIZER_REFUSAL}", INDENT + ERROR_REPORT_PREFIX
    starts = [n for n, line in enumerate(lines) if line.startswith(first) and line.endswith(said)]
    if not starts:
        return lines
    start = starts[0]
    # The traceback's frames are indented further; its last line, `module.Type: Unauthorized`, is not.
    for end in range(start + 1, len(lines)):
        if lines[end].endswith(said) and not lines[end].startswith(INDENT + " "):
            return lines[:start] + lines[end + 1 :]
    return lines


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
        self._invokes: dict[str, str] = {}  # a function invoke's request id -> the API request it was made for
        self._thread = threading.Thread(target=self._run, name="console", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------------------------ producers (any thread)

    def say(self, text: str) -> None:
        """A line of the stack's own (start-up, shutdown)."""
        self._queue.put(("say", text))

    def function_log(self, source: str, line: str, invoke_id: str | None = None, /) -> None:
        """A line a function wrote (the runner's log sink), during its invoke `invoke_id` if known."""
        self._queue.put(("log", source, line, invoke_id))

    def invoked(self, request_id: str, invoke_id: str) -> None:
        """A function is invoked (`invoke_id`, its context's request id) for an API request (the runner, on that
        request's thread, before the invoke: so this comes before any line the invoke writes)."""
        self._queue.put(("invoked", request_id, invoke_id))

    def request(
        self,
        request_id: str | None,
        method: str,
        path: str,
        status: int,
        elapsed_ms: float,
        account: str | None = None,
        endpoint: str | None = None,
        note: str | None = None,
    ) -> None:
        """The API answered a request (the local API Gateway's after-request hook): `account` is the authorizer's,
        `endpoint` the URL's id, `note` a line of the stack's own on the answer."""
        self._queue.put(("request", request_id, method, path, status, elapsed_ms, time.time(), account, endpoint, note))

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
            self._on_request(*item[1:])
        elif kind == "invoked":
            self._on_invoked(item[1], item[2])
        elif kind == "log":
            self._on_log(item[1], item[2], item[3])

    def _on_request(
        self,
        request_id: str | None,
        method: str,
        path: str,
        status: int,
        elapsed_ms: float,
        at: float,
        account: str | None,
        endpoint: str | None,
        note: str | None,
    ) -> None:
        clock = datetime.fromtimestamp(at).strftime("%H:%M:%S")
        method, path = printable(method), printable(path)
        header = f"{clock} {method} {path} {status} {elapsed_ms:.0f} ms"
        if self.json_logs or not request_id:
            if self.json_logs:
                said = [note.strip()] if note else []
                self._write([" ".join([f"{'api':>24} | {method} {path} {status} {elapsed_ms:.0f} ms", *said])])
            else:  # refused before any event was made (SAM CLI's 401 for a missing token): no function ran
                self._write([" ".join([header, *_who(endpoint, account)]), *_indented(note or "")])
            return
        pending = self._pending.setdefault(request_id, _Request(deadline=0.0))
        pending.header = header
        pending.status = status
        pending.account = pending.account or account
        pending.endpoint = pending.endpoint or endpoint
        pending.note = note or pending.note
        pending.deadline = time.monotonic() + self.linger

    def _on_invoked(self, request_id: str, invoke_id: str) -> None:
        if self.json_logs:  # the lines are printed as they come, under no request
            return
        self._invokes[invoke_id] = request_id
        pending = self._pending.get(request_id)
        if pending is None:
            # Its lines wait while the request runs; the API's answer sets the real deadline.
            pending = self._pending[request_id] = _Request(deadline=time.monotonic() + RUNNING_SECONDS)
        pending.invokes.append(invoke_id)

    def _forget(self, pending: _Request) -> None:
        for invoke_id in pending.invokes:
            self._invokes.pop(invoke_id, None)

    def _on_log(self, source: str, line: str, invoke_id: str | None) -> None:
        # A function's line may hold a handler's print: printed escaped (a record's text, once decoded, in `describe`).
        if self.json_logs:
            self._write([f"{source:>24} | {printable(line)}"])
            return
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        # The request of the invoke that wrote it (the worker's marker): the authorizer's event carries no request
        # id, and the runtime's plain-text report of an error names none.
        invoked_for = self._invokes.get(str(invoke_id))
        if not isinstance(record, dict):
            # Plain text: a function's own print, or the runtime's report of an error.
            pending = self._pending.get(invoked_for) if invoked_for else None
            if pending is None:
                self._write([f"{INDENT}{source} | {printable(line)}"])
            else:
                pending.lines.append(INDENT + printable(line))
            return
        request: dict[str, Any] = record["request"] if isinstance(record.get("request"), dict) else {}
        # What the record says of itself first (its invoke, its request), then the worker's marker.
        request_id = (
            self._invokes.get(str(record.get("function_request_id")))
            or record.get("correlation_id")
            or request.get("request_id")
            or invoked_for
        )
        if not request_id:
            if "_aws" in record:  # a metrics line with no request says nothing
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
            if request.get("refused"):  # the router's own refusal (a signature, a token), which it logs nowhere else
                pending.note = pending.note or f"INFO refused: {request['refused']}"
            return
        pending.endpoint = record.get("endpoint_id") or pending.endpoint
        pending.account = record.get("account") or pending.account
        pending.lines += describe(record)

    def _flush(self, force: bool = False) -> None:
        now = time.monotonic()
        # In the order they were answered (a request's invokes may have made its entry long before).
        for request_id, pending in sorted(self._pending.items(), key=lambda item: item[1].deadline):
            if not force and pending.deadline > now:
                continue
            del self._pending[request_id]
            self._forget(pending)
            header = pending.header or f"(request {request_id[:8]})"
            who = _who(pending.endpoint, pending.account)
            lines = _without_refusal_report(pending.lines) if pending.status == 401 else pending.lines
            self._write([" ".join([header, *who]), *lines, *_indented(pending.note or "")])
