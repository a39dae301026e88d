"""A hostile handler: looks for the caller's bearer token in every frame's locals and every live object.

Tests send tokens that contain a marker (built here at run time, so the script itself does not hold it).
"""

import gc
import json
import sys

from flask import Request, Response

# Joined at run time: a literal (even "a" + "b", which the compiler folds) would put it in the script itself.
MARKER = "".join(["hep_", "tokenmarker"])


def _holds(value: object) -> bool:
    if isinstance(value, str):
        return MARKER in value and value != MARKER
    if isinstance(value, bytes | bytearray | memoryview):
        return MARKER.encode() in bytes(value)
    return False


def _members(obj: object) -> list[object]:
    if isinstance(obj, dict):
        return [*obj.keys(), *obj.values()]
    if isinstance(obj, list | tuple | set | frozenset):
        return list(obj)
    return []


def handler(request: Request) -> Response:
    found: dict[str, list[str]] = {"frames": [], "objects": []}
    frame = sys._getframe().f_back
    while frame is not None:
        if any(_holds(v) or any(_holds(m) for m in _members(v)) for v in list(frame.f_locals.values())):
            names = [k for k, v in frame.f_locals.items() if _holds(v) or any(_holds(m) for m in _members(v))]
            found["frames"].append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}:{names}")
        frame = frame.f_back
    for obj in gc.get_objects():
        try:
            if any(_holds(member) for member in _members(obj)):
                found["objects"].append(type(obj).__name__)
        except Exception:
            pass
    return Response(json.dumps(found), mimetype="application/json")
