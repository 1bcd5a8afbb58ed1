"""Progress bars on a terminal, drawn by ``rich`` on the console the log lines go through.

Log lines in console format on a terminal are printed through one ``rich`` console
(:func:`agent.logs.terminal_console`); a :class:`rich.progress.Progress` drawn on that same
console is a live display that rich keeps below whatever is printed, so a warning logged during
a replay appears above the bar instead of being torn by it (``...USD2026-12-06T19:15:07Z``).

No bar is drawn when there is no such console: JSON lines (under systemd, PM2, a pipe or
``[logging] format = "json"``) are never mixed with drawing, and the end of a replay is logged
instead (``replay_finished``). ``rich`` is imported only here and only when a bar is drawn.

Used by the replay driver (:mod:`agent.supervisor`) and ``zerobeta data download``
(:mod:`agent.data.download`).
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from agent.logs import terminal_console

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID


class TerminalProgress:
    """One progress bar with a text field after it, on ``console``; a context manager that
    starts the live display on entry and removes it on exit (leaving the final line).

    Parameters
    ----------
    console : rich.console.Console
        The console log lines are printed through (:func:`agent.logs.terminal_console`).
    description : str
        Label before the bar (``"replay"``, ``"download"``).
    total : float
        Units of work at 100 % (steps, files); must be > 0.

    Raises
    ------
    ValueError
        If ``total`` is not positive.
    """

    def __init__(self, console: Console, description: str, total: float) -> None:
        if total <= 0:
            raise ValueError(f"progress total must be positive, got {total}")
        from rich.progress import (  # a terminal only: off the import path of services
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress: Progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[detail]}"),
            console=console,
            transient=False,
        )
        self._task: TaskID = self._progress.add_task(description, total=total, detail="")

    def __enter__(self) -> TerminalProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def update(self, completed: float, detail: str = "") -> None:
        """Set the work done (same unit as ``total``) and the text after the bar."""
        self._progress.update(self._task, completed=completed, detail=detail)

    @property
    def completed(self) -> float:
        """Work done so far, as last set by :meth:`update`."""
        return float(self._progress.tasks[0].completed)


def terminal_progress(
    description: str, total: float, stream: TextIO | None = None
) -> TerminalProgress | None:
    """A :class:`TerminalProgress`, or None when no bar should be drawn.

    Without ``stream``: on the log console when log lines are rendered for a person on a
    terminal, else None (JSON lines are never mixed with drawing). With ``stream`` (a command
    that writes its own output there): on the log console if that is where it prints, else on a
    console of its own when ``stream`` is a terminal, else None. Always None when ``total`` is
    not positive (nothing to do).
    """
    if total <= 0:
        return None
    console = terminal_console()
    if stream is not None and (console is None or console.file is not stream):
        if not stream.isatty():
            return None
        from rich.console import Console

        console = Console(file=stream, force_terminal=True, stderr=False)
    if console is None:
        return None
    return TerminalProgress(console, description, total)
