"""The one compile-and-handler check of a handler script: compile it (never run it) and find its handler.

Registering an endpoint, the router's script cache and the sandbox's code cache all call
`check_handler_source`; each words the result for its own audience, from the same facts.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from types import CodeType

HANDLER_NAME = "handler"

CompileError = SyntaxError | ValueError | RecursionError | MemoryError
# The handler problem of a script with no top-level `def handler`.
NO_HANDLER = "is not defined at the top level"


@dataclass(frozen=True)
class CompiledScript:
    """What compiling a script found: its code, or why it does not compile; and whether `handler(request)` works."""

    filename: str
    code: CodeType | None = None  # None when the script does not compile
    error: CompileError | None = None  # why it does not compile
    handler_problem: str | None = None  # why `handler(request)` cannot be called, e.g. "is an 'async def'"

    @property
    def usable(self) -> bool:
        return self.code is not None and self.handler_problem is None

    def problem(self, where: str) -> str | None:
        """Why the script cannot serve requests, as a sentence about `where` (e.g. "handler_script_path: /a/b.py")."""
        exc = self.error
        if isinstance(exc, SyntaxError):
            line = f" at line {exc.lineno}" if exc.lineno else ""
            return f"{where} has a syntax error{line}: {exc.msg}"
        if exc is not None:
            # Null bytes, undecodable text, or nesting too deep for the compiler.
            return f"{where} cannot be compiled: {type(exc).__name__}: {exc}"
        if self.handler_problem == NO_HANDLER:
            return f"{where} does not define a top-level function 'def {HANDLER_NAME}(request)'"
        if self.handler_problem is not None:
            return f"{where}: '{HANDLER_NAME}' {self.handler_problem}"
        return None


def check_handler_source(source: bytes | str, filename: str) -> CompiledScript:
    """Parse and compile `source` (it is never executed) and look for a top-level `def handler(request)`.

    Bytes honour a PEP 263 encoding declaration; `filename` is what tracebacks and syntax errors name.
    """
    try:
        tree = ast.parse(source, filename=filename)
        # Some errors (e.g. 'return' outside a function) only surface when the tree is compiled.
        # dont_inherit: this module's own `from __future__` imports must not change the user's code.
        code = compile(tree, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        # The traceback would keep this frame (and the source) alive for as long as the result is cached.
        return CompiledScript(filename, error=exc.with_traceback(None))
    return CompiledScript(filename, code=code, handler_problem=_handler_problem(tree))


def _handler_problem(tree: ast.Module) -> str | None:
    handlers = [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == HANDLER_NAME
    ]
    if not handlers:
        return NO_HANDLER
    # Python binds the last definition, so that is the one the sandbox will call.
    handler = handlers[-1]
    if isinstance(handler, ast.AsyncFunctionDef):
        return "must be a plain 'def', not 'async def'"
    if not _accepts_one_positional(handler.args):
        return "must accept the request as its only required argument"
    return None


def _accepts_one_positional(arguments: ast.arguments) -> bool:
    """Whether `handler(request)` is a valid call for this signature."""
    positional = [*arguments.posonlyargs, *arguments.args]
    required = len(positional) - len(arguments.defaults)
    required_keyword_only = [default for default in arguments.kw_defaults if default is None]
    return required <= 1 and (len(positional) >= 1 or arguments.vararg is not None) and not required_keyword_only
