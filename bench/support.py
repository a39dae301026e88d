"""Helpers shared by every part of the benchmark: progress lines, medians, quiet stdout, the seed's endpoint."""

from __future__ import annotations

import os
import socket
import statistics
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.repo import REPO_ROOT

BENCH_DIR = REPO_ROOT / "bench"
RESULTS_PATH = BENCH_DIR / "results.json"
# A run of some parts only (--only) must not replace the full run's figures, which the README shows.
PARTIAL_RESULTS_PATH = BENCH_DIR / "results-partial.json"

_STARTED = time.monotonic()
# The machine's speed at a moment: the CPU time a fixed piece of pure-Python work takes (about 4 ms on this
# project's 2-CPU machine at its fastest). On a shared virtual machine the same work takes twice as long or
# more when its neighbours are busy, and every figure measured meanwhile moves with it.
PROBE_LOOPS = 40_000


@dataclass(frozen=True)
class SeedEndpoint:
    """The seed document's example: hello.py at a drive path, registered as `my-endpoint-id` at `helloworld`."""

    endpoint_id: str = "my-endpoint-id"
    path: str = "helloworld"
    account: str = "jaydoe"
    drive_path: str = "/jaydoe/my_repo/fs/Instabase Drive/handlers/hello.py"
    local_file: Path = REPO_ROOT / "tests" / "handlers" / "hello.py"

    @property
    def trigger_path(self) -> str:
        return f"/api/v1/http-endpoint/u/{self.path}"

    def source(self) -> str:
        return self.local_file.read_text()


SEED = SeedEndpoint()


def progress(message: str) -> None:
    """One line on stderr, so stdout keeps nothing but the final table."""
    print(f"[bench {time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def micros(seconds: list[float]) -> float:
    return median(seconds) * 1e6


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def machine_probe_ms() -> float:
    """CPU time of this thread (not of the process: the bench's clients run on other threads) for a fixed piece
    of pure-Python work, in ms; lower is a faster machine."""
    started = time.thread_time()
    total = 0
    for n in range(PROBE_LOOPS):
        total = (total + n * n) % 1_000_003
    return (time.thread_time() - started) * 1000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """Send fd 1 to /dev/null: the functions log and print EMF metrics there on every call.

    The writes still happen (their cost is part of what is measured); only the terminal is spared.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


@contextmanager
def environment(values: Mapping[str, str], remove: tuple[str, ...] = ()) -> Iterator[None]:
    """Set (and remove) environment variables for the block, then put everything back."""
    saved = dict(os.environ)
    os.environ.update(values)
    for key in remove:
        os.environ.pop(key, None)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def stat_fields(pid: int) -> list[bytes]:
    """/proc/<pid>/stat after the command name (which may hold spaces or parentheses): the state is [0], the
    parent [1], minflt [7], cminflt [8], utime, stime, cutime and cstime [11:15] (proc(5)). OSError once the
    process is gone."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        return stat.read().rsplit(b")", 1)[1].split()
