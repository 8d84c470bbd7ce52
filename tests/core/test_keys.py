"""Key encoding: reversible, distinct, and unable to escape its folder."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from session_storage import InvalidKeyError
from session_storage.core.keys import (
    decode_filename,
    decode_segment,
    encode_filename,
    encode_segment,
)

SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.%")
keys = st.text(min_size=1, max_size=80)


@given(keys)
def test_any_text_round_trips(value: str) -> None:
    assert decode_segment(encode_segment(value)) == value


@given(keys)
def test_encoded_segments_are_safe(value: str) -> None:
    encoded = encode_segment(value)
    assert encoded not in (".", "..")
    assert "/" not in encoded and "\\" not in encoded
    assert not encoded.startswith(".")
    assert set(encoded) <= SAFE


@given(keys, keys)
def test_distinct_inputs_give_distinct_keys(a: str, b: str) -> None:
    if a != b:
        assert encode_segment(a) != encode_segment(b)


@given(st.lists(keys.filter(lambda s: "/" not in s), min_size=1, max_size=4))
def test_filenames_round_trip_segment_by_segment(parts: list[str]) -> None:
    name = "/".join(parts)
    encoded = encode_filename(name)
    assert encoded.count("/") == len(parts) - 1
    assert decode_filename(encoded) == name


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("user-42_a.b", "user-42_a.b"),
        ("../x", "%2E.%2Fx"),
        (".", "%2E"),
        ("a/b", "a%2Fb"),
        ("a\\b", "a%5Cb"),
        ("\x00", "%00"),
        ("☃", "%E2%98%83"),
        ("a~b", "a%7Eb"),
        ("100%", "100%25"),
    ],
)
def test_known_encodings(value: str, encoded: str) -> None:
    assert encode_segment(value) == encoded
    assert decode_segment(encoded) == value


@pytest.mark.parametrize("name", [".tmp123", "a~b", "a%2Db", "a%2fb", "%", "%ZZ", "%FF", ""])
def test_names_we_did_not_write_decode_as_none(name: str) -> None:
    assert decode_segment(name) is None


@pytest.mark.parametrize("bad", ["", None, 3, b"x"])
def test_empty_or_non_str_keys_are_refused(bad: object) -> None:
    with pytest.raises(InvalidKeyError) as info:
        encode_segment(bad, "session id")  # type: ignore[arg-type]
    assert "session id" in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("bad", ["a//b", "/a", "a/", "/"])
def test_filenames_with_empty_segments_are_refused(bad: str) -> None:
    with pytest.raises(InvalidKeyError, match="empty path segment"):
        encode_filename(bad)
