"""Journal schema migrations, on a real journal written by an earlier release (the version-1
checkpoint fixture, written at commit 6c79ba9): it opens with today's code, a migration step
applies all or nothing and keeps every row, and migrating it gives exactly a new file's
schema."""

from __future__ import annotations

import gzip
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from agent.errors import JournalError
from agent.journal.journal import Journal
from agent.journal.schema import MIGRATIONS, SCHEMA_VERSION, Migration, ensure_schema

FIXTURE = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "checkpoints"
    / "replay_v1_2025-09-01_2025-09-15.sqlite.gz"
)


@pytest.fixture
def v1_journal(tmp_path: Path) -> Path:
    path = tmp_path / "v1.sqlite"
    with gzip.open(FIXTURE) as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return path


@contextmanager
def closing_connection(path: Path) -> Iterator[sqlite3.Connection]:
    """An autocommit connection, as the journal's store opens one, closed on exit."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        yield conn


def _schema(conn: sqlite3.Connection) -> dict[str, list[tuple[str, str]]]:
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'sqlite_sequence'"
        )
    ]
    return {
        t: [(c[1], c[2]) for c in conn.execute(f"PRAGMA table_info({t})")] for t in sorted(tables)
    }


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT max(version) FROM schema_version").fetchone()[0])


def _count(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_the_fixture_is_a_version_1_journal(v1_journal: Path) -> None:
    with sqlite3.connect(v1_journal) as conn:
        assert _version(conn) == 1
        assert _count(conn, "fills") == 58


def test_an_earlier_release_journal_opens_and_reads(v1_journal: Path) -> None:
    with Journal.open(v1_journal) as journal:
        fills = list(journal.iter_fills())
        assert len(fills) == 58
        assert journal.meta()["mode"] == "paper"
    with sqlite3.connect(v1_journal) as conn:
        assert _version(conn) == SCHEMA_VERSION


def test_migrating_the_fixture_gives_a_new_files_schema(v1_journal: Path) -> None:
    with closing_connection(v1_journal) as conn:
        ensure_schema(conn, str(v1_journal))
        migrated = _schema(conn)
    fresh = sqlite3.connect(":memory:", isolation_level=None)
    ensure_schema(fresh, ":memory:")
    assert migrated == _schema(fresh)
    assert sorted(MIGRATIONS) == list(range(2, SCHEMA_VERSION + 1))


STEP_2 = Migration(
    2,
    "a test table and a column with a default",
    (
        "CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, text TEXT NOT NULL)",
        "ALTER TABLE fills ADD COLUMN venue_fee_asset TEXT DEFAULT 'USDT'",
    ),
)


def test_a_step_adds_and_keeps_every_row(v1_journal: Path) -> None:
    with closing_connection(v1_journal) as conn:
        before = _count(conn, "fills")
        ensure_schema(conn, str(v1_journal), version=2, migrations={2: STEP_2})
        assert _version(conn) == 2
        assert _count(conn, "fills") == before
        assert _count(conn, "notes") == 0
        assert {r[0] for r in conn.execute("SELECT venue_fee_asset FROM fills")} == {"USDT"}
        ensure_schema(conn, str(v1_journal), version=2, migrations={2: STEP_2})  # idempotent
        assert _version(conn) == 2


def test_a_failing_step_leaves_the_journal_as_it_was(v1_journal: Path) -> None:
    broken = Migration(2, "fails halfway", (STEP_2.statements[0], "ALTER TABLE nowhere ADD x"))
    with closing_connection(v1_journal) as conn:
        with pytest.raises(JournalError, match="migrating schema version 1 to 2 failed"):
            ensure_schema(conn, str(v1_journal), version=2, migrations={2: broken})
        assert _version(conn) == 1
        assert "notes" not in _schema(conn)


def test_no_migration_path_and_newer_versions_are_refused(v1_journal: Path) -> None:
    with closing_connection(v1_journal) as conn:
        with pytest.raises(JournalError, match="has no migration path"):
            ensure_schema(conn, str(v1_journal), version=3, migrations={2: STEP_2})
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION + 1,))
        with pytest.raises(JournalError, match="is newer than this zerobeta supports"):
            ensure_schema(conn, str(v1_journal))
