"""A rule every text a client names things with shares (drive paths, header prefixes)."""

from __future__ import annotations

LONE_SURROGATE = "must be text (it holds a lone surrogate)"


def require_encodable(value: str) -> None:
    """Raise ValueError if `value` holds a lone surrogate: half of a UTF-16 pair, which JSON can spell (`\\ud800`)
    but no UTF-8 name, key or header can hold."""
    if value.isascii():
        return
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError(LONE_SURROGATE) from None
