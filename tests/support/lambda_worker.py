"""One Lambda-like execution environment of the sandbox function (see tests/support/lambda_like.py).

Started as root: `python -m tests.support.lambda_worker <uid> <tmp size>`. It gives itself a private /tmp
(a mount namespace with a tmpfs of its own), keeps the interpreter reachable for an unprivileged user, drops
to <uid> for good and serves one JSON request per stdin line, answering one JSON line on the descriptor that
was its stdout (its own output goes to stderr): {"answer": outcome} or {"ended": reason, "answer": outcome},
after which it exits, as the function does on Lambda.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import tempfile

from httpendpoint.sandbox import linux, mounts


def private_tmp(uid: int, size: str) -> None:
    interpreter = os.path.dirname(os.path.realpath(sys.executable))
    needed = [*sys.path, os.path.dirname(sys.executable), interpreter]
    # Looked at before /tmp becomes the user's own (mode 0700): a checkout under /tmp is bound back below.
    exposures = mounts.needed_exposures(needed)
    linux.unshare_mounts()
    held = mounts.hold("/tmp", mounts.entries_below("/tmp", needed))
    options = f"size={size},mode=0700,uid={uid},gid={uid}"
    linux.mount("tmpfs", "/tmp", "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, options)
    mounts.bind_back("/tmp", held)
    if exposures:
        mounts.expose(exposures)


def become(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def main() -> None:
    uid, size = int(sys.argv[1]), sys.argv[2]
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the function's logs
    private_tmp(uid, size)
    become(uid)
    os.environ["AWS_EXECUTION_ENV"] = "AWS_Lambda_python3.13"
    os.environ.pop("TMPDIR", None)
    tempfile.tempdir = None
    from httpendpoint.sandbox import function

    for line in sys.stdin:
        request = json.loads(line)
        remaining = request.get("remaining_ms")
        try:
            if remaining is None:
                answer = function.run(request["payload"])
            else:
                answer = function.run(request["payload"], functools.partial(int, remaining))
        except function.EnvironmentEnded as ended:
            answers.write(json.dumps({"ended": ended.reason, "answer": ended.outcome}) + "\n")
            answers.flush()
            os._exit(0)  # the Lambda function answers, then exits (httpendpoint.sandbox.entry)
        answers.write(json.dumps({"answer": answer}) + "\n")


if __name__ == "__main__":
    main()
