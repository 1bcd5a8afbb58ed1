"""What a run's journal says: the end-of-run summary, performance and neutrality reports.

Owns the summary (:mod:`.summary`), the text and JSON report (:mod:`.report`), performance
statistics (:mod:`.analysis`, :mod:`.series`, :mod:`.analysis_types`), ex-post neutrality
(:mod:`.neutrality`, :mod:`.neutrality_report`) and per-strategy returns
(:mod:`.strategy_returns`). Reads journals only; may import ``agent.journal``,
``agent.portfolio``, ``agent.errors`` and ``venues.model``.
"""
