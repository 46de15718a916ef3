"""How a command allocates: freed large arrays are reused, not faulted in afresh."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

FAULTS_OF_A_SECOND_ARRAY = r"""
import resource, sys
import numpy as np
from glasnost.clitools import command_memory
command_memory(long_running=sys.argv[1] == "server")  # small pages both ways: faults count pages
n = 100 * 2**20 // 8  # 100 MiB of float64: above glibc's largest mapping threshold
a = np.ones(n); del a
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
b = np.ones(n)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", FAULTS_OF_A_SECOND_ARRAY, mode], env=env, capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator on Linux only")
def test_a_command_reuses_the_memory_of_a_freed_large_array() -> None:
    pages = 100 * 2**20 // os.sysconf("SC_PAGE_SIZE")
    # a long-running process keeps glibc's default: the second array is a new mapping
    assert _faults("server") > pages // 2
    # a command keeps freed memory in its heap: the second array takes the first one's pages
    assert _faults("command") < pages // 20
