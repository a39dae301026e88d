"""Byte limits the router and the sandbox share, and what a 503 asks of a client; each written once here.

The sandbox's own per-child limits (memory, files, processes) live in `httpendpoint.sandbox.limits`.
"""

from __future__ import annotations

# A synchronous Lambda invoke carries at most this many bytes each way (the payload in, the answer out).
INVOKE_LIMIT_BYTES = 6 * 1024 * 1024
# The whole answer of the sandbox, hence the handler's response, must fit one invoke; a larger body would
# fail in API Gateway with an opaque 502.
RESPONSE_LIMIT_BYTES = INVOKE_LIMIT_BYTES
# The router's payload to the sandbox holds the event (body base64-encoded) and the script; the request body
# limit is what fits beside them with room for the JSON around them.
SANDBOX_PAYLOAD_LIMIT_BYTES = INVOKE_LIMIT_BYTES - 64 * 1024

# The tail of the handler's stdout+stderr that the sandbox reports back.
LOG_LIMIT_BYTES = 64 * 1024
# Error messages and tracebacks are for logs; their size must never crowd out the answer.
ERROR_MESSAGE_LIMIT = 4 * 1024
TRACEBACK_LIMIT = 32 * 1024
# How much of a handler's output or traceback the router writes to its own log line.
LOGGED_OUTPUT_LIMIT = 8 * 1024

# A 503 (a dependency failed or throttled, or the endpoint is disabled) tells the client when to retry.
RETRY_AFTER_HEADER = "Retry-After"
RETRY_AFTER_SECONDS = "30"
