"""The README's "Receiving webhooks" set-ups, run verbatim on the local stack: GitHub, Shopify and Stripe."""

from __future__ import annotations

import json
import os
import secrets
import shutil

import pytest

from tests.e2e.test_readme_quickstart import README, Ran, json_values, run_in_one_shell, section, sh_blocks
from tests.support.repo import REPO_ROOT
from tests.support.stack import RunningStack, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.local_only]

SECRET = secrets.token_urlsafe(24)  # what a reader configured at the sender


@pytest.fixture(scope="module")
def ran(stack: Stack) -> Ran:
    assert isinstance(stack, RunningStack)
    assert shutil.which("openssl"), "the webhook set-ups sign with openssl"
    env = {key: value for key, value in os.environ.items() if not key.startswith("HTTPEP_")}
    env.update(
        PATH=f"{REPO_ROOT / '.venv' / 'bin'}:{env['PATH']}",
        HTTPEP_TARGET="local",
        HTTPEP_LOCAL_STATE=str(stack.state_path),
        HTTPEP_TOKEN=stack.token("jaydoe"),
        API_ROOT=stack.api_root,
        SECRET=SECRET,
    )
    return run_in_one_shell(sh_blocks(section(README.read_text(), "Receiving webhooks")), env)


def test_github_signed_ping_reaches_the_handler_and_a_forged_one_does_not(ran: Ran) -> None:
    stdout, stderr = ran.of("X-Hub-Signature-256")
    values, rest = json_values(stdout)
    assert values[:2] == [{"id": "github-hook"}, {"pong": True}]
    # The forged one: the service's 401 body, then the shell's note.
    assert len(values) == 3 and "signature" in str(values[2])
    assert "a forged delivery: httpep call exited with status 1" in rest
    assert "Error: 401" in stderr and "signature" in stderr


def test_shopify_base64_signature_is_accepted(ran: Ran) -> None:
    stdout, stderr = ran.of("X-Shopify-Hmac-Sha256")
    values, _ = json_values(stdout)
    assert values[0] == {"id": "shopify-hook"}
    assert values[1] == {"received": "unknown", "repository": None, "action": None}
    assert "Error" not in stderr


def test_stripe_is_checked_by_its_handler_with_the_secret_from_the_environment(ran: Ran) -> None:
    stdout, _ = ran.of("Stripe-Signature")
    values, _ = json_values(stdout)
    assert values == [{"id": "stripe-hook"}, {"received": "invoice.paid"}]


def test_the_secret_was_never_printed(ran: Ran) -> None:
    assert json.dumps(ran.stdout).count("pong") == 1
    for output in ran.stdout + ran.stderr:
        assert SECRET not in output
