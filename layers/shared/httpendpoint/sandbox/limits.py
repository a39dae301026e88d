"""What a sandboxed request may use: the numbers the sandbox, the zygote and the child agree on.

The byte limits it shares with the router are in `httpendpoint.core.limits`.
"""

from __future__ import annotations

# Per-child resource limits (setrlimit). Address space is virtual memory, so it is well above what a
# typical handler touches; the sandbox function's memory size (template.yaml) must leave room for it.
MEMORY_LIMIT_BYTES = 512 * 1024 * 1024
OPEN_FILES_LIMIT = 64
FILE_SIZE_LIMIT_BYTES = 16 * 1024 * 1024
# Counts every process and thread of the child's real user, so it bounds a fork bomb.
PROCESS_LIMIT = 32

# When the sandbox runs as root (local stack, CI) children run as `nobody`; on Lambda setuid is impossible.
SANDBOX_UID = 65534
SANDBOX_GID = 65534

# Longest deadline a request may ask for (Lambda's own maximum function timeout).
MAX_TIMEOUT_SECONDS = 900.0
