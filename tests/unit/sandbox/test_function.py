"""The sandbox's protocol: the request a handler sees, and how what it returns or raises is reported."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from httpendpoint.core.limits import LOG_LIMIT_BYTES, RESPONSE_LIMIT_BYTES
from httpendpoint.sandbox import code_cache, function, zygote_client
from tests.support.events import api_event
from tests.support.sandbox import HELLO, SCRIPT_PATH, body_of, leftovers, run_script, text_of

# One worker runs every sandbox test: the hostile ones push `nobody` to its process limit for a moment.
# The sandbox tests share machine-wide limits (the `nobody` process count), so they never run beside others.
pytestmark = pytest.mark.serial

ECHO = """
    import json
    import flask

    def handler(request, *args, **kwargs):
        data = request.get_data()
        return flask.Response(json.dumps({
            "is_flask_request": isinstance(request, flask.Request),
            "is_the_current_request": request is flask.request._get_current_object(),
            "method": request.method,
            "path": request.path,
            "args": request.args.to_dict(flat=False),
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "environ_keys": sorted(k for k in request.environ if k.startswith("HTTP_")),
            "full_event": json.dumps(request.environ.get("apig_wsgi.full_event")),
            "json": request.get_json(silent=True),
            "form": request.form.to_dict(flat=False),
            "body_length": len(data),
        }), mimetype="application/json")
"""


@pytest.fixture(autouse=True)
def nothing_left_behind() -> Iterator[None]:
    yield
    assert leftovers() == {}


def echo(event: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(body_of(run_script(ECHO, event=event))))


def test_a_str_becomes_a_text_plain_200() -> None:
    outcome = run_script(HELLO)
    assert outcome == {
        "outcome": "response",
        "response": {
            "statusCode": 200,
            "multiValueHeaders": {"Content-Type": ["text/plain; charset=utf-8"], "Content-Length": ["11"]},
            "body": "Hello World",
            "isBase64Encoded": False,
        },
        "logs": "",
    }


def test_the_seed_example_passes_responses_through_as_built() -> None:
    seed = """
        from flask import Request, Response
        from typing import Any

        def handler(request: Request, *args: Any, **kwargs: Any):
            if request.method == "GET":
                return Response("Hello World", mimetype="text/plain")
            else:
                return Response(status=404)
    """
    assert text_of(run_script(seed)) == "Hello World"
    not_found = run_script(seed, event=api_event("router", method="DELETE"))["response"]
    # Mimetype rules are the router's: the sandbox reports the response exactly as the handler built it.
    assert not_found["statusCode"] == 404
    assert not_found["body"] == ""
    assert not_found["multiValueHeaders"]["Content-Type"] == ["text/html; charset=utf-8"]


def test_the_handler_gets_a_real_flask_request_in_an_active_context() -> None:
    seen = echo(
        api_event(
            "router",
            method="PATCH",
            query={"tag": ["a", "b"], "q": ["x y&z"]},
            headers={"X-Multi": ["one", "two"], "Content-Type": ["application/json"]},
            body={"hello": "world", "n": [1, 2]},
        )
    )
    assert seen["is_flask_request"] is True
    assert seen["is_the_current_request"] is True
    assert seen["method"] == "PATCH"
    assert seen["path"] == "/api/v1/http-endpoint/u/helloworld"
    assert seen["args"] == {"tag": ["a", "b"], "q": ["x y&z"]}
    assert seen["headers"]["x-multi"] == "one,two"
    assert seen["json"] == {"hello": "world", "n": [1, 2]}


def test_form_data_reaches_the_handler() -> None:
    event = api_event(
        "router",
        method="POST",
        headers={"Content-Type": ["application/x-www-form-urlencoded"]},
        body=b"name=Jay+Doe&tag=a&tag=b",
    )
    assert echo(event)["form"] == {"name": ["Jay Doe"], "tag": ["a", "b"]}


def test_a_binary_body_of_one_megabyte_survives_both_ways() -> None:
    data = os.urandom(1024 * 1024)
    script = """
        from flask import Response

        def handler(request):
            return Response(request.get_data(), mimetype="application/octet-stream")
    """
    event = api_event("router", method="POST", body=data, headers={"Content-Type": ["application/octet-stream"]})
    outcome = run_script(script, event=event)
    assert outcome["response"]["isBase64Encoded"] is True
    assert hashlib.sha256(body_of(outcome)).digest() == hashlib.sha256(data).digest()


def test_the_request_reaches_the_handler_as_the_router_passed_it() -> None:
    # The router drops a bearer endpoint's Authorization header before the payload exists; what is left
    # (a `none` or `hmac` endpoint's request as sent, whatever its Authorization) is the handler's.
    seen = echo(api_event("router", headers={"Authorization": ["Basic dXNlcjpwdw=="], "X-Other": ["kept"]}))
    assert seen["headers"]["authorization"] == "Basic dXNlcjpwdw=="
    assert "HTTP_AUTHORIZATION" in seen["environ_keys"]
    assert seen["headers"]["x-other"] == "kept"


def test_repeated_response_headers_and_status_are_kept() -> None:
    script = """
        from flask import Response

        def handler(request):
            response = Response('{"created": true}', status=201, mimetype="application/json")
            response.headers.add("Set-Cookie", "a=1")
            response.headers.add("Set-Cookie", "b=2")
            return response
    """
    response = run_script(script)["response"]
    assert response["statusCode"] == 201
    assert response["multiValueHeaders"]["Set-Cookie"] == ["a=1", "b=2"]
    assert response["body"] == '{"created": true}'
    assert response["isBase64Encoded"] is False


def test_a_text_body_that_is_not_utf8_is_sent_as_base64() -> None:
    script = """
        from flask import Response

        def handler(request):
            return Response(b"\\xff\\xfe", mimetype="text/plain")
    """
    outcome = run_script(script)
    assert outcome["response"]["isBase64Encoded"] is True
    assert body_of(outcome) == b"\xff\xfe"


@pytest.mark.parametrize(
    ("returned", "described"),
    [("{'a': 1}", "dict"), ("b'bytes'", "bytes"), ("None", "None"), ("('body', 200)", "tuple"), ("42", "int")],
)
def test_other_return_values_are_unsupported(returned: str, described: str) -> None:
    outcome = run_script(f"def handler(request):\n    return {returned}\n")
    assert outcome == {"outcome": "unsupported", "returned": described, "logs": ""}


def test_a_syntax_error_names_the_file_and_the_line() -> None:
    outcome = run_script("def handler(request):\n    return 'ok'\n\nx = = 1\n")
    assert outcome["outcome"] == "error"
    assert outcome["error"] == "SyntaxError: invalid syntax (hello.py, line 4)"
    assert "x = = 1" in outcome["traceback"]


def test_a_script_without_handler_is_an_error() -> None:
    outcome = run_script("def not_the_handler(request):\n    return 'never'\n\nhandler = 'not callable'\n")
    assert outcome["outcome"] == "error"
    assert outcome["error"] == "AttributeError: script defines no function 'handler'"


def test_an_exception_while_loading_the_script_is_an_error() -> None:
    outcome = run_script("import no_such_module_here\n\ndef handler(request):\n    return 'never'\n")
    assert outcome["outcome"] == "error"
    assert outcome["error"] == "ModuleNotFoundError: No module named 'no_such_module_here'"


def test_an_exception_in_the_handler_is_an_error_with_the_users_traceback() -> None:
    outcome = run_script("def handler(request):\n    print('about to fail')\n    return 1 / 0\n")
    assert outcome["outcome"] == "error"
    assert outcome["error"] == "ZeroDivisionError: division by zero"
    assert f'File "{SCRIPT_PATH}", line 3, in handler' in outcome["traceback"]
    assert "return 1 / 0" in outcome["traceback"]
    assert "handler_run" not in outcome["traceback"]  # the sandbox's own frames are not the user's business
    assert outcome["logs"] == "about to fail\n"


def test_output_is_captured_and_only_its_tail_kept() -> None:
    script = """
        import sys

        def handler(request):
            print("x" * 200_000)
            print("the end", file=sys.stderr)
            return "ok"
    """
    logs = run_script(script)["logs"]
    assert logs.startswith("[... ")
    assert "earlier bytes of output truncated" in logs
    assert logs.endswith("x\nthe end\n")
    assert LOG_LIMIT_BYTES <= len(logs) < LOG_LIMIT_BYTES + 100


def test_a_response_over_the_lambda_limit_is_refused() -> None:
    outcome = run_script("def handler(request):\n    return 'x' * (7 * 1024 * 1024)\n")
    assert outcome["outcome"] == "error"
    assert outcome["error"] == (
        f"ResponseTooLarge: the handler's response is {7 * 1024 * 1024} bytes; the limit is {RESPONSE_LIMIT_BYTES}"
    )
    assert len(json.dumps(outcome)) < RESPONSE_LIMIT_BYTES


def test_output_gives_way_to_a_response_that_needs_the_room() -> None:
    script = """
        def handler(request):
            print("y" * 100_000)
            return "x" * (6 * 1024 * 1024 - 1000)
    """
    outcome = run_script(script)
    assert len(body_of(outcome)) == 6 * 1024 * 1024 - 1000
    assert outcome["logs"] == function.LOGS_DROPPED
    assert len(json.dumps(outcome)) <= RESPONSE_LIMIT_BYTES


def test_nothing_of_a_request_survives_into_the_next() -> None:
    script = """
        import os
        import flask

        counter = 0

        def handler(request):
            global counter
            counter += 1
            seen = getattr(flask, "planted", None)
            flask.planted = "by an earlier request"
            names = sorted(os.listdir("."))
            open("left.txt", "w").write("data")
            return f"{counter} {seen} {names} {os.getcwd()}"
    """
    first = text_of(run_script(script)).split(" ", 3)
    second = text_of(run_script(script)).split(" ", 3)
    assert first[:3] == second[:3] == ["1", "None", "[]"]
    assert first[3] != second[3]  # a fresh working directory each time...
    assert not os.path.exists(first[3])  # ...removed after the request


def test_a_script_version_is_compiled_once_per_warm_sandbox() -> None:
    script = f"def handler(request):\n    return 'version {os.urandom(8).hex()}'\n"
    before = code_cache.stats.compiles
    for _ in range(3):
        assert text_of(run_script(script)).startswith("version ")
    assert code_cache.stats.compiles == before + 1
    run_script(script + "\n# edited\n")
    assert code_cache.stats.compiles == before + 2


def test_concurrent_callers_each_get_a_zygote() -> None:
    script = "import time\n\ndef handler(request):\n    time.sleep(0.3)\n    return 'done'\n"
    results: list[str] = []

    def call() -> None:
        results.append(text_of(run_script(script)))

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["done"] * 3


def test_the_lambda_handler_is_the_sandbox(lambda_context: Any) -> None:
    from tests.support.events import load_event
    from tests.support.functions import load_function

    outcome = load_function("sandbox").lambda_handler(load_event("sandbox"), lambda_context)
    assert text_of(outcome) == "Hello World"


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"script": None}, "'script'"),
        ({"script_path": ""}, "'script_path'"),
        ({"script_etag": 3}, "'script_etag'"),
        ({"event": {"path": "/"}}, "'event'"),
        ({"timeout": 0}, "'timeout'"),
        ({"timeout": "10"}, "'timeout'"),
        ({"timeout": float("inf")}, "'timeout'"),
        ({"timeout": True}, "'timeout'"),
    ],
)
def test_a_malformed_payload_is_the_callers_bug(change: dict[str, Any], complaint: str) -> None:
    payload = {"script": HELLO, "script_path": SCRIPT_PATH, "event": api_event("router"), "timeout": 1, **change}
    with pytest.raises(function.SandboxInputError, match=complaint):
        function.run(payload)


def test_the_timeout_defaults_to_the_templates_endpoint_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENDPOINT_TIMEOUT", "1")
    payload = {"script": "import time\ndef handler(r):\n    time.sleep(30)\n", "script_path": SCRIPT_PATH}
    assert function.run({**payload, "event": api_event("router")}) == {"outcome": "timeout", "timeout": 1.0, "logs": ""}


def test_log_tail_does_not_start_inside_a_character() -> None:
    tail = zygote_client.LogTail()
    tail.feed(("é" * LOG_LIMIT_BYTES).encode())
    text = tail.text()
    assert "\ufffd" not in text
    assert text.endswith("é" * 100)


def test_children_get_their_code_marshalled_not_their_source_compiled() -> None:
    compiled = code_cache.compiled("def handler(request):\n    return 'x'\n", "/a/b.py")
    assert compiled.error is None
    assert compiled.code  # marshalled code object
    failed = code_cache.compiled("def handler(:\n", "/a/b.py")
    assert failed.code == b""
    assert failed.error is not None
    assert failed.error.startswith("SyntaxError: ")
    assert "(b.py, line 1)" in failed.error
