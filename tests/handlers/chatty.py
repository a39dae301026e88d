"""Prints to stdout and stderr, then does what the `kind` query parameter names: for the invocation history."""

import sys

from flask import Request


def handler(request: Request):
    kind = request.args.get("kind", "ok")
    print(f"stdout line of {kind}")
    print(f"stderr line of {kind}", file=sys.stderr)
    if kind == "raise":
        raise ValueError("the handler gave up")
    if kind == "sleep":
        import time

        time.sleep(60)
    if kind == "long":
        print("y" * 10_000)
        print("the last line")
    return "done"
