"""The append-only SQLite journal (WAL): what a run did, and what a restart reads back.

Owns the on-disk schema (:mod:`.schema`), the connection and write batching (:mod:`.store`),
:class:`~agent.journal.journal.Journal` with its ``record_*`` writers and its readers
(:mod:`.journal`), and a run's claim on its journal: the one-process lock (:mod:`.lock`) and
checking the path, recognizing a journal and moving an old one aside (:mod:`.files`); and the
kill switch's records, written by ``zerobeta halt`` / ``resume`` (:mod:`.halt`). May
import ``agent.errors``, ``strategies.base`` and ``venues.model`` only.
"""
