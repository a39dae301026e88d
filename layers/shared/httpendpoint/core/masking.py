"""Secret values out of anything the service records or logs of a handler's output."""

from __future__ import annotations

from collections.abc import Iterable

MASK = "***"


def mask_secrets(text: str, values: Iterable[str]) -> str:
    """`text` with every occurrence of every non-empty value in `values` replaced by `***`.

    Longest first, so a secret that contains another is masked whole. Mask before cutting a text to a tail:
    a cut through a secret would otherwise leave a piece of it.
    """
    for value in sorted({value for value in values if value}, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text
