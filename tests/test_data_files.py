"""The published data the tests check against are in the repository, unchanged, and no test
reads data from outside the clone."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"


def _listed() -> dict[str, str]:
    lines = (DATA / "SHA256SUMS").read_text().splitlines()
    return {name.strip(): digest for digest, name in (line.split(maxsplit=1) for line in lines if line.strip())}


def test_every_data_file_matches_its_checksum() -> None:
    listed = _listed()
    for name, digest in listed.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, f"tests/data/{name} changed"
    on_disk = {
        str(p.relative_to(DATA))
        for p in DATA.rglob("*")
        if p.is_file() and p.suffix not in {".md", ".py"} and p.name != "SHA256SUMS" and "__pycache__" not in p.parts
    }
    assert on_disk == set(listed), "SHA256SUMS lists exactly the data files"


def test_every_data_set_says_where_it_comes_from() -> None:
    for directory in (p for p in DATA.iterdir() if p.is_dir() and p.name != "__pycache__"):
        readme = (directory / "README.md").read_text()
        for word in ("Source", "Licence", "Copied"):
            assert f"**{word}**" in readme, f"{directory.name}/README.md says nothing of its {word.lower()}"


def test_no_test_reads_the_shared_directory_beside_the_checkout() -> None:
    """A fresh clone has no ``../shared``: paths into it would skip or fail there."""
    offenders = []
    for path in TESTS.rglob("*.py"):
        if path == Path(__file__).resolve():
            continue  # this test names the directory to look for it
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                parts = node.value.replace("\\", "/").split("/")
                if "shared" in parts or node.value == "shared":
                    offenders.append(f"{path.relative_to(TESTS)}:{node.lineno}: {node.value!r}")
    assert not offenders, offenders


PUBLISHED = ["test_procedures_published.py", "test_published.py", "test_bea.py", "test_pequod.py"]


def test_the_published_results_tests_never_skip() -> None:
    """Their data are here and their packages in the ``test`` extra: nothing may skip them."""
    for name in PUBLISHED:
        tree = ast.parse((TESTS / name).read_text())
        calls = [
            f"{name}:{node.lineno}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr in {"skip", "skipif", "importorskip", "xfail"}
        ]
        assert not calls, f"a published-results test can skip: {calls}"
