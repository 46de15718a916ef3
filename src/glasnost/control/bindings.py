"""Figures bound to the log: tables whose rows are re-derived from public log entries and compared.

A :class:`Binding` says which table holds rows derived from which kind of log entry: how to read
the stored rows (each with the index of the entry it came from) and how to derive, from one entry,
the rows it implies. :func:`check_binding` re-derives every entry's rows and names every stored row
that differs from its entry, every row an entry implies that is missing, every row with no entry
(or pointing at an entry of another kind), so that figures used in computations cannot silently
differ from the figures published. Bindings for the control tables are :data:`CONTROL_BINDINGS`;
another part of the platform binds its own tables (proposals, round results, ballots) the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from glasnost.control.tables import Line, Report
from glasnost.ledger import Entry, Ledger, LedgerError

__all__ = ["CONTROL_BINDINGS", "Binding", "Difference", "ExportedEntries", "check_binding", "check_bindings"]

Row = dict[str, Any]


@dataclass(frozen=True)
class Difference:
    """One row that does not agree with the log: the table, the row (its id, or the key an entry
    names), the entry, and what differs."""

    table: str
    row: str
    entry: int | None
    message: str

    def __str__(self) -> str:
        at = "" if self.entry is None else f" (log entry {self.entry})"
        return f"{self.table} {self.row}{at}: {self.message}"


@dataclass(frozen=True)
class Binding:
    """A table whose rows are derived from log entries of one kind.

    Attributes
    ----------
    table
        The table's name (for messages).
    kinds
        The entry kinds whose payloads imply rows of this table.
    key
        The columns that tell a row apart among the rows of one entry.
    fields
        The columns compared with the entry's.
    stored
        Reads every stored row: dictionaries with ``id``, ``log_index`` (None when the row has no
        entry), the key and the fields.
    derive
        The rows (key and fields) an entry implies.
    """

    table: str
    kinds: tuple[str, ...]
    key: tuple[str, ...]
    fields: tuple[str, ...]
    stored: Callable[[Any], Iterable[Row]]
    derive: Callable[[Entry], list[Row]]


def _describe(row: Row, names: Sequence[str]) -> str:
    return ", ".join(f"{n} {row.get(n)!r}" for n in names)


class ExportedEntries:
    """The entries of a downloaded log (an export read by :func:`glasnost.ledger.verify.read_export`), with
    the two things :func:`check_binding` asks of a :class:`~glasnost.ledger.Ledger`: ``size`` and ``entries()``."""

    def __init__(self, contents: Any) -> None:
        self._rows = sorted((r for r in contents.rows if r.data is not None), key=lambda r: r.index)
        self.size = contents.size if contents.size is not None else len(self._rows)

    def entries(self) -> Iterable[Entry]:
        from glasnost.ledger import leaf_hash, parse_canonical

        for r in self._rows:
            obj = parse_canonical(r.data, where=f"entry {r.index}")
            yield Entry(r.index, obj["kind"], obj["payload"], r.data, leaf_hash(r.data))


def check_binding(binding: Binding, ledger: Ledger | ExportedEntries, database: Any) -> list[Difference]:
    """Re-derive ``binding``'s rows from the log and name every row that differs, is missing, or has no entry."""
    out: list[Difference] = []
    by_entry: dict[int, list[Row]] = {}
    for row in binding.stored(database):
        if row["log_index"] is None:
            out.append(Difference(binding.table, f"row {row['id']}", None, "has no log entry"))
        else:
            by_entry.setdefault(int(row["log_index"]), []).append(row)
    size = ledger.size
    for index in sorted(i for i in by_entry if not 0 <= i < size):
        for row in by_entry.pop(index):
            out.append(Difference(binding.table, f"row {row['id']}", index, f"points at entry {index}, which the "
                                  f"log (of {size} entries) does not have"))
    for entry in ledger.entries():
        rows = by_entry.pop(entry.index, [])
        if entry.kind not in binding.kinds:
            out += [Difference(binding.table, f"row {r['id']}", entry.index, f"points at a {entry.kind!r} entry, "
                               f"not a {' or '.join(binding.kinds)}") for r in rows]
            continue
        try:
            derived = binding.derive(entry)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            out.append(Difference(binding.table, "-", entry.index, f"the entry cannot be read as rows ({exc})"))
            continue
        want = {tuple(d[k] for k in binding.key): d for d in derived}
        seen: dict[tuple[Any, ...], Row] = {}
        for r in rows:
            k = tuple(r[c] for c in binding.key)
            d = want.get(k)
            if d is None:
                out.append(Difference(binding.table, f"row {r['id']}", entry.index,
                                      f"is not in its log entry ({_describe(r, binding.key)})"))
                continue
            changed = [f for f in binding.fields if r[f] != d[f]]
            if changed:
                what = "; ".join(f"{f} is {r[f]!r} but the log says {d[f]!r}" for f in changed)
                out.append(Difference(binding.table, f"row {r['id']}", entry.index, what))
            elif k in seen:
                out.append(Difference(binding.table, f"row {r['id']}", entry.index,
                                      f"repeats row {seen[k]['id']} ({_describe(r, binding.key)})"))
            seen.setdefault(k, r)
        for k, d in want.items():
            if k not in seen:
                out.append(Difference(binding.table, f"({_describe(d, binding.key) or 'its row'})", entry.index,
                                      f"is in the log but missing from the table ({_describe(d, binding.fields)})"))
    return out


def check_bindings(
    ledger: Ledger | ExportedEntries, database: Any, bindings: Sequence[Binding] | None = None
) -> list[Difference]:
    """:func:`check_binding` for each binding (default: :data:`CONTROL_BINDINGS`)."""
    try:
        return [d for b in (CONTROL_BINDINGS if bindings is None else bindings)
                for d in check_binding(b, ledger, database)]
    except LedgerError as exc:  # an entry that no longer parses: the log itself is damaged
        return [Difference("ledger", "-", None, f"{exc} (run glasnost verify)")]


# ---- the control tables ----------------------------------------------------------------------------

_LINE_FIELDS = ("batch_id", "kind", "period", "workplace", "product", "variant", "grade", "quantity", "counterparty",
                "rating")


def _stored_lines(database: Any) -> Iterable[Row]:
    cols = [Line.id, Line.log_index, Line.line, *(getattr(Line, f) for f in _LINE_FIELDS)]
    with database.read() as session:
        for values in session.execute(select(*cols).order_by(Line.id)):
            yield dict(zip(["id", "log_index", "line", *_LINE_FIELDS], values, strict=True))


def _derive_lines(entry: Entry) -> list[Row]:
    p = entry.payload
    cols = p["lines"]
    n = len(cols["line"])
    return [
        {"line": cols["line"][i], "batch_id": p["batch"], "period": p["period"], "workplace": p["workplace"],
         **{f: cols[f][i] for f in ("kind", "product", "variant", "grade", "quantity", "counterparty", "rating")}}
        for i in range(n)
    ]


def _stored_reports(database: Any) -> Iterable[Row]:
    cols = [Report.id, Report.log_index, Report.batch_id, Report.workplace, Report.period, Report.leaf_hash]
    with database.read() as session:
        for values in session.execute(select(*cols).order_by(Report.id)):
            yield dict(zip(["id", "log_index", "batch_id", "workplace", "period", "leaf_hash"], values, strict=True))


def _derive_report(entry: Entry) -> list[Row]:
    p = entry.payload
    return [{"batch_id": p["batch"], "workplace": p["workplace"], "period": p["period"],
             "leaf_hash": entry.leaf_hash.hex()}]


CONTROL_BINDINGS = (
    Binding("control_lines", ("report",), ("line",), _LINE_FIELDS, _stored_lines, _derive_lines),
    Binding("control_reports", ("report",), (), ("batch_id", "workplace", "period", "leaf_hash"), _stored_reports,
            _derive_report),
)
"""Report lines and reports, each bound to its ``report`` entry."""
