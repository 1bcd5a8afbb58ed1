"""The ledger: cash, positions, marks and P&L by stream, strategy, venue and leg, in exact decimals.

Owns the exact-arithmetic rules and lots (:mod:`.exact`), positions and marks
(:mod:`.positions`), P&L records and their aggregation (:mod:`.pnl`) and the
:class:`~agent.portfolio.ledger.Portfolio` that books fills and funding payments
(:mod:`.ledger`). May import ``strategies.base`` (the view it hands out) and ``venues.model``.
"""
