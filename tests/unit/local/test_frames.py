"""Frames between the local stack's processes: a JSON header line, then the payload as it is."""

from __future__ import annotations

import io

import pytest

from httpep.local.frames import read_frame, write_frame


def test_frames_cross_one_after_another_with_payloads_as_they_are() -> None:
    stream = io.BytesIO()
    payloads = [b'{"text": "line\\nline"}\n\n', b"", "é€😀".encode()]
    for n, payload in enumerate(payloads):
        write_frame(stream, {"n": n}, payload)
    stream.seek(0)
    assert [read_frame(stream) for _ in payloads] == [({"n": n}, payload) for n, payload in enumerate(payloads)]
    assert read_frame(stream) is None  # the other end closed


@pytest.mark.parametrize(
    "raw", [b'{"size": 3}', b'{"size": 5}\nabc', b"not json\n", b'{"no size": 1}\n', b'{"size": "x"}\n', b"[]\n"]
)
def test_a_frame_cut_off_or_garbled_is_none(raw: bytes) -> None:
    assert read_frame(io.BytesIO(raw)) is None
