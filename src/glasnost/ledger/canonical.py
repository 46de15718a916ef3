"""Canonical JSON: the one byte string every log entry is hashed as.

The rules (compatible with RFC 8785, the JSON Canonicalization Scheme, for every value within
I-JSON; see the note on integers):

* **Encoding**: UTF-8, no byte order mark. Strings must be valid Unicode (no lone surrogates).
* **Whitespace**: none outside strings. Separators are exactly ``,`` and ``:``.
* **Objects**: keys must be strings and unique; members are sorted by their keys compared as
  sequences of UTF-16 code units (as RFC 8785 does; for keys within the Basic Multilingual Plane
  this is plain code point order).
* **Strings**: ``"`` and ``\\`` are escaped as ``\\"`` and ``\\\\``; the control characters
  U+0008, U+0009, U+000A, U+000C, U+000D as ``\\b \\t \\n \\f \\r``; every other character below
  U+0020 as ``\\u00xx`` with lower-case hex digits; every other character, including non-ASCII,
  is written as itself.
* **Literals**: ``true``, ``false``, ``null``.
* **Integers** (Python ``int`` and other integral numbers, not ``bool``): their exact decimal digits,
  with a leading ``-`` if negative, whatever their size. (RFC 8785 treats every number as an IEEE 754
  double; the two agree for integers of magnitude at most 2**53, which is all I-JSON allows.)
* **Floats**: must be finite (NaN and infinities are refused). A float is written as ECMAScript's
  ``Number.prototype.toString`` writes the same double (as RFC 8785 requires): the shortest decimal
  digits that read back as exactly this double; plain notation when the decimal exponent lies in
  [-6, 21), exponent notation ``d.ddde+N`` / ``d.ddde-N`` otherwise; no trailing zeros, so an
  integral float is written without a fraction (``1.0`` as ``1``, ``1e21`` as ``1e+21``);
  ``-0.0`` as ``0``.

So canonicalising is idempotent: parsing canonical JSON with :func:`json.loads` and writing it again
gives the same bytes (``1.0`` reads back as the integer ``1``, which is written ``1`` again).
"""

from __future__ import annotations

import json
import math
import numbers
import re
from decimal import Decimal
from typing import Any

import orjson

from glasnost.ledger.errors import CanonicalJSONError

__all__ = ["canonical_json", "format_float", "parse_canonical"]


def format_float(x: float) -> str:
    """Write a finite double as ECMAScript's ``Number.prototype.toString`` does (RFC 8785, 3.2.2.3).

    Parameters
    ----------
    x
        A finite float.

    Returns
    -------
    str
        The canonical decimal form, e.g. ``1`` for 1.0, ``0.1``, ``1e+21``, ``1.5e-7``.
    """
    if x == 0:
        return "0"
    r = repr(x)
    if "e" not in r and "n" not in r:  # plain repr (1e-4 <= |x| < 1e16): same digits, same notation
        return r[:-2] if r.endswith(".0") else r
    return _format_float_exact(x)


def _format_float_exact(x: float) -> str:
    """ECMAScript's algorithm step by step, from the shortest round-trip digits."""
    if not math.isfinite(x):
        raise CanonicalJSONError(f"{x!r} is not a finite number and has no JSON form")
    if x == 0:
        return "0"
    if x < 0:
        return "-" + _format_float_exact(-x)
    # repr gives the shortest digits that round-trip (the nearest such string when several exist).
    _, digit_tuple, exponent = Decimal(repr(x)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    stripped = len("".join(map(str, digit_tuple))) - len(digits)
    k = len(digits)
    n = int(exponent) + stripped + k  # value = 0.digits x 10**n
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{mantissa}e{sign}{abs(e)}"


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _write(value: Any, path: str, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        _check_string(value, path)
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, numbers.Integral):
        out.append(str(int(value)))
    elif isinstance(value, numbers.Real):
        try:
            out.append(format_float(float(value)))
        except CanonicalJSONError:
            raise CanonicalJSONError(f"{value!r} is not a finite number and has no JSON form", where=path) from None
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise CanonicalJSONError(f"object key {key!r} is not a string", where=path)
            _check_string(key, f"{path} (key {key!r})")
        out.append("{")
        for i, key in enumerate(sorted(value, key=_utf16_key)):
            if i:
                out.append(",")
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            _write(value[key], f"{path}.{key}", out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, f"{path}[{i}]", out)
        out.append("]")
    else:
        raise CanonicalJSONError(f"a {type(value).__name__} has no canonical JSON form", where=path)


def _check_string(s: str, path: str) -> None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalJSONError("string is not valid Unicode (lone surrogate)", where=path) from None


def canonical_json(value: Any) -> bytes:
    """The canonical JSON bytes of a value (see the module's rules).

    Parameters
    ----------
    value
        ``None``, ``bool``, integers, finite floats, ``str``, lists/tuples and dicts with string keys.

    Returns
    -------
    bytes
        UTF-8 canonical JSON.

    Raises
    ------
    CanonicalJSONError
        For a value with no canonical form; the message names its path (``$.a[2]``).
    """
    out: list[str] = []
    try:
        _fast(value, out.append)
    except (CanonicalJSONError, TypeError, ValueError, AttributeError, UnicodeEncodeError):
        out = []
        _write(value, "$", out)  # again, keeping track of the path, to name the value at fault
    return "".join(out).encode("utf-8")


_dumps = json.JSONEncoder(ensure_ascii=False).encode
_quote = json.encoder.encode_basestring  # what _dumps does for one str, without the call overhead


def _fast(value: Any, put: Any) -> None:
    """:func:`_write` without keeping the path (raises a bare error; the caller then names the place)."""
    if value is None:
        put("null")
    elif value is True:
        put("true")
    elif value is False:
        put("false")
    elif type(value) is str:
        value.encode("utf-8")
        put(_dumps(value))
    elif type(value) is int:
        put(str(value))
    elif type(value) is float:
        put(format_float(value))
    elif type(value) is dict:
        text = _number_map(value)
        if text is not None:
            put(text)
            return
        if "".join(value).isascii():  # (a key that is not a str raises TypeError here)
            keys = sorted(value)  # ASCII: code point order is UTF-16 order, and no lone surrogate
        else:
            keys = sorted(value, key=_utf16_key)
            for key in keys:
                if type(key) is not str:
                    raise TypeError("key")
                key.encode("utf-8")
        put("{")
        first = True
        for key in keys:
            if not first:
                put(",")
            first = False
            put(_quote(key))
            put(":")
            item = value[key]
            if type(item) is float:  # a proposal's quantities: the bulk of what the log hashes
                put(format_float(item))
            else:
                _fast(item, put)
        put("}")
    elif type(value) is list or type(value) is tuple:
        kinds = set(map(type, value))
        if kinds == {str}:  # a column of strings, a column of numbers: one join instead of a call per item
            text = ",".join(map(_quote, value))
            text.encode("utf-8")
            put(f"[{text}]")
        elif kinds == {float}:
            put(f"[{','.join(map(format_float, value))}]")
        elif kinds == {float, type(None)}:
            put(f"[{','.join('null' if v is None else format_float(v) for v in value)}]")
        elif kinds == {int}:
            put(f"[{','.join(map(str, value))}]")
        else:
            put("[")
            for i, item in enumerate(value):
                if i:
                    put(",")
                _fast(item, put)
            put("]")
    else:
        raise TypeError("other type")  # numpy scalars, subclasses and the rest take the careful path


_NUMBERS = ({float}, {int}, {float, int})
# a number orjson spells otherwise than ECMAScript: an integral float ("3.0", "-0.0") or one in
# exponent notation ("1e16", "1e-7", "1.5e300"); every other float it spells the same (checked on
# 2.6 million doubles, random bits and every decade; tests/test_ledger_canonical.py)
_RESPELL = re.compile(rb'":(-?[0-9]+\.0|-?[0-9][0-9.]*e[-+]?[0-9]+)(?=[,}])')


def _respell(match: re.Match[bytes]) -> bytes:
    return b'":' + format_float(float(match[1])).encode()


def _number_map(value: dict[Any, Any]) -> str | None:
    """The canonical text of a map of plain keys to numbers (a proposal's quantities, prices), written
    by orjson with the few floats it spells otherwise respelled; None where that way does not apply:
    a key that is not printable ASCII or holds a quote or a backslash (orjson's key order and
    escapes then need checking), a value that is not an int or a float, an integer beyond 64 bits,
    a float that is not finite (orjson writes null: the careful way refuses it)."""
    if len(value) < 2 or set(map(type, value.values())) not in _NUMBERS:
        return None
    keys = "".join(value)  # (a key that is not a str raises TypeError: the careful way names it)
    if not (keys.isascii() and keys.isprintable()) or '"' in keys or "\\" in keys:
        return None
    try:
        data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return None
    if b'":null' in data:
        return None
    return _RESPELL.sub(_respell, data).decode()


def parse_canonical(data: bytes, *, where: str | None = None) -> Any:
    """Parse bytes that must be canonical JSON; raise if they are not exactly canonical.

    Parameters
    ----------
    data
        The bytes.
    where
        Named in the error (an entry, a line).

    Raises
    ------
    CanonicalJSONError
        If the bytes are not UTF-8 JSON, or not in canonical form.
    """
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise CanonicalJSONError(f"not valid UTF-8 JSON ({exc})", where=where) from None
    if canonical_json(value) != data:
        raise CanonicalJSONError("JSON is not in canonical form", where=where)
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
