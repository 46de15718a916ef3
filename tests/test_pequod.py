"""The EDN reader and the loader of the published experiment files (and bad input to both)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pytest

from glasnost.data.pequod import (
    EdnError,
    Keyword,
    PequodError,
    Symbol,
    commodity_ids,
    generate_experiment,
    load_experiment,
    read_edn,
    read_experiment,
)
from glasnost.economy import EconomyError, Kind

# ---- a small experiment written by hand -------------------------------------------------------

CC = """{{:effort 1, :num-workers 10,
  :utility-exponents [{u}],
  :final-demands [0 0], :cy 1,
  :public-good-exponents [{g}],
  :income {income}}}"""

WC = """{{:effort 0.5,
  :labor-exponents [{lab}],
  :industry {industry}, :output 0, :s 1, :du 3.5, :c 0.08, :product {product},
  :labor-quantities [0],
  :production-inputs [[{ins}] [{nat}] [{labs}]],
  :input-exponents [{inx}],
  :toothache false,
  :nature-exponents [{natx}],
  :a 5.0}}"""


def small_text(**override: str) -> str:
    """Two consumer councils and six worker councils (one per produced good) over 2 goods of each kind."""
    ccs = [
        CC.format(u="0.03 0.04", g="0.02 0.05", income=5000),
        CC.format(u="0.01 0.02", g="0.03 0.04", income=4000),
    ]
    wcs = [
        WC.format(lab="0.2", industry=0, product=1, ins="1 2", nat="1", labs="2", inx="0.1 0.15", natx="0.2"),
        WC.format(lab="0.3", industry=1, product=2, ins="1", nat="2", labs="1", inx="0.2", natx="0.25"),
        WC.format(lab="0.1", industry=2, product=2, ins="2", nat="1", labs="1", inx="0.3", natx="0.2"),
        WC.format(lab="0.2", industry=0, product=2, ins="1", nat="1", labs="1", inx="0.2", natx="0.2"),
        WC.format(lab="0.2", industry=1, product=1, ins="2", nat="2", labs="2", inx="0.2", natx="0.2"),
        WC.format(lab="0.2", industry=2, product=1, ins="1", nat="2", labs="1", inx="0.2", natx="0.2"),
    ]
    for key, value in override.items():
        kind, index = key.split("_")
        (ccs if kind == "cc" else wcs)[int(index) - 1] = value
    return (
        "(ns pequod-cljs.small)\n\n(def ccs \n[" + "\n ".join(ccs) + "]\n)\n\n(def wcs \n[" + "\n ".join(wcs) + "]\n)\n"
    )


def read_small(text: str | None = None):
    return read_experiment(text or small_text(), source="small.clj", goods_per_kind=2, endowment=1000.0)


# ---- EDN ---------------------------------------------------------------------------------------


def test_edn_forms() -> None:
    forms = read_edn('(def x [1 -2 3.5 1e3 "a\\"b" :k sym true false nil]) ; comment\n{:a {:b [[]]}, :c ()}')
    assert forms[0] == (
        Symbol("def"),
        Symbol("x"),
        [1, -2, 3.5, 1000.0, 'a"b', Keyword("k"), Symbol("sym"), True, False, None],
    )
    assert isinstance(forms[0][2][0], int) and isinstance(forms[0][2][2], float)
    assert forms[1] == {Keyword("a"): {Keyword("b"): [[]]}, Keyword("c"): ()}


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("[1 2\n 3", "ends early", 2),
        ("[1 2)\n", "closes the vector", 1),
        ("{:a 1 :b}", "even number", 1),
        ("[1 2]\n]", "nothing is open", 2),
        ('[1 "abc]', "string is not closed", 1),
        ("[1 #{2}]", "outside the EDN subset", 1),
        ("[1 2.3.4]", "not a number", 1),
    ],
)
def test_edn_errors_name_the_line(text: str, message: str, line: int) -> None:
    with pytest.raises(EdnError, match=message) as info:
        read_edn(text, source="t.edn")
    assert info.value.line == line
    assert f"t.edn, line {line}" in str(info.value)


# ---- the small experiment -----------------------------------------------------------------------


def test_small_experiment_model() -> None:
    he = read_small()
    c = he.commodities
    assert list(map(str, c.ids)) == list(map(str, commodity_ids(2)))
    assert str(c.ids[0]) == "private-good-1" and str(c.ids[9]) == "public-good-2"
    assert list(c.kinds) == [Kind.GOOD] * 4 + [Kind.RESOURCE] * 2 + [Kind.LABOUR] * 2 + [Kind.PUBLIC_GOOD] * 2
    assert list(c.supply) == [0, 0, 0, 0, 1000, 1000, 1000, 1000, 0, 0]
    w = he.workers
    assert list(map(str, w.ids)) == [f"wc-{i}" for i in range(1, 7)]
    # products: private-good-1, intermediate-good-2, public-good-2, private-good-2, ...
    assert list(w.product) == [0, 3, 9, 1, 2, 8]
    expected = np.zeros((6, 10))
    expected[0, [2, 3, 4, 7]] = [0.1, 0.15, 0.2, 0.2]
    expected[1, [2, 5, 6]] = [0.2, 0.25, 0.3]
    expected[2, [3, 4, 6]] = [0.3, 0.2, 0.1]
    expected[3, [2, 4, 6]] = [0.2, 0.2, 0.2]
    expected[4, [3, 5, 7]] = [0.2, 0.2, 0.2]
    expected[5, [2, 5, 6]] = [0.2, 0.2, 0.2]
    np.testing.assert_array_equal(w.exponents.toarray(), expected)
    assert list(w.effort_exponent) == [0.08] * 6 and list(w.disutility_exponent) == [3.5] * 6
    k = he.consumers
    assert list(k.income) == [5000, 4000] and list(k.members) == [10, 10]
    prefs = k.preferences.toarray()
    np.testing.assert_array_equal(prefs[1], [0.01, 0.02, 0, 0, 0, 0, 0, 0, 0.03, 0.04])
    # the linear view: one process per worker council, inputs = exponents
    economy = he.economy
    assert economy.n_processes == 6
    np.testing.assert_array_equal(economy.processes.inputs.toarray(), expected)
    np.testing.assert_array_equal(economy.processes.outputs.toarray()[2], np.eye(10)[9])


# ---- bad input: each error names the council ----------------------------------------------------


def bad_wc(**fields: str) -> str:
    base = dict(lab="0.2", industry="0", product="1", ins="1 2", nat="1", labs="2", inx="0.1 0.15", natx="0.2")
    base.update(fields)
    return WC.format(**base)


@pytest.mark.parametrize(
    ("override", "council", "message"),
    [
        ({"wc_2": bad_wc(ins="1 3", inx="0.1 0.2")}, "worker council 2", "intermediate good 3, which does not exist"),
        ({"wc_3": bad_wc(labs="7")}, "worker council 3", "labour type 7, which does not exist"),
        ({"wc_1": bad_wc(industry="1", product="5")}, "worker council 1", "intermediate good 5, which does not exist"),
        ({"wc_2": bad_wc(inx="0.1 -0.15")}, "worker council 2", "negative or invalid exponent -0.15"),
        ({"cc_2": CC.format(u="0.01 -0.02", g="0.03 0.04", income=1)}, "consumer council 2", "negative or invalid"),
        ({"cc_1": CC.format(u="0.01", g="0.03 0.04", income=1)}, "consumer council 1", "1 entries, expected 2"),
        ({"wc_3": bad_wc(inx="0.1")}, "worker council 3", "has 1 entries, expected 2"),
        ({"wc_1": bad_wc(industry="4")}, "worker council 1", ":industry is 4"),
        ({"wc_2": bad_wc().replace(":a 5.0", ":b 5.0")}, "worker council 2", "has no :a"),
        ({"wc_2": bad_wc().replace(":c 0.08", ":c -0.08")}, "worker council 2", ":c is -0.08"),
        ({"wc_1": bad_wc(ins="1 1")}, "worker council 1", "lists intermediate good 1 twice"),
    ],
)
def test_bad_councils_are_named(override: dict[str, str], council: str, message: str) -> None:
    text = small_text(**override)
    with pytest.raises(PequodError, match=re.escape(message)) as info:
        read_small(text)
    assert info.value.council == council
    assert council in str(info.value) and "small.clj" in str(info.value)
    # the line named is the line the council's map opens on
    index = int(council.split()[-1]) - 1
    section = text.index("(def wcs" if council.startswith("worker") else "(def ccs")
    starts = [m.start() for m in re.finditer(r"\{:effort", text[section:])]
    assert info.value.line == text[: section + starts[index]].count("\n") + 1


def test_malformed_edn_names_the_council() -> None:
    text = small_text(wc_2=bad_wc().replace(":s 1,", ":s 1 ]"))
    with pytest.raises(PequodError, match="malformed EDN") as info:
        read_small(text)
    assert info.value.council == "worker council 2"
    assert info.value.line == text[: text.index(":s 1 ]")].count("\n") + 1


def test_file_that_ends_early_names_the_council(tmp_path) -> None:
    text = small_text()
    cut = text.index(":du", text.index("(def wcs"))  # inside worker council 1
    with pytest.raises(PequodError, match="ends early") as info:
        read_small(text[:cut])
    assert info.value.council == "worker council 1"
    # a cut-off gzip stream: the part that decompresses is read, and the error says both things
    packed = gzip.compress(small_text().encode())
    path = tmp_path / "cut.clj.gz"
    path.write_bytes(packed[: len(packed) * 2 // 3])
    with pytest.raises(PequodError, match="gzip stream is cut off") as info:
        load_experiment(path, goods_per_kind=2)
    assert info.value.council is not None and "council" in info.value.council
    assert "cut.clj.gz" in str(info.value)


def test_missing_sections_and_files(tmp_path) -> None:
    with pytest.raises(PequodError, match=r"no \(def wcs"):
        read_small(small_text().split("(def wcs")[0])
    with pytest.raises(PequodError, match="cannot read"):
        load_experiment(tmp_path / "nope.clj.gz")
    bad = tmp_path / "bad.clj.gz"
    bad.write_bytes(b"\x1f\x8b" + b"not gzip at all")
    with pytest.raises(PequodError, match="gzip"):
        load_experiment(bad)
    assert issubclass(PequodError, EconomyError)


# ---- the published files ----------------------------------------------------------------------


def test_published_experiment_matches_its_text(data_dir: Path) -> None:
    """Spot checks against the raw text, read with plain regular expressions."""
    path = data_dir / "pequod" / "dep1ex01.clj.gz"
    he = load_experiment(path)
    assert he.describe()["worker_councils"] == 3000 and he.describe()["consumer_councils"] == 3000
    text = gzip.decompress(path.read_bytes()).decode()
    wcs = text[text.index("(def wcs") :]
    first = wcs[: wcs.index("}")]
    a = float(re.search(r":a ([0-9.]+)", first).group(1))
    du = float(re.search(r":du ([0-9.]+)", first).group(1))
    inputs = re.search(r":production-inputs \[\[([0-9 ]*)\] \[([0-9 ]*)\] \[([0-9 ]*)\]\]", first)
    assert he.workers.scale[0] == a and he.workers.disutility_exponent[0] == du
    row = he.workers.exponents[[0]].toarray()[0]
    used = [10 + int(i) - 1 for i in inputs.group(1).split()] + [20 + int(i) - 1 for i in inputs.group(2).split()]
    used += [30 + int(i) - 1 for i in inputs.group(3).split()]
    assert sorted(np.flatnonzero(row)) == sorted(used)
    incomes = [float(x) for x in re.findall(r":income ([0-9.]+)", text)]
    np.testing.assert_array_equal(he.consumers.income, incomes)


# ---- generated experiments --------------------------------------------------------------------


def test_generated_experiments_are_like_the_published_ones() -> None:
    he = generate_experiment(2000, 1500, goods_per_kind=20, consumer_goods=8, seed=3)
    w = he.workers
    assert len(w) == 2000 and len(he.consumers) == 1500 and len(he.commodities) == 100
    b_sum = np.asarray(w.exponents.sum(axis=1)).ravel()
    assert b_sum.min() >= 0.76 - 1e-12 and b_sum.max() <= 0.84 + 1e-12
    assert (w.effort_exponent / w.disutility_exponent + b_sum < 1).all()  # decreasing returns
    inputs = w.exponents.indices
    assert (inputs >= 20).all() and (inputs < 80).all()  # only intermediate goods, resources, labour
    assert np.diff(he.consumers.preferences.indptr).max() <= 8
    again = generate_experiment(2000, 1500, goods_per_kind=20, consumer_goods=8, seed=3)
    np.testing.assert_array_equal(again.workers.exponents.data, w.exponents.data)
    other = generate_experiment(2000, 1500, goods_per_kind=20, consumer_goods=8, seed=4)
    assert not np.array_equal(other.workers.scale, w.scale)
