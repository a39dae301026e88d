"""What a sandboxed request may use: the numbers the sandbox, the zygote and the child agree on.

The byte limits it shares with the router are in `httpendpoint.core.limits`.
"""

from __future__ import annotations

# Per-child resource limits (setrlimit). Address space is virtual memory, so it is well above what a
# typical handler touches; the sandbox function's memory size (template.yaml) must leave room for it.
MEMORY_LIMIT_BYTES = 512 * 1024 * 1024
# All of a request's processes together, where a control group can hold them (under root; see cgroups.py).
REQUEST_MEMORY_LIMIT_BYTES = 640 * 1024 * 1024
OPEN_FILES_LIMIT = 64
FILE_SIZE_LIMIT_BYTES = 16 * 1024 * 1024
# All the bytes a request may keep in scratch space at once (its working directory, /tmp, /var/tmp, /dev/shm
# and every other world-writable directory together), and how many files and directories, where a private
# file system can hold them (under root; see mounts.fresh_scratch). Beyond it, writes fail with ENOSPC. On
# Lambda (no mounts) it caps what the request adds to /tmp's file system: checked while it runs, it is stopped
# once over (see scratch.ScratchUse).
SCRATCH_LIMIT_BYTES = 64 * 1024 * 1024
SCRATCH_FILES_LIMIT = 4096
# Counts every process and thread of the child's real user, so it bounds a fork bomb.
PROCESS_LIMIT = 32

# When the sandbox runs as root (local stack, CI) children run as `nobody`, or as the user (and group of the
# same number) in this environment variable: the local stack gives each account its own. On Lambda setuid is
# impossible: children run as the function's own user.
SANDBOX_UID = 65534
SANDBOX_GID = 65534
CHILD_UID_VARIABLE = "HTTPEP_CHILD_UID"

# Longest deadline a request may ask for (Lambda's own maximum function timeout).
MAX_TIMEOUT_SECONDS = 900.0
# The handler's deadline leaves this much of the function's own remaining time for the cleanup.
CLEANUP_RESERVE_SECONDS = 2.0
MIN_TIMEOUT_SECONDS = 0.1
