"""JournalStore.flush inserts a table's pending rows with multi-row INSERTs (ROWS_PER_INSERT
rows a statement, fewer under a low SQLite parameter limit): the file it leaves is the one the
former flush (one INSERT per row, by executemany) leaves, ids and AUTOINCREMENT counters
included."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.journal.schema import MEMORY, SCHEMA, configure_connection, ensure_schema, insert_sql
from agent.journal.store import ROWS_PER_INSERT, JournalStore

Rows = Mapping[str, Sequence[tuple[Any, ...]]]


def _connection(variable_limit: int | None = None) -> sqlite3.Connection:
    conn = sqlite3.connect(MEMORY, isolation_level=None)
    configure_connection(conn, MEMORY)
    ensure_schema(conn, MEMORY)
    if variable_limit is not None:
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, variable_limit)
    return conn


def _former_flush(conn: sqlite3.Connection, pending: Rows) -> None:
    """The flush before multi-row INSERTs: each pending row by its own INSERT (the oracle)."""
    conn.execute("BEGIN")
    for table, rows in pending.items():
        if rows:
            conn.executemany(insert_sql(table), rows)
    conn.execute("COMMIT")


def _dump(conn: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    dump = {t: conn.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in SCHEMA}
    dump["sqlite_sequence"] = conn.execute("SELECT * FROM sqlite_sequence ORDER BY name").fetchall()
    return dump


def _flushed(pending: Rows, variable_limit: int | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """The file JournalStore leaves after appending ``pending`` table by table and flushing."""
    conn = _connection(variable_limit)
    store = JournalStore(conn, MEMORY, batch_rows=10**9)
    for table, rows in pending.items():
        for row in rows:
            store.append(table, row)
    store.flush()
    dump = _dump(conn)
    store.close()
    return dump


def _expected(pending: Rows) -> dict[str, list[tuple[Any, ...]]]:
    conn = _connection()
    _former_flush(conn, pending)
    return _dump(conn)


# a column's value: what the journal binds (text, integers, floats, Decimal text); no NaN
# (SQLite stores it as NULL, which NOT NULL columns refuse)
_VALUES = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=12),
)


@st.composite
def _pending(draw: st.DrawFn) -> dict[str, list[tuple[Any, ...]]]:
    tables = draw(st.lists(st.sampled_from(list(SCHEMA)), min_size=1, max_size=4, unique=True))
    pending: dict[str, list[tuple[Any, ...]]] = {}
    for table in sorted(tables, key=list(SCHEMA).index):  # flushed in SCHEMA order
        width = len(SCHEMA[table])
        n = draw(st.sampled_from([0, 1, 2, 99, 100, 101, 199, 250, 3 * ROWS_PER_INSERT]))
        row = draw(st.tuples(*[_VALUES] * width))
        varied = draw(st.lists(st.tuples(*[_VALUES] * width), max_size=5))
        # the same row n times, a few drawn rows spread among them (order matters)
        rows = [row] * n
        for i, other in enumerate(varied):
            if rows:
                rows[(i * 37) % len(rows)] = other
        pending[table] = rows
    return pending


@settings(max_examples=60, deadline=None)
@given(_pending())
def test_a_flush_leaves_the_file_the_one_row_inserts_leave(pending: Rows) -> None:
    assert _flushed(pending) == _expected(pending)


def test_rows_past_the_whole_groups_are_inserted_too() -> None:
    # 2 whole groups and 50 rows more; rows differ, so order and ids are checked too
    width = len(SCHEMA["strategy_pnl_snapshots"])
    rows = [(i, f"s{i % 5}", *[str(i * k) for k in range(width - 2)]) for i in range(250)]
    pending = {"strategy_pnl_snapshots": rows}
    flushed = _flushed(pending)
    assert [row[0] for row in flushed["strategy_pnl_snapshots"]] == list(range(1, 251))
    assert [row[1:] for row in flushed["strategy_pnl_snapshots"]] == rows
    assert flushed == _expected(pending)


@pytest.mark.parametrize("variable_limit", [10, 25, 999])
def test_a_low_parameter_limit_gives_fewer_rows_a_statement(variable_limit: int) -> None:
    # strategy_pnl_snapshots has 10 columns: at most 1, 2 or 99 rows a statement; SQLite
    # refuses a statement with more parameters than the limit ("too many SQL variables")
    width = len(SCHEMA["strategy_pnl_snapshots"])
    rows = [(i, "s", *[str(i + k) for k in range(width - 2)]) for i in range(230)]
    pending = {"strategy_pnl_snapshots": rows}
    assert _flushed(pending, variable_limit) == _expected(pending)


def test_insert_sql_of_several_rows() -> None:
    assert insert_sql("run_meta") == "INSERT INTO run_meta (key, value) VALUES (?, ?)"
    assert insert_sql("run_meta", 3) == (
        "INSERT INTO run_meta (key, value) VALUES (?, ?), (?, ?), (?, ?)"
    )
    with pytest.raises(ValueError, match="rows must be >= 1"):
        insert_sql("run_meta", 0)
