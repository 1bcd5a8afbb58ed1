"""Market data on disk: ``zerobeta data download`` from the venues' public APIs into the replay
layout (:mod:`.download`), and the file formats it writes (:mod:`.files`). May import
``agent.errors`` and ``venues``.
"""
