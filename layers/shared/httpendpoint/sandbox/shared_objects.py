"""The zygote's objects, made cheap to share with the children it forks.

A child is a copy-on-write copy of the zygote: each page it writes to is copied, at a page fault, and the copy
is freed when it exits. Reading a Python object writes to it (its reference count), so a handler touching
Flask, Werkzeug and our own code copies most of the heap it reads: about 900 page faults per request, on a
VM where each costs several microseconds. Two things stop those writes:

- the collector: off while the zygote imports and warms up (it would free objects and leave holes in pages
  that a child's new objects fill), then frozen (it never scans, and so never writes to, what exists then);
- immortal objects (CPython 3.12+, PEP 683): their reference count is never written. CPython makes its own
  static objects immortal; here every object the zygote holds becomes one, as CPython would mark it.

That halves the pages a child copies (and the zygote's own faults after each fork). An immortal object is
never freed, which is what the zygote wants of what it holds from start-up; objects made later (a request's)
are not affected. Cyclic garbage left by the imports is kept too (its finalizers never run): a little memory,
and the zygote opens nothing that only a finalizer would close. Elsewhere (another interpreter or version)
only the collector is frozen.
"""

from __future__ import annotations

import ctypes
import gc
import sys
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager

# CPython 3.12 and 3.13, 64-bit little-endian (Lambda's x86_64 and arm64), with the GIL: an object is immortal
# when the low 32 bits of its reference count, read as a signed number, are negative; CPython then sets the
# count to this value. Later versions and the free-threaded build keep immortality elsewhere: left alone.
IMMORTAL_REFCOUNT = 0xFFFFFFFF
_SUPPORTED = (
    sys.implementation.name == "cpython"
    and (3, 12) <= sys.version_info[:2] <= (3, 13)
    and sys.maxsize > 2**32
    and sys.byteorder == "little"
    and not sysconfig.get_config_var("Py_GIL_DISABLED")
)


def supported() -> bool:
    return _SUPPORTED


def is_immortal(value: object) -> bool:
    return _SUPPORTED and ctypes.c_int32.from_address(id(value)).value < 0


@contextmanager
def built_for_children() -> Iterator[None]:
    """Around building what the children share (imports, warm-up): the collector stays off meanwhile, so
    that it frees nothing and leaves no holes a child would fill (and so copy); then every object the
    collector tracks, and what they refer to, becomes immortal (where supported) and the collector is frozen
    and on again."""
    gc.disable()
    try:
        yield
    finally:
        _make_immortal()
        gc.freeze()
        gc.enable()


def _make_immortal() -> None:
    if not _SUPPORTED:
        return
    # Down to what the collector does not track (strings, numbers, code objects, tuples of those); an
    # immortal object was already seen.
    pending = gc.get_objects()
    while pending:
        value = pending.pop()
        if is_immortal(value):
            continue
        ctypes.c_ssize_t.from_address(id(value)).value = IMMORTAL_REFCOUNT
        pending += gc.get_referents(value)
