"""Running ``ratebook`` commands from the bench, timed, with their peak memory."""

from __future__ import annotations

import subprocess
import sys
import time

#: Runs a command and prints its peak RSS in KB. A small process of its own starts it: Linux
#: counts a child's memory before ``exec`` (a copy of its parent's) in its peak, and the bench
#: holds whole parsed files in memory by then.
_PEAK = (
    "import resource, subprocess, sys;"
    "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL);"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def ratebook_rss(db: str, *args: str) -> tuple[float, int]:
    """Seconds a ratebook command took and its own peak RSS in MB."""
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _PEAK, sys.executable, "-m", "ratebook", "--db", db, *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - began, int(done.stdout.split()[-1]) // 1024
