"""The floor of part 5, in a process of the zygote's size: the zygote's own imports and warm-up, its objects
shared as the zygote shares them (see shared_objects), then per call fork a child that runs the handler for
the request and writes its result to a pipe, read it, and wait for the child. Everything the sandbox adds
(deadline, cleanup, checks) is left out.

`python -m bench.sandbox_floor <request file>` warms up, prints "ready", then for each line N on stdin makes
N calls and prints their times in seconds as one JSON list (part 5 interleaves these blocks with the
sandbox's own, so that both see the machine alike).
"""

from __future__ import annotations

import json
import os
import sys
import time

WARMUP = 10


def one_call(request: bytes) -> float:
    from httpendpoint.sandbox import child_run

    started = time.perf_counter()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        view = memoryview(child_run.run(request))
        while view:
            view = view[os.write(write, view) :]
        os._exit(0)
    os.close(write)
    while os.read(read, 1 << 16):
        pass
    os.close(read)
    os.waitpid(pid, 0)
    return time.perf_counter() - started


def main() -> None:
    from httpendpoint.sandbox import shared_objects

    with shared_objects.built_for_children():
        from httpendpoint.sandbox import zygote_server

        zygote_server.warm_up()  # as the zygote warms up
    with open(sys.argv[1], "rb") as source:
        request = source.read()
    for _ in range(WARMUP):
        one_call(request)
    print("ready", flush=True)
    for line in sys.stdin:
        print(json.dumps([one_call(request) for _ in range(int(line))]), flush=True)


if __name__ == "__main__":
    main()
