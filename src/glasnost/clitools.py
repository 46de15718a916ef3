"""What every ``glasnost`` command shares: the two consoles, the one-line error, the progress bar.

Both :mod:`glasnost.cli` and the command groups that live beside their packages (for example
:mod:`glasnost.simulate.cli`) import these from here, so no command module imports another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from glasnost.economy import GlasnostError

console = Console(stderr=True)
"""Messages, errors and progress: standard error."""
out = Console()
"""Results: standard output."""


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn glasnost's own errors (bad input) into one readable line and exit code 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (GlasnostError, FileNotFoundError, ValueError) as exc:
            console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


@contextmanager
def steps(total: int, quiet: bool = False) -> Iterator[Callable[[str], None]]:
    """A progress bar over the named steps of a long job (on standard error)."""
    if quiet:
        yield lambda _label: None
        return
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with progress:
        task = progress.add_task("starting", total=total)
        first = [True]

        def advance(label: str) -> None:
            if not first[0]:
                progress.advance(task)
            first[0] = False
            progress.update(task, description=label)

        yield advance
        progress.update(task, completed=total)
