"""The control surface: what an operator asks a run, running or finished.

Owns ``zerobeta status`` (:mod:`.status`: a run's state read from its journal, opened read-only
by :mod:`.journal_view`; :mod:`.status_text` renders it, :mod:`.cli` is the command),
``zerobeta halt`` / ``resume`` (:mod:`.halt_cli`: the kill switch's record in the journal), the
running agent's view (:mod:`.probe`: the engine's state now, the event-loop heartbeat and the
progress of the engine's clock), the health rule (:mod:`.health`), the Prometheus metrics
(:mod:`.metrics`) and the HTTP endpoint serving ``/healthz``, ``/status`` and ``/metrics``
inside the event loop (:mod:`.http`, :mod:`.server`).

It reads the engine through small protocols (:mod:`.probe`), never by importing
``agent.engine``, so the engine stays imported by the supervisor alone. May import
``agent.config``, ``agent.clock``, ``agent.errors``, ``agent.journal.schema``,
``agent.journal.halt``,
``agent.portfolio``, ``agent.risk``, ``strategies.base`` (the market snapshot type),
``venues.model``, ``prometheus_client`` and ``httpx`` (``zerobeta status`` asking a running
agent); only ``agent.supervisor`` and ``agent.cli`` import it.
"""
