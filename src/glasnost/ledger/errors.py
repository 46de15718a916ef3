"""Errors of the public log. Each names the entry, checkpoint, row or file at fault."""

from __future__ import annotations

from glasnost.economy.errors import GlasnostError


class LedgerError(GlasnostError):
    """Something about the log is wrong: the message names the entry, checkpoint or file.

    Parameters
    ----------
    message
        What is wrong.
    where
        The place: ``"entry 12"``, ``"checkpoint 3"``, ``"log.jsonl line 7"``, a file or URL.
    """

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class CanonicalJSONError(LedgerError):
    """A value cannot be written as canonical JSON (the message names its path, e.g. ``$.rows[3]``)."""


class ProofError(LedgerError):
    """A proof was asked for an index or size the log does not have."""
