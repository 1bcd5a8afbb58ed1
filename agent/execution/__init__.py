"""Orders: from a strategy's target positions to venue orders and fills.

Owns client order ids and the drift / lot / minimum planning (:mod:`.plan`), the executor that
sends single legs and books fills (:mod:`.executor`), paired legs under each strategy's leg
policy with retries and unwinds and native pair orders (:mod:`.pairs`), orders whose outcome is
unknown (:mod:`.unresolved`), each pair's unhedged exposure over time (:mod:`.exposure`), the
naked budget that completes or unwinds a pair left unbalanced (:mod:`.budget`), the account
streams' fills and order updates booked once (:mod:`.streamed`) and the targets that stand
between steps, with the pairs that drifted from them (:mod:`.standing`), and maker-first
execution: post-only orders at the touch, re-quoted, the rest as taker after a deadline
(:mod:`.maker`).
May import ``agent.portfolio``, ``agent.journal``, ``agent.risk``, ``agent.config`` sections,
``agent.errors``, ``strategies.base`` and ``venues``.
"""
