"""Errors of the economy model. Each names what is wrong and where."""

from __future__ import annotations


class GlasnostError(Exception):
    """Base class of every error glasnost raises on purpose."""


class EconomyError(GlasnostError):
    """An economy is malformed: the message names the table, row, id or file at fault."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class NotProductiveError(EconomyError):
    """The technology cannot produce a surplus: the spectral radius of A is at least 1.

    ``culprits`` holds the ids of the group of products (a strongly connected block of A)
    whose own spectral radius is at least 1, and ``spectral_radius`` that radius.
    """

    def __init__(self, culprits: list[str], spectral_radius: float, *, where: str | None = None):
        self.culprits = culprits
        self.spectral_radius = spectral_radius
        shown = ", ".join(culprits[:10]) + (f", ... ({len(culprits)} in all)" if len(culprits) > 10 else "")
        super().__init__(
            f"technology is not productive: the group of products [{shown}] uses more of itself "
            f"than it makes (spectral radius {spectral_radius:.6g} >= 1)",
            where=where,
        )
