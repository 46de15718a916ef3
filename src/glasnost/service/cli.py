"""``glasnost serve``, ``glasnost worker`` and ``glasnost admin``: the platform's commands (registered
in :mod:`glasnost.cli`)."""

from __future__ import annotations

import getpass
import os
import signal
import sys
import threading
from typing import Annotated

import typer

from glasnost.db.settings import DEFAULT_DATABASE, Settings, password_cost_from_env

__all__ = ["admin_app", "serve", "worker"]

admin_app = typer.Typer(help="Administer the planning platform.", no_args_is_help=True, add_completion=False)

DatabaseOption = Annotated[
    str,
    typer.Option(
        envvar="GLASNOST_DATABASE",
        help="SQLAlchemy URL: sqlite:///FILE (WAL) or postgresql+psycopg://user@host:port/db",
    ),
]
SchemaOption = Annotated[
    str | None, typer.Option(envvar="GLASNOST_SCHEMA", help="PostgreSQL: keep the tables in this schema")
]
SecretFileOption = Annotated[
    str | None,
    typer.Option(
        envvar="GLASNOST_SECRET_FILE",
        help="file holding the master secret that seals the log's signing key in the database (created if missing); "
        "or set GLASNOST_SECRET. Every process of one platform needs the same",
    ),
]


def _settings(database: str, schema: str | None, secret_file: str | None = None, **extra: object) -> Settings:
    settings = Settings.from_env()
    settings.database_url, settings.schema = database, schema
    settings.secret_file = secret_file or settings.secret_file
    settings.password_cost = password_cost_from_env()
    for name, value in extra.items():
        setattr(settings, name, value)
    return settings


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    database: DatabaseOption = DEFAULT_DATABASE,
    schema: SchemaOption = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1, max=64, help="server processes behind the one address (PostgreSQL only; SQLite is one process)"
        ),
    ] = 1,
    secret_file: SecretFileOption = None,
    secure_cookies: Annotated[
        bool,
        typer.Option(
            "--secure-cookies", envvar="GLASNOST_SECURE_COOKIES", help="mark cookies Secure (serve behind HTTPS)"
        ),
    ] = False,
    demo: Annotated[bool, typer.Option("--demo", help="preload a demo cycle whose seats visitors can take")] = False,
    jobs: Annotated[
        bool,
        typer.Option(
            "--jobs/--no-jobs",
            envvar="GLASNOST_JOBS",
            help="do scheduled work in these processes (round deadlines, alerts); --no-jobs leaves it to "
            "`glasnost worker` processes",
        ),
    ] = True,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "warning",
    synchronous: Annotated[
        str,
        typer.Option(help="SQLite: FULL (a commit is on disk before the answer) or NORMAL (survives a killed server)"),
    ] = "FULL",
) -> None:
    """Run the planning platform (pages, JSON API with its OpenAPI document at /docs, public log).

    With ``--workers N`` (PostgreSQL), N processes serve one address. Unless ``--no-jobs``, each
    process also does scheduled work: on PostgreSQL a job-queue worker takes each job once (a
    round's deadline, alerts for new reports); on SQLite the one process does it in a thread."""
    import uvicorn

    if synchronous.upper() not in ("FULL", "NORMAL"):
        raise typer.BadParameter("choose FULL or NORMAL", param_hint="--synchronous")
    settings = _settings(
        database,
        schema,
        secret_file,
        demo=demo,
        secure_cookies=secure_cookies,
        sqlite_synchronous=synchronous.upper(),
        jobs=jobs,
    )
    if workers > 1 and settings.is_sqlite:
        raise typer.BadParameter(
            "SQLite is written by one process; use a PostgreSQL database for several workers", param_hint="--workers"
        )
    # the writer threads (proposal intake, public log) release the GIL for every database call;
    # a short switch interval lets them take it back quickly while the event loop is busy
    sys.setswitchinterval(0.0005)
    typer.echo(
        f"glasnost platform on http://{host}:{port}/ (database {database}, {workers} process(es)"
        f"{'' if jobs else ', no scheduled work'})",
        err=True,
    )
    if workers == 1:
        from glasnost.service.app import create_app

        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level, access_log=False)
        return
    from glasnost.service.platform import Platform

    platform = Platform(settings)  # migrations, the log's key and tables, the demo: once, before the workers
    try:
        if settings.demo:
            from glasnost.service.demo import ensure_demo

            ensure_demo(platform)
    finally:
        platform.close()
    settings.demo = False
    os.environ.update(settings.to_env())
    uvicorn.run(
        "glasnost.service.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
    )


def worker(
    database: DatabaseOption = DEFAULT_DATABASE,
    schema: SchemaOption = None,
    secret_file: SecretFileOption = None,
    sweep: Annotated[
        float,
        typer.Option(
            min=0.1,
            max=3600,
            help="seconds between looks for due work (PostgreSQL: jobs that have come due; new jobs arrive at once)",
        ),
    ] = 1.0,
) -> None:
    """Do the platform's scheduled work without serving pages, until stopped (SIGTERM or Ctrl-C):
    close rounds at their deadlines, raise Cyberstride alerts for new reports, publish those whose
    window has passed. On PostgreSQL it is a job-queue worker (any number may run beside the
    servers; each job is done once); on SQLite it sweeps the database file."""
    from glasnost.service.platform import Platform

    settings = _settings(database, schema, secret_file, jobs=True)
    platform = Platform(settings)
    platform.jobs.sweep = sweep
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if settings.is_sqlite:
        platform.jobs.reports_arrived()  # reports stored while no worker ran (PostgreSQL: their job waits in the queue)
    platform.start()
    how = "sweeping every" if settings.is_sqlite else "job-queue worker, polling every"
    typer.echo(f"glasnost worker on {database}: {how} {sweep:g} s", err=True)
    try:
        stop.wait()
    finally:
        platform.close()


@admin_app.command("create-board")
def create_board(
    username: Annotated[str, typer.Argument(help="user name of the board account")],
    database: DatabaseOption = DEFAULT_DATABASE,
    schema: SchemaOption = None,
    secret_file: SecretFileOption = None,
    password_env: Annotated[
        str, typer.Option(help="read the password from this environment variable instead of asking")
    ] = "GLASNOST_PASSWORD",
) -> None:
    """Create a facilitation-board account (the first one, or another)."""
    from glasnost.economy.errors import GlasnostError
    from glasnost.service.platform import Platform

    password = os.environ.get(password_env) or getpass.getpass(f"password for {username}: ")
    platform = Platform(_settings(database, schema, secret_file))
    try:
        platform.accounts.create(username, password, board=True)
    except GlasnostError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        platform.close()
    typer.echo(f"board account {username!r} created")


@admin_app.command("check-books")
def check_books(
    database: DatabaseOption = DEFAULT_DATABASE,
    schema: SchemaOption = None,
    secret_file: SecretFileOption = None,
) -> None:
    """Re-derive the platform's figures from its public log and name every row that differs from it.

    Starts the platform once (which publishes what a crash left unpublished), then compares
    proposals, round results, plan variants, the vote's rules, ballots, receipts and tally, cycles
    and report lines with the log entries they were published as. Exit 1 if any row differs, is
    missing, or has no entry; rows stored in the last minute and not yet published are listed as
    notes only. (Anyone with a copy of the database and the log can run the same check with
    glasnost verify LOG --database URL.)"""
    from glasnost.economy.errors import GlasnostError
    from glasnost.service.platform import Platform

    try:
        platform = Platform(_settings(database, schema, secret_file))
    except GlasnostError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        if platform.recovered:
            typer.echo(f"published {platform.recovered} rows a stop had left unpublished", err=True)
        differences = platform.check_books()
    finally:
        platform.close()
    problems = [d for d in differences if not d.pending]
    for d in differences:
        typer.echo(("note: " if d.pending else "") + str(d))
    if problems:
        typer.echo(f"FAILED: {len(problems)} stored rows differ from the public log", err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: every stored row agrees with the public log ({len(differences)} not yet published)")
