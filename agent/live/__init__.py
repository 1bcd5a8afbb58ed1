"""Live venues: paper trading on live public data and real accounts.

Owns the live market-data feed and its event loop (:mod:`.feed`: hourly steps, mark ticks, the
venues' predicted funding) and the values and start-up shaping it hands the engine
(:mod:`.steps`), the follow-up timers of unresolved orders (:mod:`.timers`), and the account side
of ``mode = "live"``: account setup, starting cash from balances, credentials (:mod:`.account`),
the venues' account streams (:mod:`.account_feed`) and reconciling positions with each venue.
May import ``agent.config``, ``agent.journal``, ``agent.portfolio``, ``agent.errors``,
``agent.clock`` and ``venues``.
"""
