"""A real second process for tests that need one (journal locks, a writer killed mid-run).

:func:`running_child` starts ``python -c CODE ARGS...`` with the repository on its path and
returns once the child printed its first line (it signals readiness that way, so no test
sleeps). A child that waits on ``sys.stdin.read()`` exits when its stdin closes, which the
context manager does at the end; a test may kill it first (``child.kill()``: SIGKILL).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def running_child(code: str, *args: str, ready: str) -> Iterator[subprocess.Popen[str]]:
    """The child running ``code`` with ``args`` (``sys.argv[1:]``), after it printed
    ``ready``; stdin closed and the child awaited on exit."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO_ROOT,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line == f"{ready}\n", f"child printed {line!r} (exit code {child.poll()})"
        yield child
    finally:
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()  # stdin at EOF: a child waiting on it exits
        child.wait(timeout=30)
