"""``glasnost serve`` and ``glasnost admin``: the platform's commands (registered in :mod:`glasnost.cli`)."""

from __future__ import annotations

import getpass
import os
import sys
from typing import Annotated

import typer

from glasnost.service.settings import DEFAULT_DATABASE, Settings, password_cost_from_env

__all__ = ["admin_app", "serve"]

admin_app = typer.Typer(help="Administer the planning platform.", no_args_is_help=True, add_completion=False)


def _settings(database: str, schema: str | None, demo: bool = False) -> Settings:
    return Settings(database_url=database, schema=schema, demo=demo, password_cost=password_cost_from_env())


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    database: Annotated[
        str,
        typer.Option(
            envvar="GLASNOST_DATABASE",
            help="SQLAlchemy URL: sqlite:///FILE (WAL) or postgresql+psycopg://user@host:port/db",
        ),
    ] = DEFAULT_DATABASE,
    schema: Annotated[str | None, typer.Option(help="PostgreSQL: keep the tables in this schema")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="preload a demo cycle whose seats visitors can take")] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "warning",
    synchronous: Annotated[
        str,
        typer.Option(help="SQLite: FULL (a commit is on disk before the answer) or NORMAL (survives a killed server)"),
    ] = "FULL",
) -> None:
    """Run the planning platform (pages, JSON API with its OpenAPI document at /docs, public log)."""
    import uvicorn

    from glasnost.service.app import create_app

    # the writer threads (proposal intake, public log) release the GIL for every database call;
    # a short switch interval lets them take it back quickly while the event loop is busy
    sys.setswitchinterval(0.0005)
    if synchronous.upper() not in ("FULL", "NORMAL"):
        raise typer.BadParameter("choose FULL or NORMAL", param_hint="--synchronous")
    settings = _settings(database, schema, demo)
    settings.sqlite_synchronous = synchronous.upper()
    app = create_app(settings)
    typer.echo(f"glasnost platform on http://{host}:{port}/ (database {database})", err=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)


@admin_app.command("create-board")
def create_board(
    username: Annotated[str, typer.Argument(help="user name of the board account")],
    database: Annotated[str, typer.Option(envvar="GLASNOST_DATABASE", help="the platform's database URL")] = (
        DEFAULT_DATABASE
    ),
    schema: Annotated[str | None, typer.Option(help="PostgreSQL: the schema holding the tables")] = None,
    password_env: Annotated[
        str, typer.Option(help="read the password from this environment variable instead of asking")
    ] = "GLASNOST_PASSWORD",
) -> None:
    """Create a facilitation-board account (the first one, or another)."""
    from glasnost.service.actions import Platform

    password = os.environ.get(password_env) or getpass.getpass(f"password for {username}: ")
    from glasnost.economy.errors import GlasnostError

    platform = Platform(_settings(database, schema))
    try:
        platform.create_account(username, password, board=True)
    except GlasnostError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        platform.close()
    typer.echo(f"board account {username!r} created")
