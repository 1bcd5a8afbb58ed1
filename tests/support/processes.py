"""This process's descendants, read from ``/proc`` (Linux): for tests that must show that the
Ray processes a sweep starts (GCS server, raylet, workers — all descendants of the process
that called ``ray.init``) are gone when it ends."""

from __future__ import annotations

import os
from pathlib import Path

_PROC = Path("/proc")


def descendants(root: int | None = None) -> dict[int, str]:
    """``{pid: command line}`` of every live (not zombie) descendant of ``root`` (default:
    this process)."""
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        stat = _read(entry / "stat")
        if stat is None:
            continue
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if state != "Z":
            children.setdefault(int(ppid), []).append(int(entry.name))
    found: dict[int, str] = {}
    stack = [os.getpid() if root is None else root]
    while stack:
        for pid in children.get(stack.pop(), []):
            cmdline = _read(_PROC / str(pid) / "cmdline")
            if cmdline is not None:
                found[pid] = cmdline.replace("\0", " ").strip()
                stack.append(pid)
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (zombies count as gone)."""
    out = set()
    for pid in pids:
        stat = _read(_PROC / str(pid) / "stat")
        if stat is not None and stat[stat.rindex(")") + 2 :].split()[0] != "Z":
            out.add(pid)
    return out


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:  # the process ended meanwhile
        return None
