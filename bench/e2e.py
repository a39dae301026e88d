"""Part 4: requests per second over HTTP on loopback, the local stack against a plain Flask app serving the same
handler (werkzeug's threaded server in its own process, as the stack's API runs in its own process)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests

from bench.stack import SeededStack
from bench.support import SEED, free_port, machine_probe_ms, progress, ratio, stat_fields

CLIENTS = 8
# While the clients run, the machine's speed is probed this often (machine_probe_ms: about 5 ms of the main
# thread's CPU each time, so about 2% of this process's interpreter, which the clients share).
PROBE_EVERY_SECONDS = 0.25
WARMUP_SECONDS_MAX = 60.0
WARMUP_REQUESTS_PER_CLIENT = 3

PLAIN_FLASK_SERVER = """
import logging, sys
import flask
from werkzeug.serving import WSGIRequestHandler, make_server

# As the local stack's API: keep-alive, and no line on stderr per request.
WSGIRequestHandler.protocol_version = "HTTP/1.1"
logging.getLogger("werkzeug").setLevel(logging.ERROR)
script, port = sys.argv[1], int(sys.argv[2])
namespace = {"__name__": "hello"}
exec(compile(open(script).read(), script, "exec"), namespace)
app = flask.Flask("plain")
app.add_url_rule(
    "/api/v1/http-endpoint/u/<path>", "trigger", lambda path: namespace["handler"](flask.request),
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
)
server = make_server("127.0.0.1", port, app, threaded=True)
print("ready", flush=True)
server.serve_forever()
"""


@dataclass
class Load:
    ok: int
    errors: int
    seconds: float
    probes_ms: list[float]  # the machine's speed while the clients ran (machine_probe_ms)

    @property
    def rps(self) -> float:
        return self.ok / self.seconds


def hammer(url: str, headers: dict[str, str], clients: int, seconds: float) -> Load:
    """`clients` threads, each with its own keep-alive session, calling `url` until the time is up; meanwhile
    this thread probes the machine's speed."""
    start = threading.Barrier(clients + 1)
    counts = [[0, 0] for _ in range(clients)]
    deadline = [0.0]

    def client(slot: list[int]) -> None:
        with requests.Session() as session:
            start.wait()
            while True:
                try:
                    answer = session.get(url, headers=headers, timeout=30)
                    good = answer.status_code == 200 and answer.content == b"Hello World"
                except requests.RequestException:
                    good = False
                if time.monotonic() > deadline[0]:
                    return  # finished after the bell: not counted
                slot[0 if good else 1] += 1

    threads = [threading.Thread(target=client, args=(slot,), daemon=True) for slot in counts]
    for thread in threads:
        thread.start()
    deadline[0] = time.monotonic() + seconds
    start.wait()
    probes: list[float] = []
    while time.monotonic() < deadline[0]:
        probes.append(machine_probe_ms())
        time.sleep(PROBE_EVERY_SECONDS)
    for thread in threads:
        thread.join(timeout=seconds + 60)
    return Load(sum(ok for ok, _ in counts), sum(bad for _, bad in counts), seconds, probes)


def one_client(url: str, headers: dict[str, str], seconds: float) -> list[float]:
    """One keep-alive client calling `url` back to back: each good answer's time, in ms."""
    times: list[float] = []
    deadline = time.monotonic() + seconds
    with requests.Session() as session:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            answer = session.get(url, headers=headers, timeout=30)
            if answer.status_code == 200 and answer.content == b"Hello World":
                times.append((time.perf_counter() - started) * 1000)
    return times


def tree_cpu_seconds(root: int) -> float:
    """CPU time (user + system, with that of its reaped children) of process `root` and every process below it:
    what the stack itself spent. Processes that ended meanwhile count through their parent (the stack reaps its
    workers, a zygote its children)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(stat_fields(int(entry))[1])
            except (OSError, IndexError, ValueError):
                continue  # ended while we looked
            children.setdefault(parent, []).append(int(entry))
    ticks, pending = 0, [root]
    while pending:
        pid = pending.pop()
        pending += children.get(pid, [])
        try:
            fields = stat_fields(pid)
        except OSError:
            continue
        ticks += sum(int(field) for field in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def warm_up(url: str, headers: dict[str, str], clients: int) -> None:
    """Until every client has had a few answers: the stack starts a worker per concurrent request (as Lambda
    scales out), and each new worker is a cold start that must not be counted."""
    started = time.monotonic()
    while time.monotonic() - started < WARMUP_SECONDS_MAX:
        load = hammer(url, headers, clients, 2.0)
        if load.ok >= clients * WARMUP_REQUESTS_PER_CLIENT and not load.errors:
            return


@dataclass
class E2eResult:
    clients: int
    seconds: float
    ours: Load
    plain: Load
    one_client_ms: list[float]
    plain_one_client_ms: list[float]
    cpu_seconds: float  # the stack's processes during the 8 clients' run
    one_client_cpu_seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "e2e_clients": self.clients,
            "e2e_seconds": self.seconds,
            "e2e_rps": self.ours.rps,
            "e2e_errors": self.ours.errors,
            "e2e_plain_flask_rps": self.plain.rps,
            "e2e_plain_flask_errors": self.plain.errors,
            "e2e_rps_ratio": ratio(self.ours.rps, self.plain.rps),
            "e2e_one_client_ms_median": _median(self.one_client_ms),
            "e2e_one_client_calls": len(self.one_client_ms),
            "e2e_plain_flask_one_client_ms_median": _median(self.plain_one_client_ms),
            "e2e_cpu_ms_per_request": ratio(self.cpu_seconds * 1000, self.ours.ok + self.ours.errors),
            "e2e_one_client_cpu_ms_per_request": ratio(self.one_client_cpu_seconds * 1000, len(self.one_client_ms)),
            "e2e_machine_probe_ms_median": _median(self.ours.probes_ms),
        }


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def measure_e2e(seeded: SeededStack, seconds: float) -> E2eResult:
    progress(f"part 4: warming the local stack up with {CLIENTS} concurrent clients")
    warm_up(seeded.url, seeded.headers, CLIENTS)
    progress(f"part 4: {CLIENTS} clients for {seconds:g} s against the local stack")
    stack_pid = seeded.stack.process.pid
    cpu_before = tree_cpu_seconds(stack_pid)
    ours = hammer(seeded.url, seeded.headers, CLIENTS, seconds)
    cpu_between = tree_cpu_seconds(stack_pid)
    progress(f"part 4: one client for {seconds / 2:g} s against the local stack")
    ours_one = one_client(seeded.url, seeded.headers, seconds / 2)
    cpu_after = tree_cpu_seconds(stack_pid)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", PLAIN_FLASK_SERVER, str(SEED.local_file), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != b"ready":
            raise RuntimeError("the plain Flask server did not start")
        url = f"http://127.0.0.1:{port}{SEED.trigger_path}"
        hammer(url, seeded.headers, CLIENTS, 1.0)
        progress(f"part 4: {CLIENTS} clients for {seconds:g} s against a plain Flask app")
        plain = hammer(url, seeded.headers, CLIENTS, seconds)
        plain_one = one_client(url, seeded.headers, seconds / 2)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return E2eResult(
        CLIENTS, seconds, ours, plain, ours_one, plain_one, cpu_between - cpu_before, cpu_after - cpu_between
    )
