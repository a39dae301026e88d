"""The local control plane (moto, the Lambda Invoke API) answers only processes of the stack's own user.

Handlers run on the same machine, so they could reach both over loopback: read or overwrite any table and
bucket, or invoke a function with a forged authorizer context. Credentials would not stop them (moto takes
any), and a private network namespace would cut them off from other hosts too. What does tell a handler apart
is its user: as root, the sandbox runs every handler's processes as an unprivileged uid. So each connection
is traced to the user that opened it (the kernel's socket table, /proc/net/tcp, names the owner of the
client's end of a loopback connection), and anyone but the stack's own user gets a 403. Handlers keep every
other network path, the local API Gateway included (they are callers like any other there).

Not root: handlers run as the stack's own user and this guard cannot tell them apart (see the README).
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Callable, Iterable
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
SOCKET_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
REFUSED = "the local control plane answers only the local stack's own processes"


def _address(hex_address: str) -> tuple[str, int]:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    # The kernel prints each 32-bit word of the address in host (little-endian) order.
    packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(packed)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address), int(port, 16)


# The kernel's table is read in pieces, and a piece may skip a socket when others come and go meanwhile:
# a connection not found is looked for again before it is refused.
LOOKUPS = 3


def connection_owner(client: tuple[str, int], server: tuple[str, int]) -> int | None:
    """The uid that owns the client's end of the TCP connection `client` -> `server`; None if none is found."""
    for _ in range(LOOKUPS):
        for table in SOCKET_TABLES:
            try:
                with open(table) as lines:
                    next(lines)  # the header
                    for line in lines:
                        fields = line.split()
                        if _address(fields[1]) == client and _address(fields[2]) == server:
                            return int(fields[7])
            except FileNotFoundError:
                continue
    return None


def owner_only(app: WsgiApp, uid: int | None = None, log: Callable[[str, str], None] | None = None) -> WsgiApp:
    """`app`, refusing (403) any connection not opened by a process of user `uid` (ours by default)."""
    allowed = os.geteuid() if uid is None else uid

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        client = (str(environ.get("REMOTE_ADDR")), int(environ.get("REMOTE_PORT") or 0))
        server = (str(environ.get("SERVER_NAME")), int(environ.get("SERVER_PORT") or 0))
        owner = connection_owner(client, server)
        if owner != allowed:
            if log is not None:
                log("guard", f"refused {environ.get('REQUEST_METHOD')} to port {server[1]} from uid {owner}")
            body = json.dumps({"error": REFUSED, "message": REFUSED}).encode()
            start_response("403 Forbidden", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        return app(environ, start_response)

    return guarded
