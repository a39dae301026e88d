"""The local stack's defaults, written once: ports, host, region, names, fake credentials, base path, state file.

`httpep serve`, the runner, the targets and the tests all read them from here.
"""

from __future__ import annotations

HOST = "127.0.0.1"
API_PORT = 3000
AWS_PORT = 4566
LAMBDA_PORT = 3001

REGION = "us-east-1"
STACK_NAME = "httpep-local"
# The template's API paths all start with this; the README's examples and error hints name it too.
API_BASE_PATH = "/api/v1/http-endpoint"

# moto accepts any credentials; these are the ones the local stack's functions and clients present.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}

TEMPLATE_NAME = "template.yaml"
# `httpep serve` writes its ports here, in the checkout (next to the template), and removes the file on exit;
# every `--local` command reads it. HTTPEP_LOCAL_STATE names another file (tests run several stacks at once).
STATE_FILE = ".httpep/local.json"
STATE_FILE_ENV = "HTTPEP_LOCAL_STATE"


def boto3_credentials() -> dict[str, str]:
    """The fake credentials as boto3.client keyword arguments."""
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "aws_session_token": CREDENTIALS["AWS_SESSION_TOKEN"],
    }


# The variable through which the runner tells a function's workers where the stack's socket is (channel.py).
STACK_CHANNEL_VARIABLE = "HTTPEP_LOCAL_STACK_SOCKET"
# A worker writes this, then the invoke's request id, as a line of its own on stderr as each invoke starts: the
# lines after it, up to the next, are that invoke's (stderr is read as written, so the order holds under load).
INVOKE_MARKER = "\x1ehttpep-invoke "
# How a worker's plain-text report of an invoke's uncaught error begins, as Lambda's Python runtime writes it:
# `[ERROR] Type: message`, then the traceback, whose last line is `module.Type: message`.
ERROR_REPORT_PREFIX = "[ERROR] "
# API Gateway's contract: a TOKEN authorizer's error with exactly this message is a 401, not a fault.
AUTHORIZER_REFUSAL = "Unauthorized"
