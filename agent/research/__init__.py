"""Research on the backtest engine: parameter sweeps and walk-forward analysis as Ray tasks,
and the statistics of selection bias.

Owns ``zerobeta sweep`` (:mod:`.cli`): the grid file (:mod:`.grid`), the plan of runs checked
against the configuration (:mod:`.plan`), one backtest as a pure function of its spec
(:mod:`.task`), the walk-forward folds and out-of-sample series (:mod:`.walk_forward`), running
the backtests on Ray (:mod:`.ray_runner`, the only module importing Ray), the deflated Sharpe
ratio and the probability of backtest overfitting (:mod:`.overfitting`), the report
(:mod:`.report`), the tables (:mod:`.table`) and the table's HTML page with the heatmap of
its grid (:mod:`.sweep_page`, also ``zerobeta report --sweep``).

May import ``agent.config``, ``agent.errors``, ``agent.journal``, ``agent.logs``,
``agent.progress``, ``agent.reporting``, ``agent.supervisor`` (a backtest is a supervisor run),
the flip monitor's config model and ``venues.replay.loader`` (its data error); nothing in
``agent`` imports this package except ``agent.cli``.
"""
