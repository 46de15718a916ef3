"""``glasnost control``: import implementation reports, check them, raise alerts.

Registered in :mod:`glasnost.cli` as a sub-command group. The database is the platform's
(``--database``: a SQLAlchemy URL or a SQLite file; default ``$GLASNOST_DATABASE`` or
``glasnost-service.sqlite``); the public log is the platform's too (``--log``; default next to a
SQLite database, or in the same PostgreSQL database).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from glasnost.control.errors import ReportError
from glasnost.economy.errors import GlasnostError

app = typer.Typer(help="Implementation control: import reports, reconcile them, measure fulfilment, raise alerts.",
                  no_args_is_help=True, add_completion=False)
console = Console(stderr=True)
out = Console()

DatabaseOpt = Annotated[str | None, typer.Option("--database", "-d", help="SQLAlchemy URL or SQLite file")]
SchemaOpt = Annotated[str | None, typer.Option(help="PostgreSQL: the schema holding the tables")]
LogOpt = Annotated[str | None, typer.Option("--log", help="the public log: SQLite file or postgresql:// URL")]


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Bad input becomes one readable line and exit code 1 (a bad report file: one line per problem)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ReportError as exc:
            _report_error(exc)
        except (GlasnostError, FileNotFoundError, ValueError) as exc:
            console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def _database_url(database: str | None) -> str:
    from glasnost.db.settings import Settings

    return database or Settings.from_env().database_url


def _log_source(url: str, log: str | None, schema: str | None) -> tuple[str, str | None]:
    from glasnost.db.settings import Settings

    if log:
        return log, schema if log.startswith(("postgresql://", "postgres://")) else None
    full = url if "://" in url else f"sqlite:///{url}"
    if full.startswith(("postgresql://", "postgres://")):
        full = "postgresql+psycopg://" + full.split("://", 1)[1]
    source = Settings(database_url=full, schema=schema).ledger_source()
    return source, schema if source.startswith("postgresql") else None


def _print_table(title: str, table: Any, limit: int) -> None:
    shown = table.slice(0, limit).to_pylist()
    t = Table(title=f"{title} ({table.num_rows}{', first ' + str(limit) if table.num_rows > limit else ''})")
    for c in table.column_names:
        t.add_column(c, justify="right" if c not in ("check", "workplace", "product", "supplier", "receiver",
                                                     "input", "indicator", "state") else "left")
    for row in shown:
        t.add_row(*(f"{v:.6g}" if isinstance(v, float) else escape(str(v)) for v in row.values()))
    out.print(t)


def _report_error(exc: ReportError) -> None:
    """Every problem on its own line (standard error), then a summary; exit code 1."""
    for p in exc.problems:
        typer.echo(f"{exc.where}: {p}", err=True)
    console.print(f"[bold red]error:[/] {len(exc.problems)} problems in {escape(str(exc.where))}; nothing was imported",
                  highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@app.command("import")
@friendly
def import_command(
    file: Annotated[Path, typer.Argument(help="CSV of report lines (kind, period, workplace, product, quantity, ...)")],
    database: DatabaseOpt = None,
    schema: SchemaOpt = None,
    log: LogOpt = None,
    key: Annotated[Path | None, typer.Option("--key", help="private key (PEM) to sign a checkpoint after")] = None,
    receipts: Annotated[Path | None, typer.Option("--receipts", help="write each report's receipt here "
                                                   "(JSON lines: workplace, period, index, leaf_hash)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Import a CSV file of report lines: all of it or, if any line is bad, none (every bad line is listed)."""
    import time

    from glasnost.control.store import import_reports_csv, open_database
    from glasnost.ledger import Ledger, load_signing_key

    url = _database_url(database)
    t0 = time.perf_counter()
    db = open_database(url, schema=schema)
    source, log_schema = _log_source(url, log, schema)
    try:
        with Ledger.open(source, schema=log_schema) as ledger:
            result = import_reports_csv(db, file, ledger)
            checkpoint = ledger.checkpoint(load_signing_key(key)) if key is not None else None
    finally:
        db.dispose()
    seconds = time.perf_counter() - t0
    if receipts is not None:
        receipts.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in result.receipt_lines()))
    summary = {
        "batch": result.batch,
        "lines": result.lines,
        "reports": result.reports,
        "log_entries": [result.log_first, result.receipts[-1].index],
        "sha256": result.sha256,
        "checkpoint": checkpoint.tree_size if checkpoint else None,
        "seconds": round(seconds, 3),
    }
    if as_json:
        typer.echo(json.dumps(summary))
        return
    out.print(
        f"Imported batch {result.batch}: {result.lines} lines, {result.reports} reports, published as log entries "
        f"{result.log_first}..{result.receipts[-1].index} of {escape(source)} in {seconds:.2f} s"
        + (f"; checkpoint signed at size {checkpoint.tree_size}" if checkpoint else "")
    )


@app.command("plan")
@friendly
def plan_command(
    targets: Annotated[Path | None, typer.Option("--targets", help="CSV: period, workplace, product, quantity"
                                                  "[, quality, price]")] = None,
    coefficients: Annotated[Path | None, typer.Option("--coefficients", help="CSV: workplace, product, input, "
                                                       "per_unit")] = None,
    economy: Annotated[Path | None, typer.Option("--economy", help="economy directory: targets and coefficients "
                                                  "from its optimal plan (scale objective)")] = None,
    period: Annotated[int, typer.Option(help="with --economy: the period the targets are for")] = 0,
    database: DatabaseOpt = None,
    schema: SchemaOpt = None,
) -> None:
    """Store the plan's targets and technical coefficients that reports are checked against."""
    from glasnost.control.planfiles import plan_for_control, read_coefficients_csv, read_targets_csv
    from glasnost.control.store import open_database, store_coefficients, store_targets

    if targets is None and coefficients is None and economy is None:
        raise typer.BadParameter("give --targets, --coefficients or --economy")
    tg = read_targets_csv(targets) if targets else None
    cf = read_coefficients_csv(coefficients) if coefficients else None
    if economy is not None:
        from glasnost.compute import optimal_plan
        from glasnost.economy import load

        eco = load(economy)
        plan = optimal_plan(eco, "scale")
        tg_e, cf_e = plan_for_control(eco, plan.activity, period=period, prices=plan.prices)
        tg = tg if tg is not None else tg_e
        cf = cf if cf is not None else cf_e
    db = open_database(_database_url(database), schema=schema)
    try:
        if tg is not None:
            out.print(f"Stored {store_targets(db, tg)} targets")
        if cf is not None:
            out.print(f"Stored {store_coefficients(db, cf)} technical coefficients")
    finally:
        db.dispose()


@app.command("check")
@friendly
def check_command(
    database: DatabaseOpt = None,
    schema: SchemaOpt = None,
    tolerance: Annotated[float, typer.Option(help="relative difference not listed as a mismatch")] = 1e-6,
    coefficient_tolerance: Annotated[float, typer.Option(help="for inputs against coefficients")] = 0.02,
    limit: Annotated[int, typer.Option(help="rows shown per table")] = 15,
    out_dir: Annotated[Path | None, typer.Option("--out", help="write every table as Parquet here")] = None,
    report_dir: Annotated[Path | None, typer.Option("--report", help="write an HTML report with plots here")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Reconcile the stored reports, measure fulfilment in use value, and test first digits (Benford)."""
    import pyarrow.parquet as pq

    from glasnost.control.benford import benford_test
    from glasnost.control.fulfilment import fulfilment
    from glasnost.control.reconcile import reconcile
    from glasnost.control.store import load_coefficients, load_reports, load_targets, open_database

    db = open_database(_database_url(database), schema=schema)
    try:
        reports = load_reports(db)
        targets, coefficients = load_targets(db), load_coefficients(db)
    finally:
        db.dispose()
    rec = reconcile(reports, coefficients, rel_tol=tolerance, coefficient_tol=coefficient_tolerance)
    ful = fulfilment(reports, targets) if targets.num_rows else None
    quantities = reports.table["quantity"].to_numpy(zero_copy_only=False)
    try:
        benford = benford_test(quantities)
    except ValueError:
        benford = None
    tables = {"shipments": rec.shipments, "balances": rec.balances}
    if rec.coefficients is not None:
        tables["coefficients"] = rec.coefficients
    if ful is not None:
        tables["fulfilment_by_product"] = ful.by_product
        tables["fulfilment_by_workplace"] = ful.by_workplace
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, table in tables.items():
            pq.write_table(table, out_dir / f"{name}.parquet")
    if report_dir is not None:
        from glasnost.control.report import control_report

        page = control_report(report_dir, lines=len(reports), reconciliation=rec, fulfilment=ful, benford=benford)
        console.print(f"Report written to {escape(str(page))}", highlight=False, soft_wrap=True)
    if as_json:
        typer.echo(json.dumps({
            "lines": len(reports),
            "mismatches": {k: v.num_rows for k, v in tables.items() if k in ("shipments", "balances", "coefficients")},
            "benford": None if benford is None else {"n": benford.n, "mad": benford.mad, "chi2": benford.chi2,
                                                     "conformity": benford.conformity, "audit": benford.audit},
        }))
        return
    out.print(f"{len(reports)} report lines; {rec.summary()}")
    for name, table in tables.items():
        _print_table(name.replace("_", " "), table, limit)
    if benford is not None:
        out.print(benford.summary())
    if out_dir is not None:
        out.print(f"Tables written to {out_dir}")


@app.command("alerts")
@friendly
def alerts_command(
    database: DatabaseOpt = None,
    schema: SchemaOpt = None,
    log: LogOpt = None,
    threshold: Annotated[float, typer.Option(help="probability of a change that raises an alert")] = 0.9,
    window_days: Annotated[float, typer.Option(help="days an alert is shown to its workplace only")] = 7.0,
) -> None:
    """Run Cyberstride over the stored reports: raise new alerts, publish those whose window has passed."""
    from glasnost.control.alerts import find_anomalies, publish_due, raise_alerts
    from glasnost.control.store import load_reports, open_database
    from glasnost.ledger import Ledger

    url = _database_url(database)
    db = open_database(url, schema=schema)
    source, log_schema = _log_source(url, log, schema)
    try:
        findings = find_anomalies(load_reports(db), threshold=threshold)
        new = raise_alerts(db, findings, window=timedelta(days=window_days))
        with Ledger.open(source, schema=log_schema) as ledger:
            published = publish_due(db, ledger)
    finally:
        db.dispose()
    for f in findings:
        out.print(f"{escape(f.workplace)} {escape(f.product)}: {f.indicator} {f.state} in period {f.period} "
                  f"(p = {f.probability:.3f}, level moved {f.change:+.4g})", soft_wrap=True)
    out.print(f"{len(findings)} anomalies, {len(new)} new alerts (shown to their workplace for {window_days:g} days), "
              f"{published} published to the log", soft_wrap=True)
