"""Text from callers and handlers, made safe to print on a terminal.

A URL, a drive path or a handler's output is a stranger's text: printed raw, a control character, an escape
sequence or one of Unicode's line separators could split a line, forge one, or redraw the screen. What the
console and `httpep logs` print of it goes through here: lines end only at `\\n`, `\\r\\n` or `\\r`, and every other
character that is not printable is shown as its Python escape (`\\x1b`, `\\u2028`); a tab is kept. JSON keeps
its meaning: such characters are written as JSON's own `\\uXXXX` escapes instead.
"""

from __future__ import annotations

import json
import re
from typing import Any

LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _escaped(char: str) -> str:
    return char if char.isprintable() or char == "\t" else char.encode("unicode_escape").decode()


def printable(text: str) -> str:
    """`text` on one line, with every character that is not printable (but a tab) escaped."""
    if text.isprintable():  # the common case, at C speed
        return text
    return "".join(map(_escaped, text))


def printable_lines(text: str) -> list[str]:
    """`text` as printable lines: split at line breaks only, without the empty line after a final one."""
    lines = LINE_BREAK.split(text)
    if lines[-1] == "":
        lines.pop()
    return [printable(line) for line in lines]


def _json_escaped(char: str) -> str:
    return char if char.isprintable() else json.dumps(char)[1:-1]


def json_text(value: Any, indent: int | None = None) -> str:
    """`value` as JSON text that is safe to print: the same value, with what is not printable `\\u`-escaped."""
    lines = json.dumps(value, indent=indent, ensure_ascii=False).split("\n")  # a newline in a string is `\\n`
    return "\n".join(line if line.isprintable() else "".join(map(_json_escaped, line)) for line in lines)
