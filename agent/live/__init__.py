"""Live venues: paper trading on live public data and real accounts.

Owns the live market-data feed (:mod:`.feed`) and the values and start-up shaping it hands the
engine (:mod:`.steps`), and the account side of ``mode = "live"`` (:mod:`.account`): account
setup, starting cash from balances, credentials, and reconciling positions with each venue.
May import ``agent.config``, ``agent.journal``, ``agent.portfolio``, ``agent.errors``,
``agent.clock`` and ``venues``.
"""
