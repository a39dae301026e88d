"""The zygote's objects are shared with its children without being written to: immortal and frozen."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from httpendpoint.sandbox import shared_objects
from tests.support.sandbox import run_script, text_of

pytestmark = pytest.mark.serial  # it runs handlers in the sandbox (see test_function.py)

# What a process learns about built_for_children, in a process of its own: what it makes immortal stays so.
PROBE = """
    import gc
    import json
    from httpendpoint.sandbox import shared_objects

    with shared_objects.built_for_children():
        collecting_meanwhile = gc.isenabled()
        import decimal
        held = {"text": "a string only a dict refers to " + str(len(gc.get_objects()))}
        code = decimal.Decimal.__add__
    later = ["made after"]
    print(json.dumps({
        "collecting_meanwhile": collecting_meanwhile,
        "collecting_after": gc.isenabled(),
        "frozen": gc.get_freeze_count(),
        "module": shared_objects.is_immortal(decimal),
        "class": shared_objects.is_immortal(decimal.Decimal),
        "untracked_string": shared_objects.is_immortal(held["text"]),
        "method": shared_objects.is_immortal(code),
        "later": shared_objects.is_immortal(later),
    }))
"""


def test_this_interpreter_is_one_where_objects_are_made_immortal() -> None:
    assert shared_objects.supported()  # else the tests below would prove nothing on this platform


def test_what_is_built_for_the_children_is_immortal_and_frozen_and_what_comes_later_is_not() -> None:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(PROBE)], capture_output=True, text=True, check=True)
    found = json.loads(done.stdout)
    assert found == {
        "collecting_meanwhile": False,
        "collecting_after": True,
        "frozen": found["frozen"],
        "module": True,
        "class": True,
        "untracked_string": True,
        "method": True,
        "later": False,
    }
    assert found["frozen"] > 1000


def test_a_handler_finds_the_zygotes_objects_immortal_and_its_own_not() -> None:
    script = """
        import sys
        import flask

        def handler(request):
            mine = object()
            return f"{sys.getrefcount(flask.jsonify) >= 2**31 - 1} {sys.getrefcount(mine) >= 2**31 - 1}"
    """
    assert text_of(run_script(script)) == "True False"


# What a zygote's warm-up leaves of the request path's code: CPython specializes an instruction on its second
# run and writes it into its code object, a page each child would otherwise copy.
SPECIALIZED = """
    import dis
    import json
    from httpendpoint.sandbox import child_run, zygote_server

    zygote_server.warm_up()
    code = child_run.get_environ_v1.__code__
    plain = [each.opname for each in dis.get_instructions(code)]
    adaptive = [each.opname for each in dis.get_instructions(code, adaptive=True)]
    print(json.dumps(sum(one != other for one, other in zip(adaptive, plain, strict=True))))
"""


def test_the_zygotes_warm_up_leaves_the_request_paths_code_specialized() -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SPECIALIZED)], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) >= 20  # after a single run, 1
