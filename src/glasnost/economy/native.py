"""The economy model's optional compiled passes (``glasnost.economy._kernels``, built by
setup.py where a C compiler is found) and how many threads they may use."""

from __future__ import annotations

import os

try:
    from glasnost.economy import _kernels
except ImportError:  # pragma: no cover - installed without a C compiler
    _kernels = None

kernels = _kernels
"""The compiled module, or None: callers keep a numpy path for that case."""


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. under taskset or an MPI binding)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


_threads = usable_cpus()


def kernel_threads() -> int:
    """OpenMP threads a compiled pass may start: the usable CPUs, one in a forked child."""
    return _threads


def _one_thread_after_fork() -> None:
    # GNU OpenMP cannot start threads in a child forked after the parent ran a parallel
    # region (the child hangs); a one-thread region never starts any
    global _threads
    _threads = 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_one_thread_after_fork)
