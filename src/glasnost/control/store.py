"""Storing report lines, targets and coefficients, and publishing every imported batch to the public log.

An import is all or nothing: the lines are checked first (every bad line named), then written in
one database transaction; inside that transaction the batch is appended to the public log (one
``report`` entry per workplace and period, and one ``report-batch`` entry), and only when the log
has taken it is the transaction committed. A report for a workplace and period that was reported
before is a correction: its entry refers to the earlier report's entry (``refers_to``), and its
figures replace the earlier ones in :func:`load_reports`; nothing is edited. On any error nothing
is stored. (The log is a separate
database or file; if the final commit itself failed after the log took the entries, the log would
name a batch the database lacks: the batch's ``report-batch`` entry carries the file's SHA-256, so a
re-import is recognisable.)
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import delete, func, insert, select

from glasnost.control.errors import ControlError
from glasnost.control.reports import COLUMNS, KEY, SCHEMA, Reports, read_reports_csv
from glasnost.control.tables import Batch, Coefficient, Line, Report, Target
from glasnost.db.engine import Database, migrate
from glasnost.db.settings import Settings
from glasnost.ledger import Ledger, Receipt

__all__ = [
    "ImportResult",
    "import_reports",
    "import_reports_csv",
    "load_coefficients",
    "load_reports",
    "load_targets",
    "open_database",
    "report_entries",
    "store_coefficients",
    "store_targets",
]

_CHUNK = 20_000


@dataclass(frozen=True)
class ImportResult:
    """What an import stored: the batch, its lines, and the public log entries it was published as."""

    batch: int
    lines: int
    sha256: str
    reports: int
    receipts: list[Receipt]
    keys: list[tuple[str, int]] = field(default_factory=list)

    def receipt_lines(self) -> list[dict[str, Any]]:
        """One receipt per report: workplace, period, log index and leaf hash (what a workplace keeps)."""
        return [
            {"workplace": w, "period": p, "index": r.index, "leaf_hash": r.leaf_hash.hex()}
            for (w, p), r in zip(self.keys, self.receipts, strict=False)
        ]

    @property
    def log_first(self) -> int:
        return self.receipts[0].index


def open_database(url: str, *, schema: str | None = None) -> Database:
    """Open the platform's database at a SQLAlchemy URL and bring every table up to date (migrations).

    A bare file path is taken as a SQLite file; ``postgresql://`` is used with psycopg 3.
    """
    if "://" not in url:
        url = f"sqlite:///{Path(url)}"
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    database = Database(Settings(database_url=url, schema=schema))
    migrate(database)
    return database


# ---- the public log's entries for a batch ------------------------------------------------------


def _column_lists(table: pa.Table) -> dict[str, list[Any]]:
    return {c: table[c].to_pylist() for c in ("line", *COLUMNS)}


def report_entries(reports: Reports, *, batch: int, source: str, sha256: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """One ``report`` entry per (workplace, period), its lines as arrays, then one ``report-batch`` entry.

    The arrays hold the report's lines in file order: ``line``, ``kind``, ``product``, ``variant``,
    ``grade``, ``quantity``, ``counterparty``, ``rating`` (null where not given).
    """
    table = reports.table
    order = pc.sort_indices(table, sort_keys=[(c, "ascending") for c in ("workplace", "period", "line")])
    table = table.take(order)
    cols = _column_lists(table)
    wp = np.asarray(cols["workplace"], dtype=object)
    period = np.asarray(cols["period"])
    cut = np.flatnonzero((wp[1:] != wp[:-1]) | (period[1:] != period[:-1])) + 1
    bounds = np.concatenate(([0], cut, [len(wp)])) if len(wp) else np.array([0])
    fields = ("line", "kind", "product", "variant", "grade", "quantity", "counterparty", "rating")
    for lo, hi in itertools.pairwise(bounds):
        yield (
            "report",
            {
                "batch": batch,
                "workplace": wp[lo],
                "period": int(period[lo]),
                "lines": {f: cols[f][lo:hi] for f in fields},
            },
        )
    yield (
        "report-batch",
        {"batch": batch, "source": source, "sha256": sha256, "lines": len(reports), "reports": len(bounds) - 1},
    )


# ---- import --------------------------------------------------------------------------------------


def import_reports(
    database: Database, reports: Reports, ledger: Ledger, *, source: str, sha256: str | None = None
) -> ImportResult:
    """Store checked report lines as one batch and publish it to the log, all or nothing.

    Parameters
    ----------
    database
        The platform's database (:func:`open_database`).
    reports
        Checked report lines (:func:`glasnost.control.reports.read_reports_csv`).
    ledger
        The public log the batch is appended to.
    source
        Where the lines came from (a file name), kept with the batch.
    sha256
        The file's SHA-256 (hex); a batch with the same hash already stored is refused. Default: the
        SHA-256 of the lines in Arrow's IPC stream format.

    Raises
    ------
    ControlError
        If the same file was imported before, or the database or log refuses the batch (then nothing
        is stored).
    """
    if sha256 is None:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, reports.table.schema) as writer:
            writer.write_table(reports.table)
        sha256 = hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()
    if len(reports) == 0:
        raise ControlError("no report lines to import", where=source)
    try:
        with database.write() as session:
            earlier = session.scalar(select(Batch.id).where(Batch.sha256 == sha256))
            if earlier is not None:
                raise ControlError(f"this file was already imported as batch {earlier}", where=source)
            batch = Batch(source=source[-500:], sha256=sha256, lines=len(reports), log_count=0)
            session.add(batch)
            session.flush()
            _insert_lines(session.connection(), batch.id, reports.table)
            entries = list(report_entries(reports, batch=batch.id, source=Path(source).name, sha256=sha256))
            keys = [(e[1]["workplace"], e[1]["period"]) for e in entries if e[0] == "report"]
            previous = _latest_report_entries(session, keys)
            items = [
                (kind, payload, previous.get((payload.get("workplace"), payload.get("period"))))
                if kind == "report"
                else (kind, payload)
                for kind, payload in entries
            ]
            receipts = ledger.append_many(items)
            batch.log_first, batch.log_count = receipts[0].index, len(receipts)
            report_rows = [
                {"batch_id": batch.id, "workplace": w, "period": p, "log_index": r.index,
                 "leaf_hash": r.leaf_hash.hex(), "corrects": previous.get((w, p))}
                for (w, p), r in zip(keys, receipts, strict=False)
            ]
            _insert_rows(session.connection(), Report.__table__.name, report_rows)
            batch_id = batch.id
    except ControlError:
        raise
    except Exception as exc:  # database errors: nothing was committed
        raise ControlError(f"the import was refused and nothing was stored ({exc})", where=source) from exc
    return ImportResult(batch_id, len(reports), sha256, len(receipts) - 1, receipts, keys)


def _insert_lines(conn: Any, batch_id: int, table: pa.Table) -> None:
    """Insert report lines straight through the driver (see :func:`_insert_tuples`)."""
    names = ["batch_id", *SCHEMA.names]
    columns = [[batch_id] * table.num_rows, *(table[c].to_pylist() for c in SCHEMA.names)]
    _insert_tuples(conn, Line.__table__.name, names, list(zip(*columns, strict=True)))


def _insert_rows(conn: Any, target: str, rows: list[dict[str, Any]]) -> None:
    """Insert dictionaries (all with the same keys) straight through the driver."""
    if rows:
        names = list(rows[0])
        _insert_tuples(conn, target, names, [tuple(r[n] for n in names) for r in rows])


def _insert_tuples(conn: Any, target: str, names: list[str], rows: list[tuple[Any, ...]]) -> None:
    """COPY on PostgreSQL, executemany on SQLite, in the connection's transaction."""
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY {target} ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {target} ({', '.join(names)}) VALUES ({', '.join([mark] * len(names))})"
    for lo in range(0, len(rows), _CHUNK):
        conn.exec_driver_sql(sql, rows[lo : lo + _CHUNK])


def _latest_report_entries(session: Any, keys: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """The log index of the latest earlier report of each (workplace, period) among ``keys``."""
    if not keys:
        return {}
    workplaces = sorted({w for w, _ in keys})
    wanted = set(keys)
    found: dict[tuple[str, int], int] = {}
    for lo in range(0, len(workplaces), 500):
        rows = session.execute(
            select(Report.workplace, Report.period, func.max(Report.log_index))
            .where(Report.workplace.in_(workplaces[lo : lo + 500]))
            .group_by(Report.workplace, Report.period)
        ).all()
        found.update({(w, int(p)): int(i) for w, p, i in rows if (w, int(p)) in wanted})
    return found


def import_reports_csv(database: Database, path: str | Path, ledger: Ledger) -> ImportResult:
    """Check a CSV file of report lines and import it (see :func:`import_reports`).

    Raises
    ------
    ReportError
        Naming every bad line and column; nothing is stored then.
    """
    path = Path(path)
    reports = read_reports_csv(path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return import_reports(database, reports, ledger, source=str(path), sha256=sha)


def load_reports(database: Database, *, periods: tuple[int, int] | None = None) -> Reports:
    """Every stored report line (a figure given again in a later batch replaces the earlier one).

    Parameters
    ----------
    periods
        ``(first, last)`` to read only those periods (inclusive).
    """
    cols = [Line.batch_id, Line.line, *(getattr(Line, c) for c in COLUMNS)]
    stmt = select(*cols)
    if periods is not None:
        stmt = stmt.where(Line.period >= periods[0], Line.period <= periods[1])
    with database.read() as session:
        rows = session.execute(stmt.order_by(Line.batch_id, Line.id)).all()
    names = ["batch_id", "line", *COLUMNS]
    types = [pa.int64(), *(SCHEMA.field(c).type for c in names[1:])]
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
    table = pa.table({n: pa.array(list(c), t) for n, c, t in zip(names, cols, types, strict=True)})
    table = _latest_per_key(table)
    return Reports(table.select(SCHEMA.names).cast(SCHEMA))


def _latest_per_key(table: pa.Table) -> pa.Table:
    """Keep the last row (latest batch) of every figure's key."""
    if table.num_rows < 2:
        return table
    codes = np.stack(
        [pc.dictionary_encode(table[c].combine_chunks()).indices.to_numpy(zero_copy_only=False)
         if not pa.types.is_integer(table[c].type) else table[c].to_numpy() for c in KEY],
        axis=1,
    ).astype(np.int64)
    _, last_rev = np.unique(codes[::-1], axis=0, return_index=True)
    keep = np.sort(table.num_rows - 1 - last_rev)
    return table.take(pa.array(keep))


# ---- targets and coefficients ----------------------------------------------------------------------


def store_targets(database: Database, targets: pa.Table) -> int:
    """Replace the plan's targets for the periods in ``targets`` (see :mod:`glasnost.control.plan`)."""
    periods = sorted(set(targets["period"].to_pylist()))
    rows = targets.select(["period", "workplace", "product", "quantity", "quality", "price"]).to_pylist()
    with database.write() as session:
        session.execute(delete(Target).where(Target.period.in_(periods)))
        if rows:
            session.connection().execute(insert(Target), rows)
    return len(rows)


def load_targets(database: Database) -> pa.Table:
    """Every stored target: period, workplace, product, quantity, quality, price."""
    with database.read() as session:
        rows = session.execute(
            select(Target.period, Target.workplace, Target.product, Target.quantity, Target.quality, Target.price)
        ).all()
    names = ["period", "workplace", "product", "quantity", "quality", "price"]
    types = [pa.int64(), pa.string(), pa.string(), pa.float64(), pa.float64(), pa.float64()]
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
    return pa.table({n: pa.array(list(c), t) for n, c, t in zip(names, cols, types, strict=True)})


def store_coefficients(database: Database, coefficients: pa.Table) -> int:
    """Replace the plan's technical coefficients for the workplaces in ``coefficients``."""
    workplaces = sorted(set(coefficients["workplace"].to_pylist()))
    rows = coefficients.select(["workplace", "product", "input", "per_unit"]).to_pylist()
    with database.write() as session:
        session.execute(delete(Coefficient).where(Coefficient.workplace.in_(workplaces)))
        if rows:
            session.connection().execute(insert(Coefficient), rows)
    return len(rows)


def load_coefficients(database: Database) -> pa.Table:
    """Every stored technical coefficient: workplace, product, input, per_unit."""
    with database.read() as session:
        rows = session.execute(
            select(Coefficient.workplace, Coefficient.product, Coefficient.input, Coefficient.per_unit)
        ).all()
    names = ["workplace", "product", "input", "per_unit"]
    types = [pa.string(), pa.string(), pa.string(), pa.float64()]
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
    return pa.table({n: pa.array(list(c), t) for n, c, t in zip(names, cols, types, strict=True)})


def batch_count(database: Database) -> int:
    """How many batches are stored."""
    with database.read() as session:
        return int(session.scalar(select(func.count(Batch.id))) or 0)
