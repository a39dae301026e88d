"""One account per sandbox worker on the local stack, as PER_TENANT gives on AWS, and a uid per account."""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from httpendpoint.sandbox.limits import CHILD_UID_VARIABLE
from httpep.local.runner import CHILD_UID_BASE, CHILD_UID_COUNT
from tests.e2e.test_router_e2e import register
from tests.support.stack import RunningStack

pytestmark = [pytest.mark.e2e, pytest.mark.local_only]  # it attacks the local stack itself
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="accounts get uids of their own only under root")

HELLO = "def handler(request):\n    return 'hello'\n"
SLEEPER = "import time\n\ndef handler(request):\n    time.sleep(6)\n    return 'slept'\n"
# Signal 0 checks the permission to signal without delivering anything.
SIGNALLER = """
import json
import os

def handler(request):
    found = {"signalled": [], "denied": [], "gone": []}
    for pid in map(int, request.args.getlist("pid")):
        try:
            os.kill(pid, 0)
            found["signalled"].append(pid)
        except PermissionError:
            found["denied"].append(pid)
        except ProcessLookupError:
            found["gone"].append(pid)
    return json.dumps(found)
"""


def descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def environment(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def uid_of(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def sandbox_child_uids(stack: RunningStack) -> list[int]:
    """HTTPEP_CHILD_UID of each sandbox worker of this stack (a worker is a direct child of the stack)."""
    uids = []
    for pid in descendants(stack.process.pid):
        env = environment(pid)
        if env.get("AWS_LAMBDA_FUNCTION_NAME") == "SandboxFunction" and "HTTPEP_CHILD_UID" in env:
            uids.append(int(env[CHILD_UID_VARIABLE]))
    return uids


def trigger(stack: RunningStack, path: str, account: str, **params: str | list[int]) -> requests.Response:
    return requests.get(f"{stack.api_root}/u/{path}", params=params, headers=stack.headers(account), timeout=60)


@as_root
def test_each_account_gets_a_worker_of_its_own_with_its_own_child_uid(stack: RunningStack, tmp_path: Path) -> None:
    accounts = [f"tenant-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    before = set(sandbox_child_uids(stack))
    for account in accounts:
        path = register(stack, tmp_path, HELLO, account=account)
        assert trigger(stack, path, account).text == "hello"
    new = set(sandbox_child_uids(stack)) - before
    assert len(new) == 2, (before, sandbox_child_uids(stack))
    assert all(CHILD_UID_BASE <= uid < CHILD_UID_BASE + CHILD_UID_COUNT for uid in new)


def test_an_invoke_of_the_sandbox_without_a_tenant_id_is_refused(stack: RunningStack) -> None:
    # Through the Invoke API as the stack's own user (the guard lets it in): the tenancy check answers.
    response = requests.post(
        f"http://127.0.0.1:{stack.lambda_port}/2015-03-31/functions/SandboxFunction/invocations", json={}, timeout=60
    )
    assert response.status_code == 400
    assert "tenant" in response.text.lower()


@as_root
def test_children_of_different_accounts_cannot_signal_each_other(patient_stack: RunningStack, tmp_path: Path) -> None:
    stack = patient_stack
    victim, attacker = (f"tenant-{uuid.uuid4().hex[:8]}" for _ in range(2))
    sleeper = register(stack, tmp_path, SLEEPER, account=victim)
    signaller = register(stack, tmp_path, SIGNALLER, account=attacker)
    # Two requests at once: the attacker's sandbox worker and two router workers are warm, so the attack
    # below starts at once while the victim's request is in flight.
    warm_up = [threading.Thread(target=trigger, args=(stack, signaller, attacker)) for _ in range(2)]
    for thread in warm_up:
        thread.start()
    for thread in warm_up:
        thread.join()
    before = set(descendants(stack.process.pid))
    answers: list[requests.Response] = []
    in_flight = threading.Thread(target=lambda: answers.append(trigger(stack, sleeper, victim)))
    in_flight.start()
    deadline = time.monotonic() + 10
    targets: list[int] = []
    seen_once: set[int] = set()
    while not targets and time.monotonic() < deadline:
        time.sleep(0.2)
        # The victim's child: a new process of the stack, not root, there in two scans in a row.
        current = {pid for pid in set(descendants(stack.process.pid)) - before if uid_of(pid) not in (None, 0)}
        targets, seen_once = sorted(current & seen_once), current
    assert targets, "the victim's child never showed up"
    seen = trigger(stack, signaller, attacker, pid=targets).json()
    in_flight.join()
    assert answers[0].text == "slept"
    assert seen["denied"], seen  # the victim's child was there to be signalled
    assert seen["signalled"] == []
