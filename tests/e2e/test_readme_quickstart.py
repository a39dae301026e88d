"""The README's quick start, run verbatim: its ```sh blocks, in order, in one bash, as a reader would.

The section has two parts. "Terminal 1" holds `make dev` alone; the fixture below starts that same stack
on free ports instead. "Terminal 2" holds everything else, run in one shell (its blocks share variables, as
in a terminal) with nothing substituted and no port set: `httpep` finds the stack through the state file it
writes (the fixture's stack writes it to a file of its own, named by HTTPEP_LOCAL_STATE).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.repo import REPO_ROOT
from tests.support.stack import RunningStack, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.local_only]  # the quick start runs the local stack

README = REPO_ROOT / "README.md"
SECTION = "Quick start"
TERMINAL_1 = "Terminal 1: the stack"
TERMINAL_2 = "Terminal 2: everything else"
MARKER = "@@quick start block {}@@"
HELLO = "/jaydoe/my_repo/fs/Instabase Drive/handlers/hello.py"


def section(markdown: str, title: str, level: str = "##") -> str:
    match = re.search(rf"^{level} {re.escape(title)}\n(.*?)(?=^{level} |\Z)", markdown, flags=re.M | re.S)
    assert match is not None, f"README.md has no '{level} {title}' section"
    return match.group(1)


def sh_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", markdown, flags=re.M | re.S)


def quick_start_blocks() -> tuple[list[str], list[str]]:
    quick_start = section(README.read_text(), SECTION)
    return sh_blocks(section(quick_start, TERMINAL_1, "###")), sh_blocks(section(quick_start, TERMINAL_2, "###"))


@dataclass
class Ran:
    blocks: list[str]
    stdout: list[str]
    stderr: list[str]

    def all_of(self, command: str) -> list[tuple[str, str]]:
        """stdout and stderr of every block that contains `command`, in order."""
        return [(self.stdout[n], self.stderr[n]) for n, block in enumerate(self.blocks) if command in block]

    def of(self, command: str) -> tuple[str, str]:
        """stdout and stderr of the one block that contains `command`."""
        found = self.all_of(command)
        assert len(found) == 1, f"{len(found)} quick start blocks contain {command!r}"
        return found[0]


def json_values(text: str) -> tuple[list[object], str]:
    """The JSON values at the start of `text`, one after another (a body need not end in a newline), and the rest."""
    decoder = json.JSONDecoder()
    values: list[object] = []
    rest = text.lstrip()
    while rest[:1] in ("{", "["):
        value, end = decoder.raw_decode(rest)
        values.append(value)
        rest = rest[end:].lstrip()
    return values, rest


def run_in_one_shell(blocks: list[str], env: dict[str, str]) -> Ran:
    """All blocks in one bash, stopping at the first failing command; output split per block by markers."""
    script = ["set -euo pipefail"]
    for number, block in enumerate(blocks):
        marker = MARKER.format(number)
        script += [f"printf '\\n{marker}\\n'; printf '\\n{marker}\\n' >&2", block]
    script.append(f"printf '\\n{MARKER.format('end')}\\n'")
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    split = re.compile(r"\n" + re.escape(MARKER).replace(r"\{\}", r"(?:\d+|end)") + r"\n")
    stdout, stderr = split.split(result.stdout)[1:], split.split(result.stderr)[1:]
    assert result.returncode == 0 and len(stdout) == len(blocks) + 1, (
        f"quick start block {len(stdout) - 1} failed with status {result.returncode}:\n"
        f"{blocks[len(stdout) - 1] if 0 < len(stdout) <= len(blocks) else ''}\n"
        f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    )
    return Ran(blocks, stdout[: len(blocks)], stderr + [""] * (len(blocks) - len(stderr)))


@pytest.fixture(scope="module")
def fresh_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """What `make dev` starts on a fresh clone: the template's defaults and nothing in it yet.

    Not the session's shared stack: the quick start claims the seed's globally unique path `helloworld` and
    lists everything of `jaydoe`, both of which other e2e tests use too.
    """
    running = start_stack(tmp_path_factory.mktemp("quickstart"), {})
    yield running
    running.process.terminate()
    running.process.wait(timeout=20)


@pytest.fixture(scope="module")
def ran(fresh_stack: RunningStack) -> Ran:
    assert shutil.which("curl"), "the quick start uses curl"
    assert (REPO_ROOT / ".venv" / "bin" / "httpep").exists(), "the quick start uses the .venv that make creates"
    env = {key: value for key, value in os.environ.items() if not key.startswith("HTTPEP_")}
    env = {key: value for key, value in env.items() if key not in ("PORT", "AWS_PORT", "LAMBDA_PORT")}
    env["HTTPEP_LOCAL_STATE"] = str(fresh_stack.state_path)
    _, terminal_2 = quick_start_blocks()
    return run_in_one_shell(terminal_2, env)


def test_terminal_1_is_make_dev_alone() -> None:
    """The one part not run here (the fixture starts the stack), so it must hold nothing else."""
    terminal_1, terminal_2 = quick_start_blocks()
    assert terminal_1 == ["make dev\n"]
    assert len(terminal_2) >= 10
    assert not any("make dev" in block for block in terminal_2)


def test_terminal_2_needs_no_port_and_names_the_target_once() -> None:
    _, terminal_2 = quick_start_blocks()
    script = "".join(terminal_2)
    assert "PORT" not in script and "4566" not in script and "3000" not in script
    assert "--local" not in script
    assert script.count("HTTPEP_TARGET=local") == 1


def test_every_command_succeeds_in_order(ran: Ran) -> None:
    assert len(ran.stdout) == len(ran.blocks)
    for block, stderr in zip(ran.blocks, ran.stderr, strict=True):
        assert "Traceback" not in stderr, block


def test_the_token_and_the_upload_over_http_with_only_the_token(ran: Ran) -> None:
    assert ran.of("token create --account jaydoe") == ("", "")
    (block,) = [block for block in ran.blocks if "-T examples/hello.py" in block]
    # The tenant's own step: the files API, the token and nothing else (no operator command, no AWS).
    assert "httpep" not in block and "$HTTPEP_TOKEN" in block and "$FILES_ROOT/" in block
    saved = json.loads(ran.of("-T examples/hello.py")[0])
    assert saved["path"] == HELLO
    assert saved["size"] == len((REPO_ROOT / "examples" / "hello.py").read_bytes())
    assert saved["endpoints"] == {"updated": [], "kept": []}


def test_create(ran: Ran, fresh_stack: RunningStack) -> None:
    stdout, stderr = ran.of("endpoint create hello")
    assert json.loads(stdout) == {"id": "hello"}
    assert stderr == f"serving {fresh_stack.api_root}/u/helloworld\n"
    stdout, _ = ran.of("-X PUT")
    assert json.loads(stdout) == {"id": "hello-curl"}


def test_call_prints_hello_world(ran: Ran) -> None:
    assert ran.of("call helloworld\n") == ("Hello World", "")
    assert ran.of(r'''curl -s -w '\n' "$API_ROOT/u/hellocurl"''')[0] == "Hello World\n"


def test_list_shows_both_endpoints(ran: Ran) -> None:
    (table, stderr), _after_the_deletes = ran.all_of("httpep endpoint list")
    # The drive path holds spaces: it lies between the auth mode and the pinned version.
    rows = [
        [*line.split(maxsplit=4)[:4], *line.split(maxsplit=4)[4].rsplit(maxsplit=1)] for line in table.splitlines()[2:]
    ]
    versions = {row[0]: row.pop() for row in rows}
    assert rows == [
        ["hello", "helloworld", "ENABLED", "bearer", HELLO],
        ["hello-curl", "hellocurl", "ENABLED", "bearer", HELLO],
    ]
    assert versions["hello"] == versions["hello-curl"] != ""  # both pinned to the one version saved in step 2
    assert stderr == "2 endpoints\n"
    listed = json.loads(ran.of('"$API_ROOT/list"')[0])
    assert [item["id"] for item in listed["endpoints"]] == ["hello", "hello-curl"]
    assert listed["next_offset"] is None


def test_a_disabled_endpoint_answers_503_with_retry_after(ran: Ran) -> None:
    stdout, stderr = ran.of("update hello --disable")
    assert json_values(stdout) == (
        [{"id": "hello"}, {"error": "endpoint 'hello' is disabled"}],
        "httpep call exited with status 1\n",
    )
    head = stderr.splitlines()
    assert head[0].startswith("HTTP/1.1 503 ") and "Retry-After: 30" in head
    assert head[-1] == "Error: 503 endpoint 'hello' is disabled"

    values, response = json_values(ran.of('{"enabled": false}')[0])
    assert values == [{"id": "hello-curl"}]
    assert response.startswith("HTTP/1.1 503 ") and "Retry-After: 30" in response
    assert response.rstrip().endswith('{"error": "endpoint \'hello-curl\' is disabled"}')


def test_delete_leaves_nothing(ran: Ran) -> None:
    assert json.loads(ran.of("endpoint delete hello")[0]) == {"id": "hello"}
    assert json.loads(ran.of("-X DELETE")[0]) == {"id": "hello-curl"}
    assert ran.blocks[-1] == "httpep endpoint list\n"
    assert (ran.stdout[-1], ran.stderr[-1]) == ("", "no endpoints\n")
