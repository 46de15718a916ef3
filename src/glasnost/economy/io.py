"""Saving and loading an economy: a directory of Parquet files and a JSON manifest.

:func:`save` writes schema version 2 (:mod:`glasnost.economy.io_v2`: integer positions,
fixed-width coefficient columns in row groups, string ids once in their own tables);
:func:`load` reads versions 1 (:mod:`glasnost.economy.io_v1`) and 2, and :func:`migrate`
rewrites a directory in the current version. Saving is atomic: the files are written to a
temporary directory which then replaces the target, so a failure leaves any earlier economy
there untouched. Every error on loading names the file, the row and the id.
"""

from __future__ import annotations

import os
from pathlib import Path

from glasnost.economy.errors import EconomyError
from glasnost.economy.files import read_manifest
from glasnost.economy.io_v1 import load_v1, save_v1
from glasnost.economy.io_v2 import SCHEMA_VERSION, load_v2, save_v2
from glasnost.economy.model import Economy

SUPPORTED_VERSIONS = (1, 2)

__all__ = ["SCHEMA_VERSION", "load", "migrate", "save", "schema_version"]


def save(economy: Economy, directory: str | os.PathLike[str], *, schema_version: int = SCHEMA_VERSION) -> Path:
    """Write ``economy`` to ``directory`` (created or atomically replaced). Returns the path.

    ``schema_version=1`` writes the old layout (for tools that have not moved on)."""
    if schema_version == 1:
        return save_v1(economy, directory)
    if schema_version != SCHEMA_VERSION:
        raise EconomyError(f"schema version {schema_version!r} cannot be written (1 or {SCHEMA_VERSION})")
    return save_v2(economy, directory)


def schema_version(directory: str | os.PathLike[str]) -> int:
    """The schema version of an economy directory (raises when it is not one)."""
    root = Path(directory)
    version = read_manifest(root).get("schema_version")
    if version not in SUPPORTED_VERSIONS:
        raise EconomyError(
            f"schema version {version!r} is not supported (this glasnost reads "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))})",
            where=str(root / "manifest.json"),
        )
    return int(version)


def load(directory: str | os.PathLike[str], *, check_productive: bool = True) -> Economy:
    """Read an economy written by :func:`save` (either schema version); every error names the
    file and row."""
    root = Path(directory)
    version = schema_version(root)
    manifest = read_manifest(root)
    reader = load_v1 if version == 1 else load_v2
    return reader(root, manifest, check_productive=check_productive)


def migrate(directory: str | os.PathLike[str]) -> tuple[int, int]:
    """Rewrite an economy directory in the current schema version (atomically, in place).
    Returns (version before, version after); a current directory is left as it is."""
    before = schema_version(directory)
    if before == SCHEMA_VERSION:
        return before, before
    economy = load(directory)
    save(economy, directory)
    return before, SCHEMA_VERSION
