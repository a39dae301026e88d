"""How the local stack's processes pass a message to each other (the runner and a function's worker, a worker
and the stack's socket, channel.py): a JSON line, its header, then `size` bytes of payload as they are. An
event or a result is itself JSON text, and travels as it is, never escaped into a string of another JSON
document."""

from __future__ import annotations

import json
from io import BufferedIOBase
from typing import IO, Any

Stream = BufferedIOBase | IO[bytes]


def write_frame(stream: Stream, header: dict[str, Any], payload: bytes = b"") -> None:
    stream.write(json.dumps({**header, "size": len(payload)}).encode() + b"\n" + payload)
    stream.flush()


def read_frame(stream: Stream) -> tuple[dict[str, Any], bytes] | None:
    """The next message, or None: the other end closed, or sent something cut off or garbled."""
    line = stream.readline()
    if not line.endswith(b"\n"):
        return None
    try:
        header = dict(json.loads(line))
        size = int(header.pop("size"))
    except (ValueError, TypeError, KeyError):
        return None
    payload = stream.read(size)
    if len(payload) != size:
        return None
    return header, payload
