"""What passes between the sandbox and its child: the request bytes, and the one outcome both may build."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from httpendpoint.core.limits import RESPONSE_LIMIT_BYTES


def pack_request(
    code: bytes, script: str, script_path: str, event: dict[str, Any], secrets: Mapping[str, str] | None = None
) -> bytes:
    """The bytes a child reads: the length of its marshalled code, the code, then the rest as JSON.

    `secrets` become the child's environment variables; they travel only in these bytes, which the child
    alone reads (never the zygote).
    """
    fields = {"script": script, "script_path": script_path, "event": event, "secrets": dict(secrets or {})}
    job = json.dumps(fields).encode()
    return len(code).to_bytes(8, "big") + code + job


def unpack_request(request: bytes) -> tuple[bytes, dict[str, Any]]:
    size = int.from_bytes(request[:8], "big")
    return request[8 : 8 + size], dict(json.loads(request[8 + size :]))


def too_large(size: int) -> dict[str, Any]:
    error = f"ResponseTooLarge: the handler's response is {size} bytes; the limit is {RESPONSE_LIMIT_BYTES}"
    return {"outcome": "error", "error": error, "traceback": ""}
