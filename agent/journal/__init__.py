"""The append-only SQLite journal (WAL): what a run did, and what a restart reads back.

Owns the on-disk schema (:mod:`.schema`), the connection and write batching (:mod:`.store`),
the ``record_*`` writers (:mod:`.write`) and :class:`~agent.journal.journal.Journal` with its
readers (:mod:`.journal`). May import ``agent.errors``, ``strategies.base`` and
``venues.model`` only.
"""
