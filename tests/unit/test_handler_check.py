"""The one compile-and-handler check: the facts every caller words for its own audience."""

from __future__ import annotations

from types import CodeType

import pytest

from httpendpoint.handler_check import NO_HANDLER, check_handler_source


def test_a_usable_script_has_code_and_no_problem() -> None:
    compiled = check_handler_source("def handler(request):\n    return 'x'\n", "/a/hello.py")
    assert compiled.usable and compiled.code is not None and compiled.error is None
    assert compiled.code.co_filename == "/a/hello.py"
    assert compiled.problem("the script") is None


def test_bytes_honour_an_encoding_declaration() -> None:
    source = "# -*- coding: latin-1 -*-\ndef handler(request):\n    return 'caf\xe9'\n".encode("latin-1")
    compiled = check_handler_source(source, "hello.py")
    assert compiled.usable and compiled.code is not None
    handler = next(const for const in compiled.code.co_consts if isinstance(const, CodeType))
    assert "café" in handler.co_consts


def test_a_syntax_error_names_the_file_and_line() -> None:
    compiled = check_handler_source("x = 1\ndef handler(:\n", "/a/hello.py")
    assert isinstance(compiled.error, SyntaxError) and compiled.code is None and not compiled.usable
    assert "(hello.py, line 2)" in str(compiled.error)
    assert compiled.error.__traceback__ is None  # nothing of the checker's frames is kept in a cache
    assert compiled.problem("file /a/hello.py") == "file /a/hello.py has a syntax error at line 2: invalid syntax"


@pytest.mark.parametrize(
    ("source", "problem", "sentence"),
    [
        ("x = 1\n", NO_HANDLER, "S does not define a top-level function 'def handler(request)'"),
        ("async def handler(request):\n    pass\n", "must be a plain 'def', not 'async def'", None),
        ("def handler(a, b):\n    pass\n", "must accept the request as its only required argument", None),
    ],
)
def test_handler_problems_compile_but_are_not_usable(source: str, problem: str, sentence: str | None) -> None:
    compiled = check_handler_source(source, "s.py")
    assert compiled.code is not None and compiled.error is None and not compiled.usable
    assert compiled.handler_problem == problem
    assert compiled.problem("S") == (sentence or f"S: 'handler' {problem}")
