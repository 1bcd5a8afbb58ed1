"""Compare two journals row by row, table by table.

Usage (from the repository root)::

    python benchmarks/journal_diff.py BASE.sqlite OTHER.sqlite            # summary per table
    python benchmarks/journal_diff.py BASE.sqlite OTHER.sqlite --show 5   # and 5 differing rows
    python benchmarks/journal_diff.py BASE.sqlite OTHER.sqlite --ignore-meta config_hash

Every table of either file (``sqlite_master``; SQLite's own ``sqlite_sequence`` included, so a
difference in row counts shows twice) is read ordered by its primary key (``id``, else every
column) and compared row for row: each value as stored, so ``'1.50'`` and ``'1.5'`` differ even
though they are the same Decimal. The journal carries no wall-clock column (every ``ts_ms`` is the
agent clock), so two runs of the same replay on the same code and data are identical.

Printed: one line per table (rows in each file and the number of differing rows), then the first
``--show`` differing rows of each table side by side. Exit code 0 when every table is identical,
1 otherwise, 2 when a file is missing.

``--ignore-meta KEY`` leaves out the ``run_meta`` rows of that key (in both files): the journals
of ``scale_symbols.py --keep-journal`` hold their data folder's temporary path in the config,
so their ``config_hash`` differs between any two runs.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Iterator
from itertools import zip_longest
from pathlib import Path
from typing import Any

Row = tuple[Any, ...]


def tables(conn: sqlite3.Connection) -> list[str]:
    """Names of the tables of ``conn``, sorted."""
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    return [str(name) for (name,) in rows]


def rows(conn: sqlite3.Connection, table: str, ignore_meta: frozenset[str]) -> Iterator[Row]:
    """The rows of ``table`` ordered by ``id`` when it has one, else by every column; without
    the ``run_meta`` rows whose key is in ``ignore_meta`` (their ``id`` left out of every
    ``run_meta`` row then, so the rows after them still line up)."""
    columns = [str(info[1]) for info in conn.execute(f'PRAGMA table_info("{table}")')]
    order = "id" if "id" in columns else ", ".join(f'"{c}"' for c in columns)
    if table != "run_meta" or not ignore_meta:
        yield from conn.execute(f'SELECT * FROM "{table}" ORDER BY {order}')
        return
    for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY {order}'):
        if row[columns.index("key")] not in ignore_meta:
            yield tuple(v for c, v in zip(columns, row, strict=True) if c != "id")


def diff_table(
    base: sqlite3.Connection,
    other: sqlite3.Connection,
    table: str,
    show: int,
    ignore_meta: frozenset[str] = frozenset(),
) -> tuple[int, int, int, list[tuple[Row | None, Row | None]]]:
    """Rows in ``base``, rows in ``other``, differing positions and the first ``show`` of them."""
    n_base = n_other = n_diff = 0
    shown: list[tuple[Row | None, Row | None]] = []
    pairs = zip_longest(rows(base, table, ignore_meta), rows(other, table, ignore_meta))
    for a, b in pairs:
        n_base += a is not None
        n_other += b is not None
        if a != b:
            n_diff += 1
            if len(shown) < show:
                shown.append((a, b))
    return n_base, n_other, n_diff, shown


def main(argv: list[str] | None = None) -> int:
    """Diff the two journals named on the command line; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path, help="reference journal (SQLite file)")
    parser.add_argument("other", type=Path, help="journal to compare with it")
    parser.add_argument("--show", type=int, default=3, help="differing rows shown per table")
    parser.add_argument(
        "--ignore-meta",
        action="append",
        default=[],
        metavar="KEY",
        help="leave out run_meta rows of this key (repeatable), e.g. config_hash",
    )
    args = parser.parse_args(argv)
    for path in (args.base, args.other):
        if not path.is_file():
            print(f"no such journal: {path}", file=sys.stderr)
            return 2
    base = sqlite3.connect(f"file:{args.base}?mode=ro", uri=True)
    other = sqlite3.connect(f"file:{args.other}?mode=ro", uri=True)
    try:
        names_base, names_other = tables(base), tables(other)
        identical = names_base == names_other
        if not identical:
            print(f"tables differ: {names_base} vs {names_other}")
        for table in sorted(set(names_base) & set(names_other)):
            n_base, n_other, n_diff, shown = diff_table(
                base, other, table, args.show, frozenset(args.ignore_meta)
            )
            status = "identical" if n_diff == 0 else f"{n_diff:,} rows differ"
            print(f"{table:24s} {n_base:8,} rows vs {n_other:8,}  {status}")
            identical = identical and n_diff == 0
            for a, b in shown:
                print(f"    base : {a}")
                print(f"    other: {b}")
    finally:
        base.close()
        other.close()
    print("journals identical" if identical else "journals DIFFER")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
