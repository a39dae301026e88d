"""The local stack as a handler author sees it: one readable console line per request, the handler's output
and traceback under it, and API Gateway's answer to methods the template does not declare."""

from __future__ import annotations

import concurrent.futures
import re
import subprocess
import sys
import time
import uuid

import pytest
import requests

from tests.support.repo import REPO_ROOT
from tests.support.stack import RunningStack

pytestmark = pytest.mark.e2e

HANDLERS = REPO_ROOT / "tests" / "handlers"
CLOCK = r"\d\d:\d\d:\d\d"


def register(stack: RunningStack, source: str) -> tuple[str, str]:
    """An endpoint running `source` (uploaded by `endpoint create --upload`); returns (its id, its account)."""
    account = "con-" + uuid.uuid4().hex[:8]
    endpoint_id = "c" + uuid.uuid4().hex[:10]
    script = stack.log_path.parent / f"{endpoint_id}.py"
    script.write_text(source)
    env = {**stack.env, "HTTPEP_TOKEN": stack.token(account), "HTTPEP_TARGET": "local"}
    args = ["endpoint", "create", endpoint_id, "--handler", f"/{account}/h.py", "--upload", str(script)]
    created = subprocess.run([sys.executable, "-m", "httpep", *args], env=env, capture_output=True, text=True)
    assert created.returncode == 0, created.stderr
    return endpoint_id, account


def console_after(stack: RunningStack, marker: str, timeout: float = 10.0) -> str:
    """The console from the line that contains `marker` on, once that line has been written."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = stack.logs()
        at = logs.find(marker)
        if at >= 0:
            time.sleep(0.3)  # the lines under it follow within the console's short wait
            logs = stack.logs()
            return logs[logs.rfind("\n", 0, at) + 1 :]
        time.sleep(0.1)
    raise AssertionError(f"no console line with {marker!r}:\n{stack.logs()[-3000:]}")


def test_one_readable_line_per_request_with_the_handler_output_and_traceback_under_it(stack: RunningStack) -> None:
    source = "def handler(request):\n    print('about to fail')\n    return 1 / 0\n"
    endpoint_id, account = register(stack, source)
    answer = requests.get(f"{stack.api_root}/u/{endpoint_id}", headers=stack.headers(account), timeout=60)
    assert answer.status_code == 500
    marker = f"GET /api/v1/http-endpoint/u/{endpoint_id} 500 "
    block = console_after(stack, marker).splitlines()
    assert re.fullmatch(rf"{CLOCK} {re.escape(marker)}\d+ ms endpoint={endpoint_id} account={account}", block[0])
    details = block[1 : block.index("    Traceback (most recent call last):") + 6]
    assert "    about to fail" in details
    assert "    ZeroDivisionError: division by zero" in block
    assert not any(line.lstrip().startswith("{") for line in block[:8])  # plain text, not JSON lines


def test_no_json_lines_and_no_interleaving_under_concurrent_requests(stack: RunningStack) -> None:
    endpoint_id, account = register(stack, "def handler(request):\n    print('line one')\n    return 'ok'\n")
    url = f"{stack.api_root}/u/{endpoint_id}"
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: requests.get(url, headers=stack.headers(account), timeout=60), range(12)))
    assert [a.status_code for a in answers] == [200] * 12
    time.sleep(1)
    lines = [line for line in stack.logs().splitlines() if f"/u/{endpoint_id} " in line]
    assert len(lines) == 12
    for line in lines:
        assert re.fullmatch(
            rf"{CLOCK} GET /api/v1/http-endpoint/u/{endpoint_id} 200 \d+ ms endpoint=\S+ account=\S+", line
        )
    assert '{"level"' not in stack.logs()


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS"])
@pytest.mark.parametrize("with_token", [True, False])
def test_methods_the_template_does_not_declare_get_api_gateways_403(
    stack: RunningStack, method: str, with_token: bool
) -> None:
    headers = stack.headers() if with_token else {}
    answer = requests.request(method, f"{stack.api_root}/u/anything", headers=headers, timeout=30)
    assert answer.status_code == 403
    if method != "HEAD":  # a HEAD answer has no body
        assert answer.json() == {"error": "Missing Authentication Token", "message": "Missing Authentication Token"}
    assert answer.headers["Content-Type"] == "application/json"


def blocks(logs: str) -> list[list[str]]:
    """The console's request blocks: a request's line, then the indented lines under it."""
    found: list[list[str]] = []
    for line in logs.splitlines():
        if re.match(rf"{CLOCK} ", line):
            found.append([line])
        elif found and line.startswith("    "):
            found[-1].append(line)
    return found


def block_after(stack: RunningStack, since: int, pattern: str) -> list[str]:
    """The last block written after `since` (a length of the console) whose line matches `pattern`."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        matching = [block for block in blocks(stack.logs()[since:]) if re.search(pattern, block[0])]
        if matching:
            time.sleep(0.3)  # the lines under it follow within the console's short wait
            return [block for block in blocks(stack.logs()[since:]) if re.search(pattern, block[0])][-1]
        time.sleep(0.1)
    raise AssertionError(f"no console line matching {pattern!r}:\n{stack.logs()[since:][-3000:]}")


def test_the_authorizer_s_line_goes_under_the_request_whose_authorizer_wrote_it(stack: RunningStack) -> None:
    """A trigger (no authorizer) and a management GET of the same account, back to back: the authorizer's
    "token accepted" goes under the GET, not under the trigger that finished first."""
    endpoint_id, account = register(stack, "def handler(request):\n    return 'ok'\n")
    headers = stack.headers(account)
    assert requests.get(f"{stack.api_root}/u/{endpoint_id}", headers=headers, timeout=60).status_code == 200
    time.sleep(1)
    assert requests.get(f"{stack.api_root}/list", headers=headers, timeout=60).status_code == 200
    time.sleep(1)
    since = len(stack.logs())
    assert requests.get(f"{stack.api_root}/u/{endpoint_id}", headers=headers, timeout=60).status_code == 200
    assert requests.get(f"{stack.api_root}/{endpoint_id}", headers=headers, timeout=60).status_code == 200
    got = block_after(stack, since, rf"GET /api/v1/http-endpoint/{endpoint_id} 200 ")
    triggered = block_after(stack, since, rf"GET /api/v1/http-endpoint/u/{endpoint_id} 200 ")
    assert got[0].endswith(f" ms endpoint={endpoint_id} account={account}")
    assert got[1:] == ["    INFO token accepted scope=manage"]
    assert not any("token accepted" in line for line in triggered)


def test_a_refused_token_s_request_has_its_verdict_under_it_and_no_raw_sam_cli_line(stack: RunningStack) -> None:
    account = "con-" + uuid.uuid4().hex[:8]
    created = stack.httpep(*stack.target, "token", "create", "--account", account, "--scope", "call")
    call_token = created.stdout.strip()
    since = len(stack.logs())
    refused = requests.get(f"{stack.api_root}/list", headers={"Authorization": f"Bearer {call_token}"}, timeout=60)
    assert refused.status_code == 403
    block = block_after(stack, since, rf"GET /api/v1/http-endpoint/list 403 \d+ ms account={account}")
    assert block[1:] == [
        "    INFO token accepted scope=call",
        "    INFO access denied: the token's policy does not allow this route",
    ]
    # Refused before any function ran, a route of one endpoint still names it.
    one = requests.get(f"{stack.api_root}/some-id", headers={"Authorization": f"Bearer {call_token}"}, timeout=60)
    assert one.status_code == 403
    block_after(stack, since, rf"GET /api/v1/http-endpoint/some-id 403 \d+ ms endpoint=some-id account={account}$")
    unknown = requests.get(f"{stack.api_root}/list", headers={"Authorization": "Bearer hep_unknown"}, timeout=60)
    assert unknown.status_code == 401
    block = block_after(stack, since, r"GET /api/v1/http-endpoint/list 401 ")
    # The verdict alone: not the runtime's report (a traceback) of the authorizer's Unauthorized after it.
    assert block[1:] == ["    INFO token rejected reason=unknown or revoked"]
    time.sleep(1.5)  # longer than a verdict no request claimed used to wait before it was printed on its own
    assert "Lambda authorizer failed" not in stack.logs()[since:]
    assert stack.logs()[since:].count("token accepted scope=call") == 2  # one under each of its two requests


def test_the_trigger_route_s_own_refusal_shows_its_reason_under_the_request(stack: RunningStack) -> None:
    """The router refuses an unknown token (or a webhook's bad signature) itself and logs nothing: the console
    shows the reason its answer gives."""
    endpoint_id, _ = register(stack, "def handler(request):\n    return 'ok'\n")
    since = len(stack.logs())
    url = f"{stack.api_root}/u/{endpoint_id}"
    refused = requests.get(url, headers={"Authorization": "Bearer hep_unknown"}, timeout=60)
    assert refused.status_code == 401
    block = block_after(stack, since, rf"GET /api/v1/http-endpoint/u/{endpoint_id} 401 ")
    assert block[1:] == [f"    INFO refused: {refused.json()['error']}"]
    assert "needs a valid token" in block[1]


def test_api_gateway_s_own_401_says_what_the_authorization_header_lacks(stack: RunningStack) -> None:
    """A missing or malformed Authorization header is refused before any function runs: the stack says why."""
    since = len(stack.logs())
    missing = requests.get(f"{stack.api_root}/list", timeout=60)
    assert missing.status_code == 401
    block = block_after(stack, since, r"GET /api/v1/http-endpoint/list 401 ")
    assert block[1:] == ["    INFO refused: no Authorization header (send Authorization: Bearer <token>)"]
    since = len(stack.logs())
    malformed = requests.get(f"{stack.api_root}/some-id", headers={"Authorization": "Basic YTpi"}, timeout=60)
    assert malformed.status_code == 401
    block = block_after(stack, since, r"GET /api/v1/http-endpoint/some-id 401 ")
    assert block[1:] == ["    INFO refused: the Authorization header is not of the form Bearer <token>"]
