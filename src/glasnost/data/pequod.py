"""The published participatory-planning experiments (``dep1exNN.clj.gz``) and experiments like them.

The files are Clojure source holding EDN data: ``(def ccs [...])``, a vector of consumer council
maps, and ``(def wcs [...])``, a vector of worker council maps (keys in
``shared/specs/participatory-procedure.md``). :func:`read_edn` reads the subset of EDN they use
(lists, vectors, maps, keywords, symbols, numbers, strings, booleans, nil, comments);
:func:`load_experiment` turns a file into a :class:`~glasnost.procedures.hahnel.HahnelEconomy`
whose commodities are ``private-good-N``, ``intermediate-good-N``, ``natural-resource-N``,
``labor-N`` and ``public-good-N`` (numbered from 1), worker councils ``wc-N`` and consumer councils
``cc-N`` (numbered from 1 in file order). :func:`generate_experiment` makes experiments of any size
with the published experiments' parameter ranges.

Malformed input raises :class:`PequodError`, which names the file, the line and the council.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from glasnost.economy import Commodities, Councils, EconomyError, Kind
from glasnost.economy.model import STRING
from glasnost.procedures.hahnel import HahnelEconomy, WorkerCouncils

__all__ = [
    "KINDS",
    "EdnError",
    "Keyword",
    "PequodError",
    "Symbol",
    "commodity_ids",
    "generate_experiment",
    "load_experiment",
    "read_edn",
    "read_experiment",
]

KINDS: tuple[tuple[str, Kind], ...] = (
    ("private-good", Kind.GOOD),
    ("intermediate-good", Kind.GOOD),
    ("natural-resource", Kind.RESOURCE),
    ("labor", Kind.LABOUR),
    ("public-good", Kind.PUBLIC_GOOD),
)
"""Commodity id prefixes and kinds, in the order of the commodity table (and of the published CSVs)."""

ENDOWMENT = 1000.0
"""Supply of every natural resource and labour type in the published experiments."""


# ---- EDN -----------------------------------------------------------------------------------------


class Keyword(str):
    """An EDN keyword (``:income`` is ``Keyword("income")``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f":{self!s}"


class Symbol(str):
    """An EDN symbol (``def``, ``ccs``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


class EdnError(EconomyError):
    """Malformed EDN. ``line`` and ``column`` count from 1; ``frames`` holds, for each form still
    open where the error was found, its opening bracket and the items read so far."""

    def __init__(self, message: str, *, source: str, line: int, column: int, frames: list[tuple[str, list]]):
        self.source, self.line, self.column, self.frames = source, line, column, frames
        super().__init__(message, where=f"{source}, line {line}, column {column}")


_TOKEN = re.compile(r'[()\[\]{}]|"(?:[^"\\]|\\.)*"|;[^\n]*|[^\s,()\[\]{}";]+|[^\s,]')
_CLOSERS = {")": "(", "]": "[", "}": "{"}
_NAMES = {"(": "list", "[": "vector", "{": "map"}
_NUMBER_START = frozenset("0123456789+-")
_CONSTANTS: dict[str, Any] = {"true": True, "false": False, "nil": None}
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}


def _position(text: str, token_index: int) -> tuple[int, int]:
    """Line and column (from 1) of the token with this index (slow: only for error messages)."""
    offset = len(text)
    for k, match in enumerate(_TOKEN.finditer(text)):
        if k == token_index:
            offset = match.start()
            break
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _string(token: str) -> str:
    body = token[1:-1]
    if "\\" not in body:
        return body
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def _build(opener: str, items: list) -> Any:
    if opener == "[":
        return items
    if opener == "(":
        return tuple(items)
    if len(items) % 2:
        raise ValueError(f"a map needs an even number of forms, this one has {len(items)}")
    bad = [k for k in items[::2] if isinstance(k, list | dict)]
    if bad:
        raise ValueError(f"a map's key is a {'vector' if isinstance(bad[0], list) else 'map'}; keys are keywords")
    out = dict(zip(items[::2], items[1::2], strict=True))
    if len(out) != len(items) // 2:
        raise ValueError("a map has the same key twice")
    return out


def read_edn(text: str, *, source: str = "<edn>") -> list[Any]:
    """Read every top-level form of ``text``.

    Lists become tuples, vectors lists, maps dicts, keywords :class:`Keyword`, symbols
    :class:`Symbol`; integers ``int``, other numbers ``float``. Raises :class:`EdnError`
    (with line, column and the open forms) for anything malformed or outside the subset.
    """
    tokens = _TOKEN.findall(text)
    frames: list[tuple[str, list, int]] = []
    items: list[Any] = []
    keywords: dict[str, Keyword] = {}
    index = 0

    def fail(message: str, at: int) -> EdnError:
        line, column = _position(text, at)
        # frames hold each open form's *parent* items; pair every opener with its own items
        contents = [f[1] for f in frames[1:]] + [items] if frames else []
        opened = [(f[0], own) for f, own in zip(frames, contents, strict=True)]
        return EdnError(message, source=source, line=line, column=column, frames=opened)

    try:
        for index, token in enumerate(tokens):
            c = token[0]
            if c in _NUMBER_START and (c not in "+-" or (len(token) > 1 and token[1].isdigit())):
                if "." in token or "e" in token or "E" in token:
                    items.append(float(token))
                else:
                    items.append(int(token.removesuffix("N")))
            elif c == ":":
                kw = keywords.get(token)
                if kw is None:
                    if len(token) < 2:
                        raise fail("a keyword needs a name after ':'", index)
                    kw = keywords[token] = Keyword(token[1:])
                items.append(kw)
            elif c in "([{":
                frames.append((c, items, index))
                items = []
            elif c in _CLOSERS:
                if not frames:
                    raise fail(f"unexpected '{c}': nothing is open", index)
                opener, parent, start = frames[-1]
                if _CLOSERS[c] != opener:
                    raise fail(f"'{c}' closes the {_NAMES[opener]} opened with '{opener}'", index)
                try:
                    value = _build(opener, items)
                except ValueError as exc:
                    raise fail(str(exc), start) from None
                frames.pop()
                parent.append(value)
                items = parent
            elif c == ";":
                continue
            elif c == '"':
                if len(token) < 2 or not token.endswith('"'):
                    raise fail("a string is not closed", index)
                items.append(_string(token))
            elif token in _CONSTANTS:
                items.append(_CONSTANTS[token])
            elif c == "#" or c == "\\" or c in "`~@^'":
                raise fail(f"{token!r} is outside the EDN subset this reader handles", index)
            else:
                items.append(Symbol(token))
    except ValueError:
        raise fail(f"{tokens[index]!r} is not a number", index) from None
    if frames:
        opener = frames[-1][0]
        raise fail(f"the file ends early, inside a {_NAMES[opener]} ('{opener}' not closed)", len(tokens))
    return items


# ---- the experiment files ---------------------------------------------------------------------


class PequodError(EconomyError):
    """A malformed experiment file: names the file, the line and the council (``council``)."""

    def __init__(self, message: str, *, source: str, line: int | None = None, council: str | None = None):
        self.source, self.line, self.council = source, line, council
        where = source + (f", line {line}" if line else "") + (f", {council}" if council else "")
        super().__init__(message, where=where)


_DEF_LABEL = {"ccs": "consumer council", "wcs": "worker council"}


def commodity_ids(goods_per_kind: int = 10) -> np.ndarray:
    """The commodity ids, in table order: private goods, intermediate goods, natural resources,
    labour types, public goods, each numbered from 1."""
    return np.array([f"{prefix}-{i}" for prefix, _ in KINDS for i in range(1, goods_per_kind + 1)], dtype=STRING)


def _council_line(text: str, def_index: int, council: int) -> int | None:
    """Line on which council ``council`` (from 0) of the ``def_index``-th top-level form begins."""
    depth, form, count = 0, -1, -1
    for match in _TOKEN.finditer(text):
        tok = match.group()
        if tok in ("(", "[", "{"):
            depth += 1
            if depth == 1:
                form += 1
            elif depth == 3 and form == def_index:
                count += 1
                if count == council:
                    return text.count("\n", 0, match.start()) + 1
        elif tok in (")", "]", "}"):
            depth -= 1
    return None


def _decompress(raw: bytes, source: str) -> tuple[str, bool]:
    """Text of a (possibly gzip-compressed) file and whether the compressed stream ended early."""
    truncated = False
    if raw[:2] == b"\x1f\x8b":
        d = zlib.decompressobj(wbits=47)
        try:
            data = d.decompress(raw)
        except zlib.error as exc:
            raise PequodError(f"not a readable gzip file ({exc})", source=source) from None
        truncated = not d.eof
        raw = data
    try:
        return raw.decode("utf-8"), truncated
    except UnicodeDecodeError as exc:
        if truncated:  # a multi-byte character cut off at the end
            return raw[: exc.start].decode("utf-8"), truncated
        raise PequodError(f"not UTF-8 text (byte {exc.start})", source=source) from None


def load_experiment(
    path: str | Path, *, endowment: float = ENDOWMENT, goods_per_kind: int = 10, name: str | None = None
) -> HahnelEconomy:
    """Load a published experiment file (``dep1exNN.clj`` or ``.clj.gz``).

    Parameters
    ----------
    path : the file.
    endowment : supply of every natural resource and labour type (units; the files do not hold
        it, the published experiments use 1000).
    goods_per_kind : how many commodities of each of the five kinds there are (10 published).
    name : name of the economy (default: the file name without suffixes).

    Raises :class:`PequodError` naming the file, line and council for malformed input.
    """
    path = Path(path)
    source = path.name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PequodError(f"cannot read the file ({exc.strerror})", source=str(path)) from None
    text, truncated = _decompress(raw, source)
    label = name or path.name.split(".")[0]
    return read_experiment(
        text, source=source, endowment=endowment, goods_per_kind=goods_per_kind, name=label, truncated=truncated
    )


def read_experiment(
    text: str,
    *,
    source: str = "<experiment>",
    endowment: float = ENDOWMENT,
    goods_per_kind: int = 10,
    name: str = "experiment",
    truncated: bool = False,
) -> HahnelEconomy:
    """Read an experiment from its text (see :func:`load_experiment`)."""
    try:
        forms = read_edn(text, source=source)
    except EdnError as exc:
        raise _edn_error(exc, text, source, truncated) from None
    if truncated:
        raise PequodError("the compressed file ends early (the gzip stream is cut off)", source=source)
    defs: dict[str, tuple[int, list]] = {}
    for i, form in enumerate(forms):
        if isinstance(form, tuple) and len(form) == 3 and form[0] == "def" and isinstance(form[1], Symbol):
            defs[str(form[1])] = (i, form[2])
    for key in ("ccs", "wcs"):
        if key not in defs:
            raise PequodError(f"no (def {key} [...]): the {_DEF_LABEL[key]}s are missing", source=source)
        if not isinstance(defs[key][1], list):
            raise PequodError(f"(def {key} ...) does not hold a vector", source=source)
    reader = _Reader(text, source, goods_per_kind, defs)
    consumers = reader.consumers(*defs["ccs"])
    workers = reader.workers(*defs["wcs"])
    supply = np.zeros(5 * goods_per_kind)
    supply[2 * goods_per_kind : 4 * goods_per_kind] = endowment
    kinds = np.repeat(np.array([k for _, k in KINDS], dtype=np.uint8), goods_per_kind)
    commodities = Commodities.build(commodity_ids(goods_per_kind), kinds=kinds, supply=supply)
    return HahnelEconomy(commodities, workers, consumers, name=name)


def _edn_error(exc: EdnError, text: str, source: str, truncated: bool) -> PequodError:
    council = None
    frames = exc.frames
    if len(frames) >= 2 and frames[0][0] == "(":
        head = frames[0][1]
        if len(head) >= 2 and head[0] == "def" and str(head[1]) in _DEF_LABEL and frames[1][0] == "[":
            council = f"{_DEF_LABEL[str(head[1])]} {len(frames[1][1]) + 1}"
    message = str(exc).removeprefix(f"{exc.where}: ")
    if truncated:
        message = "the compressed file ends early (the gzip stream is cut off); " + message
    return PequodError(
        f"malformed EDN at column {exc.column}: {message}", source=source, line=exc.line, council=council
    )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Reader:
    """Turns the council maps into arrays, naming the council (and its line) in every error."""

    def __init__(self, text: str, source: str, per_kind: int, defs: dict[str, tuple[int, list]]) -> None:
        self.text, self.source, self.per_kind, self.defs = text, source, per_kind, defs

    def error(self, key: str, index: int, message: str) -> PequodError:
        def_index = self.defs[key][0]
        return PequodError(
            message,
            source=self.source,
            line=_council_line(self.text, def_index, index),
            council=f"{_DEF_LABEL[key]} {index + 1}",
        )

    def field(self, key: str, index: int, council: Any, name: str) -> Any:
        if not isinstance(council, dict):
            raise self.error(key, index, f"is a {type(council).__name__}, not a map")
        try:
            return council[Keyword(name)]
        except KeyError:
            raise self.error(key, index, f"has no :{name}") from None

    def scalar(self, key: str, index: int, council: Any, name: str, *, positive: bool = True) -> float:
        value = self.field(key, index, council, name)
        if not _number(value):
            raise self.error(key, index, f":{name} is {value!r}, not a number")
        if positive and not value > 0:
            raise self.error(key, index, f":{name} is {value}; it must be above 0")
        return float(value)

    def numbers(self, key: str, index: int, council: Any, name: str, length: int | None, *, strict: bool) -> list:
        value = self.field(key, index, council, name)
        if not isinstance(value, list) or not all(_number(v) for v in value):
            raise self.error(key, index, f":{name} must be a vector of numbers, got {value!r}"[:300])
        if length is not None and len(value) != length:
            raise self.error(key, index, f":{name} has {len(value)} entries, expected {length}")
        for pos, v in enumerate(value):
            if v < 0 or (strict and v == 0) or v != v:
                need = "above 0" if strict else "0 or above"
                raise self.error(
                    key,
                    index,
                    f"negative or invalid exponent {v} in :{name} (entry {pos + 1}); exponents must be {need}",
                )
        return value

    def consumers(self, def_index: int, maps: list) -> Councils:
        n = self.per_kind
        income, members, rows = [], [], []
        for i, council in enumerate(maps):
            income.append(self.scalar("ccs", i, council, "income", positive=False))
            if income[-1] < 0:
                raise self.error("ccs", i, f":income is {income[-1]}; it must be 0 or above")
            workers = council.get(Keyword("num-workers"), 1)
            members.append(float(workers) if _number(workers) else 1.0)
            u = self.numbers("ccs", i, council, "utility-exponents", n, strict=False)
            g = self.numbers("ccs", i, council, "public-good-exponents", n, strict=False)
            if sum(u) + sum(g) <= 0:
                raise self.error("ccs", i, "has no positive utility exponent")
            rows.append(u + g)
        m = len(rows)
        dense = np.array(rows, dtype=np.float64).reshape(m, 2 * n)
        columns = np.concatenate([np.arange(n), np.arange(4 * n, 5 * n)])
        prefs = np.zeros((m, 5 * n))
        prefs[:, columns] = dense
        return Councils(
            ids=np.array([f"cc-{i + 1}" for i in range(m)], dtype=STRING),
            members=np.array(members),
            income=np.array(income),
            preferences=sp.csr_array(prefs),
        )

    def workers(self, def_index: int, maps: list) -> WorkerCouncils:
        n = self.per_kind
        product, params, rows, cols, vals = [], [], [], [], []
        kinds_of_input = (
            ("input-exponents", 1, "intermediate good"),
            ("nature-exponents", 2, "natural resource"),
            ("labor-exponents", 3, "labour type"),
        )
        for i, council in enumerate(maps):
            industry = self.field("wcs", i, council, "industry")
            if industry not in (0, 1, 2) or isinstance(industry, bool):
                raise self.error("wcs", i, f":industry is {industry!r}; it must be 0, 1 or 2")
            good = self.field("wcs", i, council, "product")
            if not isinstance(good, int) or isinstance(good, bool) or not 1 <= good <= n:
                what = ("private good", "intermediate good", "public good")[industry]
                raise self.error("wcs", i, f"produces {what} {good!r}, which does not exist (there are {n}: 1 to {n})")
            product.append((0, 1, 4)[industry] * n + good - 1)
            params.append([self.scalar("wcs", i, council, k) for k in ("a", "c", "du", "s")])
            lists = self.field("wcs", i, council, "production-inputs")
            if not isinstance(lists, list) or len(lists) != 3 or not all(isinstance(x, list) for x in lists):
                raise self.error(
                    "wcs",
                    i,
                    ":production-inputs must be three vectors (intermediate goods, natural resources, labour types)",
                )
            for (key, block, what), numbers in zip(kinds_of_input, lists, strict=True):
                exps = self.numbers("wcs", i, council, key, len(numbers), strict=True)
                seen = set()
                for j in numbers:
                    if not isinstance(j, int) or isinstance(j, bool) or not 1 <= j <= n:
                        raise self.error("wcs", i, f"uses {what} {j!r}, which does not exist (there are {n}: 1 to {n})")
                    if j in seen:
                        raise self.error("wcs", i, f"lists {what} {j} twice in :production-inputs")
                    seen.add(j)
                    rows.append(i)
                    cols.append(block * n + j - 1)
                vals.extend(exps)
        m = len(product)
        p = np.array(params, dtype=np.float64).reshape(m, 4)
        exponents = sp.csr_array(
            (np.array(vals, dtype=np.float64), (np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64))),
            shape=(m, 5 * n),
        )
        exponents.sort_indices()
        return WorkerCouncils(
            ids=np.array([f"wc-{i + 1}" for i in range(m)], dtype=STRING),
            product=np.array(product, dtype=np.int64),
            scale=p[:, 0],
            effort_exponent=p[:, 1],
            disutility_exponent=p[:, 2],
            disutility_coefficient=p[:, 3],
            exponents=exponents,
        )


# ---- generated experiments ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ranges:
    """Parameter ranges of the published experiments (uniform draws)."""

    returns: tuple[float, float] = (0.76, 0.84)
    effort_exponent: tuple[float, float] = (0.05, 0.10)
    disutility_exponent: tuple[float, float] = (3.0, 4.0)
    scale: tuple[float, float] = (4.0, 6.0)
    utility: tuple[float, float] = (0.025, 0.05)


def generate_experiment(
    workers: int,
    consumers: int | None = None,
    *,
    goods_per_kind: int = 10,
    consumer_goods: int | None = None,
    income: float = 5000.0,
    endowment: float | None = None,
    seed: int = 0,
    name: str | None = None,
) -> HahnelEconomy:
    """An experiment like the published ones, of any size (vectorised; 10^6 councils in seconds).

    Each worker council makes a random good of a random produced kind from 1 to 4 intermediate
    goods, 1 or 2 natural resources and 1 or 2 labour types, with exponents adding up to between
    0.76 and 0.84; a, c and k (``du``) uniform in [4, 6], [0.05, 0.1], [3, 4]; s = 1. Each
    consumer council has income ``income`` and exponents uniform in [0.025, 0.05] for every
    private and public good, or for ``consumer_goods`` goods drawn at random (half private, half
    public) when given. ``endowment`` (supply of each resource and labour type) defaults to the
    published 1000 scaled by the number of worker councils per resource (3000 / 10 published).
    """
    rng = np.random.default_rng(seed)
    r = _Ranges()
    n = goods_per_kind
    consumers = workers if consumers is None else consumers
    # worker councils
    industry = rng.integers(0, 3, workers)
    product = np.array([0, 1, 4])[industry] * n + rng.integers(0, n, workers)
    counts = np.stack([rng.integers(1, 5, workers), rng.integers(1, 3, workers), rng.integers(1, 3, workers)], 1)
    per_council = counts.sum(1)
    rows = np.repeat(np.arange(workers), per_council)
    block = np.concatenate([np.repeat(np.tile([1, 2, 3], workers), counts.ravel())])
    cols = block * n + rng.integers(0, n, rows.size)
    weights = rng.uniform(0.95, 1.05, rows.size)
    total = np.bincount(rows, weights=weights, minlength=workers)
    returns = rng.uniform(*r.returns, workers)
    vals = weights / total[rows] * returns[rows]
    exponents = sp.csr_array((vals, (rows, cols)), shape=(workers, 5 * n))
    exponents.sum_duplicates()
    exponents.sort_indices()
    wc = WorkerCouncils(
        ids=np.strings.add("wc-", np.arange(1, workers + 1).astype(STRING)),
        product=product.astype(np.int64),
        scale=rng.uniform(*r.scale, workers),
        effort_exponent=rng.uniform(*r.effort_exponent, workers),
        disutility_exponent=rng.uniform(*r.disutility_exponent, workers),
        disutility_coefficient=np.ones(workers),
        exponents=exponents,
    )
    # consumer councils
    if consumer_goods is None:
        prefs = np.zeros((consumers, 5 * n))
        prefs[:, :n] = rng.uniform(*r.utility, (consumers, n))
        prefs[:, 4 * n :] = rng.uniform(*r.utility, (consumers, n))
        preferences = sp.csr_array(prefs)
    else:
        half = max(1, consumer_goods // 2)
        crow = np.repeat(np.arange(consumers), 2 * half)
        private = rng.integers(0, n, (consumers, half))
        public = rng.integers(4 * n, 5 * n, (consumers, half))
        ccol = np.concatenate([private, public], 1).ravel()
        preferences = sp.csr_array((rng.uniform(*r.utility, crow.size), (crow, ccol)), shape=(consumers, 5 * n))
        preferences.sum_duplicates()
        preferences.sort_indices()
    cc = Councils(
        ids=np.strings.add("cc-", np.arange(1, consumers + 1).astype(STRING)),
        members=np.ones(consumers),
        income=np.full(consumers, float(income)),
        preferences=preferences,
    )
    supply = np.zeros(5 * n)
    supply[2 * n : 4 * n] = ENDOWMENT * (workers / 3000) * (10 / n) if endowment is None else endowment
    kinds = np.repeat(np.array([k for _, k in KINDS], dtype=np.uint8), n)
    commodities = Commodities.build(commodity_ids(n), kinds=kinds, supply=supply)
    return HahnelEconomy(commodities, wc, cc, name=name or f"generated-{workers}")
