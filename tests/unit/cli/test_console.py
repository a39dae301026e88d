"""The local stack's console: one line per request, the functions' records under it as plain text, one writer."""

from __future__ import annotations

import io
import json
import re
import threading
import time

from httpep.local.console import Console

REQUEST = "0f1e2d3c-aaaa-bbbb-cccc-000000000001"


def record(message: str, request_id: str = REQUEST, level: str = "INFO", **extra: object) -> str:
    base = {"level": level, "location": "x:1", "message": message, "timestamp": "t", "service": "router"}
    return json.dumps({**base, "correlation_id": request_id, **extra})


def metrics_line(request_id: str = REQUEST, **request: object) -> str:
    return json.dumps({"_aws": {"CloudWatchMetrics": []}, "request": {"request_id": request_id, **request}})


def run(steps: list[tuple[str, tuple[object, ...]]], json_logs: bool = False) -> list[str]:
    stream = io.StringIO()
    console = Console(json_logs=json_logs, stream=stream, linger=0.2)
    for method, args in steps:
        getattr(console, method)(*args)
    console.close()
    return stream.getvalue().splitlines()


def test_a_request_is_one_line_then_its_output_and_traceback_as_plain_indented_text() -> None:
    traceback = 'Traceback (most recent call last):\n  File "/jaydoe/h.py", line 2, in handler\nZeroDivisionError: x'
    lines = run(
        [
            ("function_log", ("RouterFunction", record("handler output", output="hello\nworld\n"))),
            ("function_log", ("RouterFunction", record("handler traceback", traceback=traceback))),
            (
                "function_log",
                ("RouterFunction", record("handler fault", level="WARNING", error="ZeroDivisionError: x")),
            ),
            ("function_log", ("RouterFunction", metrics_line(endpoint_id="hook", account="jaydoe", status=500))),
            ("request", (REQUEST, "GET", "/api/v1/http-endpoint/u/hook", 500, 12.4)),
        ]
    )
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d GET /api/v1/http-endpoint/u/hook 500 12 ms endpoint=hook account=jaydoe", lines[0]
    )
    assert lines[1:] == [
        "    hello",
        "    world",
        "    Traceback (most recent call last):",
        '      File "/jaydoe/h.py", line 2, in handler',
        "    ZeroDivisionError: x",
        "    WARNING handler fault error=ZeroDivisionError: x",
    ]


def test_lines_that_arrive_just_after_the_response_still_go_under_their_request() -> None:
    lines = run(
        [
            ("request", (REQUEST, "PUT", "/api/v1/http-endpoint/hook", 201, 30.0)),
            ("function_log", ("CreateFunction", record("endpoint created", handler_script_path="/j/h.py"))),
        ]
    )
    assert lines[0].endswith("PUT /api/v1/http-endpoint/hook 201 30 ms")
    assert lines[1:] == ["    INFO endpoint created handler_script_path=/j/h.py"]


def test_the_authorizer_s_verdict_goes_under_the_request_whose_invoke_wrote_it() -> None:
    accepted = record("token accepted", request_id="", account="jaydoe", function_request_id="inv-1")
    rejected = record("token rejected", request_id="", reason="unknown or revoked", function_request_id="inv-2")
    lines = run(
        [
            ("invoked", ("r-401", "inv-2")),
            ("invoked", (REQUEST, "inv-1")),
            ("function_log", ("AuthorizerFunction", rejected)),
            ("function_log", ("AuthorizerFunction", accepted)),
            ("request", (REQUEST, "GET", "/api/v1/http-endpoint/list", 200, 5.0, "jaydoe")),
            ("request", ("r-401", "GET", "/api/v1/http-endpoint/list", 401, 2.0)),
        ]
    )
    assert len(lines) == 4
    assert lines[0].endswith("GET /api/v1/http-endpoint/list 200 5 ms account=jaydoe")
    assert lines[1] == "    INFO token accepted"
    assert lines[2].endswith("GET /api/v1/http-endpoint/list 401 2 ms")
    assert lines[3] == "    INFO token rejected reason=unknown or revoked"


def test_the_runtime_s_plain_text_error_goes_under_the_request_of_the_invoke_that_wrote_it() -> None:
    """A function crashed: the worker's runtime reports it in plain text (no request id in it); the runner names
    the invoke the worker was serving."""
    lines = run(
        [
            ("invoked", ("r-500", "inv-9")),
            ("function_log", ("ListFunction", "[ERROR] KeyError: 'x'", "inv-9")),
            ("function_log", ("ListFunction", "Traceback (most recent call last):", "inv-9")),
            ("function_log", ("RouterFunction", "a print of no known invoke", "inv-unknown")),
            ("request", ("r-500", "GET", "/api/v1/http-endpoint/list", 502, 2.0)),
        ]
    )
    assert lines[0] == "    RouterFunction | a print of no known invoke"
    assert lines[1].endswith("GET /api/v1/http-endpoint/list 502 2 ms")
    assert lines[2:] == ["    [ERROR] KeyError: 'x'", "    Traceback (most recent call last):"]


REFUSAL_REPORT = [
    "[ERROR] Unauthorized: Unauthorized",
    "Traceback (most recent call last):",
    '  File "/work/functions/authorizer/app.py", line 18, in lambda_handler',
    "    return authorize(event)",
    "httpendpoint.auth.Unauthorized: Unauthorized",
]


def test_a_401_block_drops_the_runtime_s_report_of_the_authorizer_s_refusal_and_keeps_the_rest() -> None:
    """Raising Unauthorized is how a TOKEN authorizer answers 401: its traceback would only repeat the verdict."""
    verdict = json.dumps({"level": "INFO", "message": "token rejected", "reason": "unknown or revoked"})
    events: list[tuple[str, tuple[object, ...]]] = [
        ("invoked", ("r-401", "inv-9")),
        ("function_log", ("AuthorizerFunction", verdict, "inv-9")),
        *[("function_log", ("AuthorizerFunction", line, "inv-9")) for line in REFUSAL_REPORT],
        ("function_log", ("AuthorizerFunction", "a print after it", "inv-9")),
        ("request", ("r-401", "GET", "/api/v1/http-endpoint/list", 401, 2.0)),
    ]
    lines = run(events)
    assert lines[0].endswith("GET /api/v1/http-endpoint/list 401 2 ms")
    assert lines[1:] == ["    INFO token rejected reason=unknown or revoked", "    a print after it"]
    # Under any other status the same lines are not a refusal, and stay.
    other = run([*events[:-1], ("request", ("r-401", "GET", "/api/v1/http-endpoint/list", 500, 2.0))])
    assert other[2:-1] == ["    " + line for line in REFUSAL_REPORT]


def test_a_verdict_never_goes_under_another_request_of_its_account() -> None:
    """A trigger (no authorizer) and a management route of the same account, answered in the other order: the
    verdict goes with the invoke that wrote it, not with the first request of its account to finish."""
    stream = io.StringIO()
    console = Console(stream=stream, linger=0.1)
    console.invoked("r-manage", "inv-auth")
    console.function_log(
        "AuthorizerFunction",
        record("token accepted", request_id="", account="jaydoe", scope="manage", function_request_id="inv-auth"),
    )
    console.request("r-trigger", "GET", "/api/v1/http-endpoint/u/boom", 200, 20.0, "jaydoe")
    time.sleep(0.3)
    console.request("r-manage", "GET", "/api/v1/http-endpoint/boom", 200, 110.0, "jaydoe", "boom")
    console.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].endswith("GET /api/v1/http-endpoint/u/boom 200 20 ms account=jaydoe")
    assert lines[1].endswith("GET /api/v1/http-endpoint/boom 200 110 ms endpoint=boom account=jaydoe")
    assert lines[2] == "    INFO token accepted scope=manage"


def test_a_refused_request_shows_its_verdict_then_the_reason_it_was_refused() -> None:
    accepted = record("token accepted", request_id="", account="jaydoe", scope="call", function_request_id="inv-1")
    lines = run(
        [
            ("invoked", (REQUEST, "inv-1")),
            ("function_log", ("AuthorizerFunction", accepted)),
            (
                "request",
                (REQUEST, "GET", "/api/v1/http-endpoint/list", 403, 5.0, None, None, "INFO access denied: no"),
            ),
        ]
    )
    assert len(lines) == 3
    assert lines[0].endswith("GET /api/v1/http-endpoint/list 403 5 ms account=jaydoe")  # the authorizer's word
    assert lines[1:] == ["    INFO token accepted scope=call", "    INFO access denied: no"]


def test_warnings_outside_a_request_and_plain_text_are_shown_at_once() -> None:
    lines = run(
        [
            ("function_log", ("AuthorizerFunction", record("token store down", request_id="", level="ERROR"))),
            ("function_log", ("RouterFunction", "plain text from a print")),
            ("function_log", ("AuthorizerFunction", record("token accepted", request_id="", account="nobody"))),
        ]
    )
    assert lines == [
        "    AuthorizerFunction | ERROR token store down",
        "    RouterFunction | plain text from a print",
        "    AuthorizerFunction | INFO token accepted",
    ]


def test_json_logs_prints_the_lines_as_they_are() -> None:
    raw = record("handler output", output="hi")
    lines = run(
        [("function_log", ("RouterFunction", raw)), ("request", (REQUEST, "GET", "/x", 200, 3.0))], json_logs=True
    )
    assert lines == [f"          RouterFunction | {raw}", "                     api | GET /x 200 3 ms"]


def test_blocks_never_interleave_with_many_writers() -> None:
    stream = io.StringIO()
    console = Console(stream=stream, linger=0.01)

    def one_request(n: int) -> None:
        request_id = f"req-{n}"
        for line in range(5):
            console.function_log(
                "RouterFunction", record("handler output", request_id=request_id, output=f"{n}:{line}")
            )
        console.request(request_id, "GET", f"/u/p{n}", 200, 1.0)

    threads = [threading.Thread(target=one_request, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    console.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 20 * 6
    for start in range(0, len(lines), 6):
        n = re.search(r"/u/p(\d+) ", lines[start]).group(1)  # type: ignore[union-attr]
        assert lines[start + 1 : start + 6] == [f"    {n}:{line}" for line in range(5)]


def test_the_authorizer_s_verdict_waits_for_a_slow_request_it_belongs_to() -> None:
    """A cold start or a slow handler answers long after the authorizer's verdict: the verdict still goes under
    its request, not on a line of its own before it."""
    stream = io.StringIO()
    console = Console(stream=stream, linger=0.1, orphan=0.2)
    console.invoked(REQUEST, "inv-1")
    console.function_log(
        "AuthorizerFunction", record("token accepted", request_id="", account="jaydoe", function_request_id="inv-1")
    )
    time.sleep(0.6)  # three times as long as a record of an unknown request waits
    console.request(REQUEST, "GET", "/api/v1/http-endpoint/u/slow", 200, 600.0, "jaydoe")
    console.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("GET /api/v1/http-endpoint/u/slow 200 600 ms account=jaydoe")
    assert lines[1] == "    INFO token accepted"


def test_a_record_of_an_invoke_no_request_made_is_shown_on_its_own_at_once() -> None:
    """A direct invoke (the Lambda invoke API) belongs to no API request: nothing waits for one to claim it."""
    stream = io.StringIO()
    console = Console(stream=stream, linger=0.1, orphan=0.2)
    console.function_log(
        "AuthorizerFunction", record("token accepted", request_id="", account="jaydoe", function_request_id="x")
    )
    console.request("r-other", "GET", "/api/v1/http-endpoint/list", 200, 5.0, "jaydoe")
    console.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "    AuthorizerFunction | INFO token accepted"
    assert lines[1].endswith("GET /api/v1/http-endpoint/list 200 5 ms account=jaydoe")
    assert len(lines) == 2


def test_a_record_that_names_its_request_goes_under_it_whatever_invoke_the_line_is_tagged_with() -> None:
    """A worker reused at once for the next request: the record's own request id wins over the tag."""
    lines = run(
        [
            ("invoked", ("req-a", "inv-a")),
            ("invoked", ("req-b", "inv-b")),
            (
                "function_log",
                ("RouterFunction", record("handler output", request_id="req-a", output="from a"), "inv-b"),
            ),
            ("request", ("req-a", "GET", "/api/v1/http-endpoint/u/a", 200, 3.0)),
            ("request", ("req-b", "GET", "/api/v1/http-endpoint/u/b", 200, 4.0)),
        ]
    )
    assert lines[0].endswith("GET /api/v1/http-endpoint/u/a 200 3 ms")
    assert lines[1] == "    from a"
    assert lines[2].endswith("GET /api/v1/http-endpoint/u/b 200 4 ms")
    assert len(lines) == 3


def test_a_request_refused_before_any_function_ran_still_names_its_endpoint() -> None:
    lines = run([("request", ("", "GET", "/api/v1/http-endpoint/some-id", 401, 1.0, None, "some-id"))])
    assert lines == [lines[0]]
    assert lines[0].endswith("GET /api/v1/http-endpoint/some-id 401 1 ms endpoint=some-id")


def test_the_router_s_own_refusal_is_shown_from_its_metrics_line() -> None:
    refused = metrics_line(endpoint_id="hook", account="jaydoe", status=401, refused="Unauthorized: bad signature")
    lines = run(
        [
            ("function_log", ("RouterFunction", refused)),
            ("request", (REQUEST, "POST", "/api/v1/http-endpoint/u/hook", 401, 2.0)),
        ]
    )
    assert lines[0].endswith("POST /api/v1/http-endpoint/u/hook 401 2 ms endpoint=hook account=jaydoe")
    assert lines[1:] == ["    INFO refused: Unauthorized: bad signature"]


def test_a_caller_s_path_or_id_cannot_forge_a_console_line() -> None:
    """The path and the endpoint id come from the URL, so from whoever calls: control characters are escaped."""
    forged = "/api/v1/http-endpoint/a\n12:00:00 GET /api/v1/http-endpoint/list 200 1 ms"
    lines = run(
        [
            ("request", ("r-1", "GET", forged, 404, 2.0, "jay\rdoe", "a\nb")),
            ("request", (None, "GET", forged, 401, 2.0, None, "a\x1b[2Jb")),
        ]
    )
    # The one without a request id (refused before any function ran) is written at once, the other after.
    assert len(lines) == 2, lines
    assert lines[0].endswith(r" 401 2 ms endpoint=a\x1b[2Jb")
    assert lines[1].endswith(
        r"GET /api/v1/http-endpoint/a\n12:00:00 GET /api/v1/http-endpoint/list 200 1 ms 404 2 ms"
        r" endpoint=a\nb account=jay\rdoe"
    )


def test_a_handler_s_output_or_a_drive_path_cannot_forge_a_console_line_or_draw_on_the_terminal() -> None:
    """Only `\\n`, `\\r\\n` and `\\r` end a line; Unicode's other line breaks, C1 controls and ESC are escaped."""
    fake_line = "12:00:00 GET /api/v1/http-endpoint/list 200 1 ms"
    lines = run(
        [
            ("function_log", ("RouterFunction", record("handler output", output=f"a\x1b[2K\r{fake_line}\nb\r\nc"))),
            ("function_log", ("RouterFunction", record("script missing", drive_path="/j/x\u2028INFO token rejected"))),
            ("function_log", ("RouterFunction", record("odd", note="p\x85q\u2029r\x9b1m\x0bs\x0ct\ty"))),
            ("function_log", ("RouterFunction", f"plain \x9b2J\u2028{fake_line}", "i-1")),
            ("invoked", (REQUEST, "i-1")),
            ("function_log", ("RouterFunction", f"plain \x1b]0;title\x07\u2028{fake_line}", "i-1")),
            ("request", (REQUEST, "GET", "/api/v1/http-endpoint/u/hook", 200, 2.0)),
        ]
    )
    # The plain line of no invoke yet known is printed at once, the request's block after.
    assert lines[0] == f"    RouterFunction | plain \\x9b2J\\u2028{fake_line}"
    assert lines[1].endswith(" GET /api/v1/http-endpoint/u/hook 200 2 ms")
    assert lines[2:] == [
        r"    a\x1b[2K",
        f"    {fake_line}",
        "    b",
        "    c",
        r"    INFO script missing drive_path=/j/x\u2028INFO token rejected",
        "    INFO odd note=p\\x85q\\u2029r\\x9b1m\\x0bs\\x0ct\ty",
        f"    plain \\x1b]0;title\\x07\\u2028{fake_line}",
    ]


def test_json_logs_escape_what_a_function_printed_raw() -> None:
    lines = run([("function_log", ("RouterFunction", "x\x1b[2Jy\u2028z"))], json_logs=True)
    assert lines == [r"          RouterFunction | x\x1b[2Jy\u2028z"]
