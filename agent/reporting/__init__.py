"""What a run's journal says: the end-of-run summary, performance, neutrality, P&L and tearsheet.

Owns the summary (:mod:`.summary`, built by :mod:`.report`), ``zerobeta report``
(:mod:`.run_report`: the neutrality report of :mod:`.neutrality_report` with the ledger's
figures), performance statistics (:mod:`.analysis`, :mod:`.series`, :mod:`.analysis_types`),
ex-post neutrality (:mod:`.neutrality`, :mod:`.neutrality_report`), per-strategy returns
(:mod:`.strategy_returns`), funding gaps (:mod:`.funding_gaps`), the ledger rebuilt read-only
from a journal (:mod:`.run_ledger`), P&L by stream, strategy, venue and leg
(:mod:`.pnl_breakdown`), an options book's P&L by greek (:mod:`.greeks_attribution`), each
pair's round trips (:mod:`.trades`), what leg faults cost against a clean run
(:mod:`.fault_cost`, ``--against``) and the HTML tearsheet
(:mod:`.tearsheet`, its series :mod:`.tearsheet_series` and matplotlib figures :mod:`.plots`,
imported only to write one). Reads journals only; may import ``agent.journal``,
``agent.portfolio``, ``agent.errors`` and ``venues.model``.
"""
