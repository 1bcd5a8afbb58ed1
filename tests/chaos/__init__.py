"""The chaos harness: a mock Binance USDⓈ-M exchange served on 127.0.0.1 that injects faults,
and a driver that runs the real ``zerobeta run`` process in live mode against it (sped up under
libfaketime), killing it with SIGKILL at random points and restarting it, then checks the
invariants of a live run from the journal and the exchange's own books.

Modules: :mod:`.clock` (the virtual clock the exchange and the agent share), :mod:`.faults`
(the seeded fault schedule), :mod:`.exchange` (the exchange server), :mod:`.churn` (the user
strategy that trades pairs every step), :mod:`.invariants` (the checks and the figures),
:mod:`.driver` (the agent process, kills and restarts). ``benchmarks/chaos.py`` runs it long;
``test_chaos.py`` runs it bounded in the test suite.
"""
