"""The engine every run shares, advanced one market event at a time.

Owns the hourly step and the mark tick (:mod:`.engine`), its assembly (:mod:`.builder`), the
strategy runner (:mod:`.runner`), funding settled and booked, paper and live, the margin watch,
the market data view the strategies read, the funding-interval schedule, checkpoints with
resume, the operator's kill switch (:mod:`.kill_switch`) and the safety guard (:mod:`.safety`:
venue health, :mod:`.venue_health`; liquidation distances, :mod:`.liquidation`; the pairs it
reduces together, :mod:`.pair_book`) and, with ``[option_chain]``, the model-priced option
market of a paper run (:mod:`.options`: chains, option marks, expiries) or, on live data, a
venue's own option chain (:mod:`.live_options`: Deribit's marks, IVs and greeks). May import
``agent.config``, ``agent.execution``, ``agent.portfolio``, ``agent.journal``, ``agent.live``,
``agent.risk``, ``agent.notify``, ``agent.clock``, ``agent.errors``, ``strategies`` and
``venues``; nothing in ``agent`` but the supervisor imports it.
"""
