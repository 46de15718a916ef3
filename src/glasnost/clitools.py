"""What every ``glasnost`` command shares: the two consoles, the one-line error, the progress bar.

Both :mod:`glasnost.cli` and the command groups that live beside their packages (for example
:mod:`glasnost.simulate.cli`) import these from here, so no command module imports another.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
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


def small_pages() -> None:
    """Back numpy's new large arrays by ordinary pages, unless ``NUMPY_MADVISE_HUGEPAGE`` says.

    numpy asks the kernel for transparent huge pages on every large array it allocates; where
    the kernel then compacts memory on each first touch (``defrag`` set to ``madvise``, the
    usual default), a command that makes many short-lived arrays of 10^6-10^7 entries spends
    its time in the kernel: ``glasnost values`` at 10^6 products on the 2-core benchmark
    machine took 2.5-3.6 s of system time with huge pages and 1.0-1.1 s without (wall time
    median 7.6 against 6.1 s over 3 interleaved runs). A command runs this; a program that
    imports glasnost keeps numpy's setting.
    """
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # pragma: no cover - a numpy without the switch
        return
    _set_madvise_hugepage(False)


def arrow_pool() -> None:
    """Arrow's buffers from jemalloc where it is built in, unless ``ARROW_DEFAULT_MEMORY_POOL``
    says: reading a directory of 10^6 products into fresh memory took 3.2-3.3 s of load with
    jemalloc against 4.3-5.1 s with the default mimalloc (3 interleaved runs each, in fresh
    processes, on the 2-core benchmark machine; the system allocator 2.4-2.7 s against
    jemalloc's 2.2-2.5 s in another three). A command runs this; a program that imports
    glasnost keeps Arrow's choice."""
    if "ARROW_DEFAULT_MEMORY_POOL" in os.environ:
        return
    import pyarrow as pa

    with suppress(NotImplementedError, pa.ArrowNotImplementedError):  # a pyarrow built without it
        pa.set_memory_pool(pa.jemalloc_memory_pool())


_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4  # glibc's mallopt parameters


def heap_reuse() -> None:
    """Keep the memory of freed large arrays in the process for the next ones (glibc only),
    unless a ``MALLOC_*_`` variable of glibc's says otherwise.

    glibc gives every allocation above 32 MiB its own mapping and unmaps it when freed, so
    each of a command's many temporary arrays of 10^6-10^7 entries is faulted in page by page
    afresh. Served from the heap and never trimmed, freed arrays are reused as they are:
    ``glasnost generate 1000000`` 5.8 -> 5.4 s and ``glasnost values`` 5.5 -> 5.3 s wall on
    the 2-core benchmark machine (system time 1.25 -> 0.7 s and 1.5 -> 1.1 s; two
    interleaved runs each). A command that ends soon runs this; the platform's long-running
    processes and a program that imports glasnost keep glibc's setting.
    """
    if any(name.startswith("MALLOC_") and name.endswith("_") for name in os.environ):
        return
    import ctypes

    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt(_M_MMAP_MAX, 0)
    mallopt(_M_TRIM_THRESHOLD, 1 << 62)
    mallopt(_M_TOP_PAD, 256 << 20)


def command_memory(*, long_running: bool = False) -> None:
    """How a command allocates: :func:`small_pages`, :func:`arrow_pool` and, for a command
    that ends (not ``serve`` or ``worker``), :func:`heap_reuse`."""
    small_pages()
    arrow_pool()
    if not long_running:
        heap_reuse()


def friendly_errors(func: Callable[..., Any], *, long_running: bool = False) -> Callable[..., Any]:
    """Turn glasnost's own errors (bad input) into one readable line and exit code 1; numpy's
    and Arrow's memory set for large arrays meanwhile (:func:`command_memory`)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        command_memory(long_running=long_running)
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
