"""Journal storage: the SQLite connection, opening it, and the buffered batch commits.

:class:`JournalStore` is the part of :class:`agent.journal.journal.Journal` that touches SQLite. It
opens the file
(``journal_mode=WAL``, ``synchronous=NORMAL`` — ``FULL`` when ``durable`` —, schema from
:mod:`agent.journal.schema`), holds rows pending per table, commits them in one transaction
(:meth:`JournalStore.flush`, also whenever ``batch_rows`` rows are pending, and after each
write-ahead row of a durable journal: :meth:`JournalStore.commit_ahead`) and runs the readers'
queries after a flush.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from agent.errors import JournalError
from agent.journal.schema import (
    MEMORY,
    SCHEMA,
    TABLES,
    configure_connection,
    ensure_schema,
    insert_sql,
)

ROWS_PER_INSERT = 100
"""Rows one ``INSERT`` of a flush carries (a multi-row ``VALUES``), fewer where SQLite's limit
on bound parameters is lower: SQLite runs a statement's per-execution work (the AUTOINCREMENT
counter's update among it) once per statement, so a replay's batch commits with about a third
less CPU per row than with one statement per row. Ids and rows are the same either way: the
rows of a ``VALUES`` list are inserted in order."""


class JournalStore:
    """A journal file's connection and its pending rows; create with :meth:`open`.

    Parameters
    ----------
    connection : sqlite3.Connection
        An open connection whose schema is current (as :meth:`open` leaves it).
    path : str
        For error messages.
    batch_rows : int
        Pending rows that trigger a commit.
    durable : bool
        Commit write-ahead rows at once (:meth:`commit_ahead`); the connection is set to
        ``synchronous=FULL`` by :meth:`open`.
    """

    def __init__(
        self, connection: sqlite3.Connection, path: str, batch_rows: int, *, durable: bool = False
    ) -> None:
        self._conn: sqlite3.Connection | None = connection
        self._path = path
        self._batch_rows = batch_rows
        self._durable = durable
        self._atomic_depth = 0
        self._pending: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLES}
        self._pending_rows = 0
        self._version_cursor: sqlite3.Cursor | None = None  # of data_version
        most = connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self._rows_per_insert = {
            table: max(1, min(ROWS_PER_INSERT, most // len(SCHEMA[table]))) for table in TABLES
        }

    @classmethod
    def open(cls, path: Path | str, *, batch_rows: int = 10_000, durable: bool = False) -> Self:
        """Open (creating if missing) the journal at ``path``; ``":memory:"`` for a test.

        Sets ``journal_mode=WAL`` and ``synchronous=NORMAL`` (``FULL`` if ``durable``) and
        creates the schema.

        Raises
        ------
        JournalError
            If the file cannot be opened, is not a zerobeta journal, has another schema
            version, or WAL cannot be enabled on it.
        ValueError
            If ``batch_rows`` < 1.
        """
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")
        name = str(path)
        try:
            if name != MEMORY:
                Path(name).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(name, isolation_level=None)
        except (OSError, sqlite3.Error) as err:
            raise JournalError(f"cannot open: {err}", path=name) from err
        try:
            configure_connection(conn, name, durable=durable)
            ensure_schema(conn, name)
        except BaseException:
            conn.close()
            raise
        return cls(conn, name, batch_rows, durable=durable)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def path(self) -> str:
        """Journal path (``":memory:"`` for an in-memory journal)."""
        return self._path

    @property
    def durable(self) -> bool:
        """True if write-ahead rows are committed at once (:meth:`commit_ahead`)."""
        return self._durable

    @property
    def journal_mode(self) -> str:
        """SQLite journal mode in effect (``"wal"`` for a file, ``"memory"`` in memory)."""
        return str(self._connection().execute("PRAGMA journal_mode").fetchone()[0])

    def flush(self) -> None:
        """Commit every pending row in one transaction.

        Raises
        ------
        JournalError
            If the write fails (the rows stay pending) or the journal is closed.
        """
        conn = self._connection()
        if not self._pending_rows:
            return
        try:
            conn.execute("BEGIN")
            for table, rows in self._pending.items():
                if rows:
                    self._insert(conn, table, rows)
            conn.execute("COMMIT")
        except sqlite3.Error as err:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise JournalError(f"write failed: {err}", path=self._path) from err
        for rows in self._pending.values():
            rows.clear()
        self._pending_rows = 0

    def commit_ahead(self) -> None:
        """A write-ahead row was just appended: commit now if the journal is durable (with every
        other pending row, one transaction), else leave it to the batch.

        Raises
        ------
        JournalError
            If the write fails (the rows stay pending) or the journal is closed.
        """
        if self._durable and not self._atomic_depth:
            self.flush()

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Hold the write-ahead commits of the block back and commit its rows together on a
        normal exit (durable journals; a batching journal batches as ever): an order's final
        state and its fills then reach the file in one transaction, so a process killed between
        the two never leaves an order journaled final without its fills. Nests; on an exception
        the rows stay pending and ride along with the next commit.

        Raises
        ------
        JournalError
            If the commit at the end fails (the rows stay pending).
        """
        self._atomic_depth += 1
        try:
            yield
        finally:
            self._atomic_depth -= 1
        self.commit_ahead()

    def close(self) -> None:
        """Flush and close; idempotent."""
        if self._conn is None:
            return
        try:
            self.flush()
        finally:
            self._version_cursor = None
            self._conn.close()
            self._conn = None

    def append(self, table: str, row: tuple[Any, ...]) -> None:
        """Queue ``row`` (the table's columns after ``id``) for the next commit; commits when
        ``batch_rows`` rows are pending.

        Raises
        ------
        JournalError
            If the journal is closed, or the commit this triggers fails.
        """
        self._connection()
        self._pending[table].append(row)
        self._pending_rows += 1
        if self._pending_rows >= self._batch_rows:
            self.flush()

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Rows of ``sql`` after committing what is pending.

        Raises
        ------
        JournalError
            If the journal is closed or the query fails.
        """
        self.flush()
        try:
            return self._connection().execute(sql, params).fetchall()
        except sqlite3.Error as err:
            raise JournalError(f"read failed: {err}", path=self._path) from err

    def data_version(self) -> int:
        """SQLite's ``PRAGMA data_version`` of this connection: it changes when another
        connection (``zerobeta halt``) commits to the file; this one's own commits leave it.
        Nothing pending is committed.

        Raises
        ------
        JournalError
            If the journal is closed or the pragma fails.
        """
        cursor = self._version_cursor
        if cursor is None:  # one cursor for every look (the engine looks at every step)
            cursor = self._version_cursor = self._connection().cursor()
        try:
            return int(cursor.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error as err:
            raise JournalError(f"read failed: {err}", path=self._path) from err

    def _insert(
        self, conn: sqlite3.Connection, table: str, rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """Insert ``rows`` into ``table`` in order: whole groups of ``_rows_per_insert`` rows
        by one multi-row statement each (:data:`ROWS_PER_INSERT`), the rest one by one."""
        per = self._rows_per_insert[table]
        whole = len(rows) - len(rows) % per
        if whole:
            groups = (tuple(chain.from_iterable(rows[i : i + per])) for i in range(0, whole, per))
            conn.executemany(insert_sql(table, per), groups)
        if whole < len(rows):
            conn.executemany(insert_sql(table), rows[whole:])

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise JournalError("journal is closed", path=self._path)
        return self._conn
