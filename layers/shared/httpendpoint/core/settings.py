"""Names and limits, read from the environment the template sets (never written here a second time)."""

from __future__ import annotations

import os


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"environment variable {name} is not set (it comes from template.yaml)")
    return value


def endpoints_table() -> str:
    return _required("ENDPOINTS_TABLE")


def tokens_table() -> str:
    return _required("TOKENS_TABLE")


def script_bucket() -> str:
    return _required("SCRIPT_BUCKET")


def sandbox_function() -> str:
    return _required("SANDBOX_FUNCTION")


def endpoint_timeout() -> float:
    return float(os.environ.get("ENDPOINT_TIMEOUT", "10"))


def max_endpoints_per_account() -> int:
    return int(os.environ.get("MAX_ENDPOINTS_PER_ACCOUNT", "1000"))


def max_script_bytes() -> int:
    return int(os.environ.get("MAX_SCRIPT_BYTES", "262144"))


def api_base_path() -> str:
    """The path a function's routes hang under (`/api/v1/http-endpoint`); its resolver strips it before routing."""
    return _required("API_BASE_PATH")


def invocations_table() -> str:
    return _required("INVOCATIONS_TABLE")


def invocation_history() -> bool:
    """Whether the router records each trigger (the template's `InvocationHistory`: `on` or `off`)."""
    return os.environ.get("INVOCATION_HISTORY", "on") == "on"


def invocation_retention_days() -> int:
    return int(os.environ.get("INVOCATION_RETENTION_DAYS", "7"))
