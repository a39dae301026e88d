"""The local control plane (moto, the Lambda Invoke API) answers only processes of the stack's own user.

Handlers run on the same machine, so they could reach both over loopback: read or overwrite any table and
bucket, or invoke a function with a forged authorizer context. Credentials would not stop them (moto takes
any), and a private network namespace would cut them off from other hosts too. What does tell a handler apart
is its user: as root, the sandbox runs every handler's processes as an unprivileged uid. So each connection
is traced to the user that opened it (the kernel's socket diagnostics, or its table /proc/net/tcp, name the owner
of the client's end of a loopback connection, and whether a process still holds it), and anyone but the stack's
own user gets a 403. Handlers keep every
other network path, the local API Gateway included (they are callers like any other there).

Not root: handlers run as the stack's own user and this guard cannot tell them apart (see the README).
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import socket
import struct
import sys
import weakref
from collections.abc import Callable, Iterable
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
SOCKET_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
REFUSED = "the local control plane answers only the local stack's own processes"


# The kernel's socket diagnostics over netlink (linux/sock_diag.h, linux/inet_diag.h): one exact lookup of a
# connection by its addresses, where /proc/net/tcp walks the whole connection hash table (milliseconds per read
# on a large machine, on every request).
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 1
NLMSG_ERROR = 2
NLMSG_HEADER = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
# inet_diag_req_v2: family, protocol, extensions, pad, states; then inet_diag_sockid: ports (big-endian),
# source and destination addresses (16 bytes each), interface, cookie (both words ~0: "any").
DIAG_REQUEST = struct.Struct("=BBBxI")
SOCKET_ID = struct.Struct("!HH16s16s")
SOCKET_ID_TAIL = struct.Struct("=III")
NO_COOKIE = 0xFFFFFFFF
# inet_diag_msg: family, state, timer, retransmits, the socket id (48 bytes), expires, queues, uid, inode.
DIAG_MESSAGE = struct.Struct("=BBBB48sIIIII")
TCP_LISTEN = 10
ALL_STATES = 0xFFFFFFFF


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    address = ipaddress.ip_address(host)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _diag_owner(client: tuple[str, int], server: tuple[str, int]) -> int | None:
    """The owner of the client's end as the kernel's socket diagnostics report it (None: no such socket, or no
    process holds it any more). Raises OSError where the kernel offers no socket diagnostics."""
    source, destination = _address(client[0]), _address(server[0])
    if source.version != destination.version:
        return None
    family = socket.AF_INET if source.version == 4 else socket.AF_INET6
    request = DIAG_REQUEST.pack(family, socket.IPPROTO_TCP, 0, ALL_STATES)
    request += SOCKET_ID.pack(client[1], server[1], source.packed, destination.packed)
    request += SOCKET_ID_TAIL.pack(0, NO_COOKIE, NO_COOKIE)
    message = NLMSG_HEADER.pack(NLMSG_HEADER.size + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, 1, 0)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as diag:
        diag.sendto(message + request, (0, 0))
        answer = diag.recv(65536)
    _, kind, _, _, _ = NLMSG_HEADER.unpack_from(answer)
    if kind == NLMSG_ERROR:
        (error,) = struct.unpack_from("=i", answer, NLMSG_HEADER.size)
        if error == -errno.ENOENT:
            return None
        raise OSError(-error, os.strerror(-error))
    _, state, _, _, found, _, _, _, uid, inode = DIAG_MESSAGE.unpack_from(answer, NLMSG_HEADER.size)
    ports = SOCKET_ID.unpack_from(found)[:2]
    # A lookup by address also finds a listener on the client's port: only the connection itself counts.
    if state == TCP_LISTEN or ports != (client[1], server[1]) or inode == 0:
        return None
    return int(uid)


def _kernel_forms(host: str, port: int) -> list[str]:
    """How /proc/net/tcp prints `host:port`: each 32-bit word of the address as a host-order number in hex, then
    the port. An IPv4 address also appears IPv4-mapped in the IPv6 table."""
    address = _address(host)
    addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [address]
    if isinstance(address, ipaddress.IPv4Address):
        addresses.append(ipaddress.IPv6Address(b"\0" * 10 + b"\xff" * 2 + address.packed))
    forms = []
    for each in addresses:
        packed = each.packed
        words = (int.from_bytes(packed[i : i + 4], sys.byteorder) for i in range(0, len(packed), 4))
        forms.append("".join(f"{word:08X}" for word in words) + f":{port:04X}")
    return forms


# The kernel's table is read in pieces, and a piece may skip a socket when others come and go meanwhile:
# a connection not found is looked for again before it is refused.
LOOKUPS = 3


def _table_owner(client: tuple[str, int], server: tuple[str, int]) -> int | None:
    """The same answer from the kernel's socket tables, searched as text for the line of that connection."""
    needles = [f" {c} {s} " for c in _kernel_forms(*client) for s in _kernel_forms(*server) if len(c) == len(s)]
    for _ in range(LOOKUPS):
        for table in SOCKET_TABLES:
            try:
                with open(table) as lines:
                    text = lines.read()
            except FileNotFoundError:
                continue
            for needle in needles:
                at = text.find(needle)
                if at >= 0:
                    fields = text[text.rfind("\n", 0, at) + 1 : text.find("\n", at)].split()
                    return int(fields[7]) if fields[9] != "0" else None
    return None


def connection_owner(client: tuple[str, int], server: tuple[str, int]) -> int | None:
    """The uid that owns the client's end of the TCP connection `client` -> `server`; None if there is no such
    connection or no process holds its client end any more.

    The second matters when the stack runs as root: a socket its process has closed is shown as root's (the
    stack's own user), so a handler could send a request, close at once, and be served."""
    try:
        return _diag_owner(client, server)
    except ValueError:  # not an IP address
        return None
    except OSError:
        return _table_owner(client, server)


def _connection(environ: dict[str, Any]) -> object | None:
    """The server's object for the request's connection, where the server (waitress) shows it; else None."""
    return getattr(environ.get("waitress.client_disconnected"), "__self__", None)


def owner_only(app: WsgiApp, uid: int | None = None, log: Callable[[str, str], None] | None = None) -> WsgiApp:
    """`app`, refusing (403) any connection not opened by a process of user `uid` (ours by default).

    A connection found to be the user's is not looked up again for its next requests: the kernel names a
    socket's owner once, when it is made, so each lookup on one connection gives the same answer while its
    client end is held, and no request arrives on it once that end is closed. Only allowed connections are
    remembered (by the server's object for the connection, never by address: ports are reused)."""
    allowed = os.geteuid() if uid is None else uid
    known: weakref.WeakSet[object] = weakref.WeakSet()

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        connection = _connection(environ)
        if connection is not None and connection in known:
            return app(environ, start_response)
        client = (str(environ.get("REMOTE_ADDR")), int(environ.get("REMOTE_PORT") or 0))
        server = (str(environ.get("SERVER_NAME")), int(environ.get("SERVER_PORT") or 0))
        owner = connection_owner(client, server)
        if owner != allowed:
            if log is not None:
                log("guard", f"refused {environ.get('REQUEST_METHOD')} to port {server[1]} from uid {owner}")
            body = json.dumps({"error": REFUSED, "message": REFUSED}).encode()
            start_response("403 Forbidden", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if connection is not None:
            known.add(connection)
        return app(environ, start_response)

    return guarded
