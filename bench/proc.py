"""Run one child process and measure it alone: wall time, CPU time, peak RSS."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Child:
    """What one child cost: ``wall`` and ``cpu`` (user + system) seconds, peak RSS in MB."""

    wall: float
    cpu: float
    peak_rss_mb: float
    returncode: int
    output: str


def measure(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
            cwd: str | Path | None = None, timeout: float = 600.0) -> Child:
    """Run ``argv`` to completion (killed after ``timeout`` s); stdout and stderr merged.

    ``os.wait4`` on the child's pid gives that child's own rusage — unlike
    ``RUSAGE_CHILDREN``, which is the maximum over every child ever waited for.
    CPU time is the child's user + system time: less sensitive than wall time to
    other processes competing for the CPUs.
    """
    with tempfile.TemporaryFile("w+") as out:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT,
                                   env=dict(env) if env is not None else None, cwd=cwd)
        killer = threading.Timer(timeout, process.kill)  # bounds the blocking wait below
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    return Child(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                 process.returncode, output)
