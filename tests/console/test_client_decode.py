"""The client reads every reply exactly as `json.loads` would, though orjson parses most of them."""

from __future__ import annotations

import json
import math

import pytest

from cstp.client.http import _decode

CASES = [
    b'{"result":{"lines":[{"a":1.0,"b":[1e-7,0.1,1e308,-0.0]}]},"id":1}',
    b'{"n": 18446744073709551616, "m": -9223372036854775809, "k": 123456789012345678901234567890}',
    b'{"s": "digits 12345678901234567890 inside a string", "f": 0.1234567890123456789}',
    '{"u": "漢字 \\u00e9 \\ud83d\\ude00"}'.encode(),
]


@pytest.mark.parametrize("content", CASES)
def test_decode_gives_what_json_gives(content: bytes) -> None:
    got, expected = _decode(content), json.loads(content)
    assert got == expected and repr(got) == repr(expected)


def test_an_integer_beyond_64_bits_stays_an_exact_integer() -> None:
    value = _decode(b'{"n": 18446744073709551616}')["n"]
    assert isinstance(value, int) and value == 2**64


def test_what_only_json_reads_is_still_read() -> None:
    assert math.isnan(_decode(b'{"x": NaN}')["x"])
    with pytest.raises(ValueError):
        _decode(b"not json")
