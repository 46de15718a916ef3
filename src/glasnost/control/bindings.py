"""Figures bound to the log: tables whose rows are re-derived from public log entries and compared.

A :class:`Binding` says which table holds rows derived from which kind of log entry: how to read
the stored rows (each with the index of the entry it came from) and how to derive, from one entry,
the rows it implies. :func:`check_bindings` re-derives every entry's rows (one pass over the log for
all bindings) and names every stored row that differs from its entry, every row an entry implies
that is missing, every row with no entry (or pointing at an entry of another kind), so that figures
used in computations cannot silently differ from the figures published. Bindings for the control
tables are :data:`CONTROL_BINDINGS`; the platform binds its own tables (proposals, round results,
plan variants, ballots, receipts, tallies) the same way in :mod:`glasnost.service.bindings`.

Rows published through an outbox (committed first, appended to the log a moment later, their entry
recorded on the row later still) are matched to their entry by an identity the entry publishes
(e.g. the row's id) while their entry index is not recorded yet; a row that is not in the log at
all and younger than ``grace`` seconds is reported as *pending* (not yet published), not as a
difference. Older ones are differences: a row nobody published, or one whose publication a crash
cut short and that the platform's restart (which publishes what it left) has not yet published.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from glasnost.control.tables import Line, Report
from glasnost.db.engine import utcnow
from glasnost.ledger import Entry, Ledger, LedgerError

__all__ = [
    "CONTROL_BINDINGS",
    "PUBLISH_GRACE",
    "Binding",
    "Difference",
    "ExportedEntries",
    "check_binding",
    "check_bindings",
]

Row = dict[str, Any]

PUBLISH_GRACE = 60.0
"""Seconds after its commit that a row published through an outbox may still lack its log entry
before the check calls it a difference (the platform's log writer takes well under a second)."""


@dataclass(frozen=True)
class Difference:
    """One row that does not agree with the log: the table, the row (its id, or the key an entry
    names), the entry, and what differs. ``pending``: not a difference yet, a row that is not
    published *yet* (younger than the check's grace period)."""

    table: str
    row: str
    entry: int | None
    message: str
    pending: bool = False

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
        entry recorded), the key and the fields; with ``identity`` set, also ``identity`` (the value
        the row's entry publishes); optionally ``at``, the row's commit time (naive UTC), for the
        grace period of rows not yet published.
    derive
        The rows (key and fields) an entry implies.
    identity
        What an entry publishes that names its rows without their entry index (e.g. the payload's
        ``id``): rows whose ``log_index`` is None are compared with the last entry of this identity.
    recorded
        Whether rows normally carry their entry's index (False: they are only ever matched by identity,
        and a missing index is no news).
    receipt_fields
        Fields recorded on the row together with its entry's index (e.g. the leaf hash): not compared
        while the index is not recorded.
    """

    table: str
    kinds: tuple[str, ...]
    key: tuple[str, ...]
    fields: tuple[str, ...]
    stored: Callable[[Any], Iterable[Row]]
    derive: Callable[[Entry], list[Row]]
    identity: Callable[[Entry], Any] | None = None
    recorded: bool = True
    receipt_fields: tuple[str, ...] = ()


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + " ..."


def _describe(row: Row, names: Sequence[str]) -> str:
    return ", ".join(f"{n} {_short(row.get(n))}" for n in names)


def _same(a: Any, b: Any) -> bool:
    """Equal as published: numbers by value (JSON has one number type), containers element by element."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
    return a == b


def _changes(path: str, stored: Any, logged: Any, out: list[str]) -> None:
    """What differs between a stored value and the logged one, as ``path is X but the log says Y``,
    naming the innermost keys and positions that differ."""
    if _same(stored, logged):
        return
    if isinstance(stored, dict) and isinstance(logged, dict):
        for k in [*logged, *(k for k in stored if k not in logged)]:
            where = f"{path}[{k!r}]"
            if k not in stored:
                out.append(f"{where} is missing but the log says {_short(logged[k])}")
            elif k not in logged:
                out.append(f"{where} is {_short(stored[k])} but the log has no such entry")
            else:
                _changes(where, stored[k], logged[k], out)
        return
    if isinstance(stored, list | tuple) and isinstance(logged, list | tuple) and len(stored) == len(logged):
        for i, (x, y) in enumerate(zip(stored, logged, strict=True)):
            _changes(f"{path}[{i}]", x, y, out)
        return
    out.append(f"{path} is {_short(stored)} but the log says {_short(logged)}")


def _compare(binding: Binding, r: Row, d: Row) -> str:
    changes: list[str] = []
    unrecorded = r["log_index"] is None
    for f in binding.fields:
        if not (unrecorded and f in binding.receipt_fields):
            _changes(f, r[f], d[f], changes)
    if len(changes) > 6:
        changes[5:] = [f"and {len(changes) - 5} more differences"]
    return "; ".join(changes)


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


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


@dataclass
class _Check:
    """One binding's state during the pass over the log."""

    binding: Binding
    out: list[Difference] = field(default_factory=list)
    by_entry: dict[int, list[Row]] = field(default_factory=dict)  # rows by the entry they name
    waiting: dict[Any, list[Row]] = field(default_factory=dict)  # rows with no entry recorded, by identity
    held: dict[Any, tuple[Entry, list[Row]]] = field(default_factory=dict)  # latest entry of a waiting identity

    def read(self, database: Any, size: int) -> None:
        b = self.binding
        for row in b.stored(database):
            if row["log_index"] is not None:
                self.by_entry.setdefault(int(row["log_index"]), []).append(row)
            elif b.identity is not None:
                self.waiting.setdefault(row["identity"], []).append(row)
            else:
                self.waiting.setdefault(None, []).append(row)
        for index in sorted(i for i in self.by_entry if not 0 <= i < size):
            for row in self.by_entry.pop(index):
                self.out.append(Difference(b.table, f"row {row['id']}", index, f"points at entry {index}, which "
                                           f"the log (of {size} entries) does not have"))

    def wants(self, entry: Entry) -> bool:
        return entry.kind in self.binding.kinds or entry.index in self.by_entry

    def take(self, entry: Entry) -> None:
        b = self.binding
        rows = self.by_entry.pop(entry.index, [])
        if entry.kind not in b.kinds:
            self.out += [Difference(b.table, f"row {r['id']}", entry.index, f"points at a {entry.kind!r} entry, "
                                    f"not a {' or '.join(b.kinds)}") for r in rows]
            return
        ident = None
        if b.identity is not None:
            try:
                ident = b.identity(entry)
            except (KeyError, TypeError, ValueError, IndexError, AttributeError):
                ident = None
        if ident is not None and ident in self.waiting:  # compared once the last entry of this identity is known
            earlier = self.held.get(ident)
            self.held[ident] = (entry, rows)
            if earlier is not None:
                self.compare(*earlier, [])
            return
        self.compare(entry, rows, [])

    def compare(self, entry: Entry, rows: list[Row], unrecorded: list[Row]) -> None:
        b = self.binding
        try:
            derived = b.derive(entry)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            self.out.append(Difference(b.table, "-", entry.index, f"the entry cannot be read as rows ({exc})"))
            return
        want = {tuple(d[k] for k in b.key): d for d in derived}
        seen: dict[tuple[Any, ...], Row] = {}
        for r in [*rows, *unrecorded]:
            k = tuple(r[c] for c in b.key)
            d = want.get(k)
            if d is None:
                self.out.append(Difference(b.table, f"row {r['id']}", entry.index,
                                           f"is not in its log entry ({_describe(r, b.key)})"))
                continue
            what = _compare(b, r, d)
            if what:
                self.out.append(Difference(b.table, f"row {r['id']}", entry.index, what))
            elif k in seen:
                self.out.append(Difference(b.table, f"row {r['id']}", entry.index,
                                           f"repeats row {seen[k]['id']} ({_describe(r, b.key)})"))
            seen.setdefault(k, r)
        if b.recorded and unrecorded:
            self.out.append(Difference(
                b.table, ", ".join(f"row {r['id']}" for r in unrecorded[:3]) + (" ..." if len(unrecorded) > 3 else ""),
                entry.index, "in the log, but the entry is not recorded on the row yet (the platform records it "
                "within a second, or when it starts again)", pending=True))
        for k, d in want.items():
            if k not in seen:
                self.out.append(Difference(b.table, f"({_describe(d, b.key) or 'its row'})", entry.index,
                                           f"is in the log but missing from the table ({_describe(d, b.fields)})"))

    def finish(self, now: datetime, grace: float) -> list[Difference]:
        b = self.binding
        for ident, (entry, rows) in self.held.items():
            self.compare(entry, rows, self.waiting.pop(ident))
        for rows in self.waiting.values():
            for row in rows:
                at = row.get("at")
                age = None if at is None else (now - at).total_seconds()
                if age is not None and age < grace:
                    self.out.append(Difference(b.table, f"row {row['id']}", None, f"not in the log yet (committed "
                                               f"{_age(max(age, 0))} ago)", pending=True))
                elif age is None and b.identity is None:
                    self.out.append(Difference(b.table, f"row {row['id']}", None, "has no log entry"))
                else:
                    when = "" if age is None else f"committed {_age(age)} ago; "
                    self.out.append(Difference(b.table, f"row {row['id']}", None, f"has no log entry ({when}a row the "
                                               "platform stored but had not published when it stopped is published "
                                               "when it starts again)"))
        return self.out


def check_binding(binding: Binding, ledger: Ledger | ExportedEntries, database: Any, *,
                  grace: float = PUBLISH_GRACE, now: datetime | None = None) -> list[Difference]:
    """Re-derive ``binding``'s rows from the log and name every row that differs, is missing, or has no entry."""
    return check_bindings(ledger, database, [binding], grace=grace, now=now)


def check_bindings(
    ledger: Ledger | ExportedEntries, database: Any, bindings: Sequence[Binding] | None = None, *,
    grace: float = PUBLISH_GRACE, now: datetime | None = None,
) -> list[Difference]:
    """:func:`check_binding` for each binding (default: :data:`CONTROL_BINDINGS`), in one pass over the log.

    Rows not yet published (see the module's note) come back with ``pending`` set; every other
    :class:`Difference` is a row that does not agree with the log."""
    checks = [_Check(b) for b in (CONTROL_BINDINGS if bindings is None else bindings)]
    try:
        size = ledger.size
        for c in checks:
            c.read(database, size)
        for entry in ledger.entries():
            for c in checks:
                if c.wants(entry):
                    c.take(entry)
    except LedgerError as exc:  # an entry that no longer parses: the log itself is damaged
        return [Difference("ledger", "-", None, f"{exc} (run glasnost verify)")]
    moment = utcnow() if now is None else now
    return [d for c in checks for d in c.finish(moment, grace)]


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
