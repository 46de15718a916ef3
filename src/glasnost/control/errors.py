"""Errors of implementation control. Each names the file, line and column, or the workplace, at fault."""

from __future__ import annotations

from dataclasses import dataclass

from glasnost.economy.errors import GlasnostError

__all__ = ["ControlError", "LineProblem", "ReportError"]


class ControlError(GlasnostError):
    """Something about implementation reports or their checking is wrong; the message says where."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True)
class LineProblem:
    """One bad value in a file of report lines.

    Attributes
    ----------
    line
        1-based line number in the file (the header is the first non-empty line).
    column
        The column's name from the header (or ``"*"`` for the line as a whole).
    value
        The offending text, as read.
    message
        What is wrong with it.
    """

    line: int
    column: str
    value: str
    message: str

    def __str__(self) -> str:
        shown = self.value if len(self.value) <= 40 else self.value[:37] + "..."
        column = self.column if self.column.strip() else "(no name)"
        return f"line {self.line}, column {column}: {self.message} (got {shown!r})"


class ReportError(ControlError):
    """A file of report lines has bad lines: ``problems`` lists every one (line, column, value, what).

    Nothing of the file is stored when this is raised.
    """

    def __init__(self, problems: list[LineProblem], *, where: str | None = None, shown: int = 20) -> None:
        self.problems = sorted(problems, key=lambda p: (p.line, p.column))
        lines = sorted({p.line for p in self.problems})
        head = "\n".join(f"  {p}" for p in self.problems[:shown])
        more = f"\n  ... and {len(self.problems) - shown} more" if len(self.problems) > shown else ""
        super().__init__(
            f"{len(self.problems)} problems on {len(lines)} lines; nothing was imported\n{head}{more}", where=where
        )
