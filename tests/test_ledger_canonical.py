"""Canonical JSON: exact bytes for known values (RFC 8785 number spellings), idempotence, refusals."""

from __future__ import annotations

import json
import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasnost.ledger import CanonicalJSONError, canonical_json, format_float, parse_canonical

# Doubles by their IEEE 754 bits and ECMAScript's Number.prototype.toString of them (RFC 8785 appendix B).
ECMA_NUMBERS = [
    (0x0000000000000000, "0"),
    (0x8000000000000000, "0"),
    (0x0000000000000001, "5e-324"),
    (0x7FEFFFFFFFFFFFFF, "1.7976931348623157e+308"),
    (0x3EB0C6F7A0B5ED8D, "0.000001"),
    (0x3EB0C6F7A0B5ED8C, "9.999999999999997e-7"),
    (0x3EB0C6F7A0B5ED8E, "0.0000010000000000000002"),
    (0x444B1AE4D6E2EF50, "1e+21"),
    (0x444B1AE4D6E2EF4F, "999999999999999900000"),
    (0x444B1AE4D6E2EF51, "1.0000000000000001e+21"),
]


def from_bits(bits: int) -> float:
    return struct.unpack(">d", bits.to_bytes(8, "big"))[0]


@pytest.mark.parametrize(("bits", "text"), ECMA_NUMBERS)
def test_float_spelling_is_ecmascripts(bits: int, text: str) -> None:
    assert format_float(from_bits(bits)) == text
    assert canonical_json([from_bits(bits)]) == f"[{text}]".encode()


@settings(max_examples=500, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False) | st.floats(-1e17, 1e17))
def test_the_shortcut_for_plain_floats_agrees_with_the_full_algorithm(x: float) -> None:
    from glasnost.ledger.canonical import _format_float_exact

    assert format_float(x) == _format_float_exact(x)
    assert float(format_float(x)) == x


def test_plain_numbers() -> None:
    assert canonical_json([1.0, -2.5, 0.1, 1e-7, 2e-3, 100.0, 1e20, -0.0, 3, -7, 2**70]) == (
        b"[1,-2.5,0.1,1e-7,0.002,100,100000000000000000000,0,3,-7,1180591620717411303424]"
    )


def test_objects_strings_and_whitespace() -> None:
    value = {"b": 1, "a": [True, False, None], "c": 'é\n\u0001"\\/', "€": {}, "\ue000": 1, "😀": 2}
    assert canonical_json(value) == (
        '{"a":[true,false,null],"b":1,"c":"é\\n\\u0001\\"\\\\/","€":{},"😀":2,"\ue000":1}'.encode()
    )
    # keys by UTF-16 code units: U+20AC, then U+1F600 (surrogates D83D DE00), then U+E000
    assert canonical_json({"\ue000": 1, "😀": 2}) == '{"😀":2,"\ue000":1}'.encode()


def test_tuples_are_lists() -> None:
    assert canonical_json({"t": (1, 2)}) == b'{"t":[1,2]}'


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"a": [1, math.nan]}, r"\$\.a\[1\]"),
        ({"a": {"b": math.inf}}, r"\$\.a\.b"),
        ({1: 2}, r"\$"),
        ({"s": {1, 2}}, r"\$\.s"),
        (["\ud800"], r"\$\[0\]"),
    ],
)
def test_values_without_canonical_form_are_refused_naming_the_path(value: object, path: str) -> None:
    with pytest.raises(CanonicalJSONError, match=path):
        canonical_json(value)


def test_parse_refuses_non_canonical_bytes() -> None:
    assert parse_canonical(b'{"a":1}') == {"a": 1}
    for bad in (b'{"a": 1}', b'{"b":1,"a":2}', b"[1.0]", b'"\\u00e9"', b"\xff", b"NaN"):
        with pytest.raises(CanonicalJSONError, match="entry 4"):
            parse_canonical(bad, where="entry 4")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(exclude_categories=["Cs"]), max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_canonical_json_is_idempotent_and_exact(value: object) -> None:
    data = canonical_json(value)
    parsed = json.loads(data)
    assert canonical_json(parsed) == data
    assert parse_canonical(data) == parsed
    # numbers survive as the same doubles (integers exactly)
    assert json.loads(data) == json.loads(json.dumps(value)) or _floats_equal(json.loads(data), value)


def _floats_equal(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_floats_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_floats_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(b, bool):
        return float(a) == float(b)
    return a == b


def _careful(value: object) -> bytes:
    """The canonical bytes by the careful, path-keeping writer alone (the second method)."""
    from glasnost.ledger.canonical import _write

    out: list[str] = []
    _write(value, "$", out)
    return "".join(out).encode("utf-8")


number_maps = st.dictionaries(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=6)
    | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=6),
    st.floats(allow_nan=False, allow_infinity=False)
    | st.integers()
    | st.integers(-(2**63), 2**63 - 1).map(float)
    | st.sampled_from([0.0, -0.0, 1e21, 1e20, 1e16, 1e15, 1e-6, 1e-7, 5e-324, 1.7976931348623157e308, 3.0]),
    min_size=2,
    max_size=12,
)


@settings(max_examples=500, deadline=None)
@given(number_maps)
def test_maps_of_numbers_written_by_orjson_equal_the_careful_writer(value: dict[str, float | int]) -> None:
    """A map of plain keys to numbers (a proposal's quantities) takes a faster way through orjson
    with its integral and exponent floats respelled; its bytes equal the careful writer's."""
    assert canonical_json(value) == _careful(value)
    assert canonical_json({"payload": value, "kind": "proposal"}) == _careful({"payload": value, "kind": "proposal"})


def test_the_number_map_way_respells_and_refuses_as_the_careful_one() -> None:
    value = {"b": 1.0, "a": -0.0, "c": 1e21, "d": 1e16, "e": 1e-7, "f": 0.000001, "g": 2**63 - 1, "h": 12.5}
    assert canonical_json(value) == (
        b'{"a":0,"b":1,"c":1e+21,"d":10000000000000000,"e":1e-7,"f":0.000001,"g":9223372036854775807,"h":12.5}'
    )
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(CanonicalJSONError, match=r"\$\.x"):
            canonical_json({"w": 1.5, "x": bad})
    for keys in (('a"b', "c"), ("a\\b", "c"), ("\u00e9", "e"), ("\U0001f600", "\uffff"), ("a\x7f", "b"), ("a\n", "b")):
        value = dict.fromkeys(keys, 2.5)
        assert canonical_json(value) == _careful(value)
    assert canonical_json({"big": 2**64, "x": 1.5}) == b'{"big":18446744073709551616,"x":1.5}'
