"""An endpoint's secrets: environment variables of the request's own child, and of nothing else."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator

import pytest

from httpendpoint.sandbox import function
from httpendpoint.sandbox.zygote_client import pool
from tests.support.events import api_event
from tests.support.sandbox import SCRIPT_PATH, TIMEOUT, leftovers, text_of

pytestmark = pytest.mark.serial

SECRETS = {"WEBHOOK_SECRET": "s3cr3t-webhook-value", "API_KEY": "k-0123456789abcdef"}

LOOK = """
    import json
    import os

    def handler(request):
        zygote = os.getppid()
        with open(f"/proc/{zygote}/cmdline", "rb") as f:
            cmdline = f.read().decode(errors="replace")
        try:
            with open(f"/proc/{zygote}/environ", "rb") as f:
                zygote_environ = f.read().decode(errors="replace")
        except OSError as exc:
            zygote_environ = type(exc).__name__
        return json.dumps({
            "mine": {name: os.environ.get(name) for name in ("WEBHOOK_SECRET", "API_KEY")},
            "zygote_cmdline": cmdline,
            "zygote_environ": zygote_environ,
        })
"""


@pytest.fixture(autouse=True)
def nothing_left_behind() -> Iterator[None]:
    yield
    assert leftovers() == {}


def run(script: str, secrets: dict[str, str] | None = None) -> dict[str, object]:
    payload: dict[str, object] = {
        "script": textwrap.dedent(script),
        "script_path": SCRIPT_PATH,
        "event": api_event("router"),
        "timeout": TIMEOUT,
    }
    if secrets is not None:
        payload["secrets"] = secrets
    return function.run(payload)


def test_secrets_are_the_handlers_environment_variables() -> None:
    seen = json.loads(text_of(run(LOOK, SECRETS)))
    assert seen["mine"] == SECRETS


def test_secrets_are_not_in_the_zygote_nor_in_the_next_request() -> None:
    seen = json.loads(text_of(run(LOOK, SECRETS)))
    for value in SECRETS.values():
        assert value not in seen["zygote_cmdline"]
        assert value not in seen["zygote_environ"]
    # The next request of the same account (same zygote, no secrets given) finds none of them.
    after = json.loads(text_of(run(LOOK)))
    assert after["mine"] == {"WEBHOOK_SECRET": None, "API_KEY": None}
    for pid in pool.idle_pids():
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            assert not any(value.encode() in cmdline.read() for value in SECRETS.values())


def test_malformed_secrets_are_refused_as_a_router_bug() -> None:
    for secrets in ([["A", "b"]], {"A": 1}):
        with pytest.raises(function.SandboxInputError, match="secrets"):
            function.run(
                {
                    "script": "def handler(r):\n    return 'x'\n",
                    "script_path": SCRIPT_PATH,
                    "event": api_event("router"),
                    "secrets": secrets,
                }
            )
