"""zerobeta against NautilusTrader's ``BacktestEngine`` on the same bars, in the same run.

Usage (from the repository root)::

    python benchmarks/vs_nautilus.py                        # three workloads, both engines
    python benchmarks/vs_nautilus.py --repeat 3             # best of three per engine/workload
    python benchmarks/vs_nautilus.py --nautilus-python /opt/nt/bin/python   # NT in another env
    python benchmarks/vs_nautilus.py --no-nautilus          # zerobeta alone (no anchor)

The workloads of issue 14's table: 10 Binance perps (the bundled 1h klines,
``venues/replay/data/binance/perp``) × the 8,760 hourly bars of 2025 (87,600 bars), a trivial
strategy that sends no order, one order every 100 bars, or one every 10 bars (round-robin over
the perps: buy 1,000 USD of a flat one, close a held one; taker fills at the bar's close).

- zerobeta: the strategy is a user strategy plugged in the public way
  (``benchmarks/every_n_bars.py``, named ``class = "every_n_bars:EveryNBars"`` in a generated
  ``agent.toml``: paper mode, replay of 2025 without warm-up, Binance only, every built-in
  strategy and the funding-flip monitor off), run by the real supervisor and engine
  (``asyncio.run(Supervisor(config).run())``: replay loader, paper venue, ledger, risk, executor,
  funding settlements, SQLite journal). Timed: the replay loop (``RunResult.wall_time_s``).
- NautilusTrader 1.221 (``pip install -e '.[bench]'``, or any interpreter that has it via
  ``--nautilus-python``): a ``BacktestEngine`` with one venue (Binance, netting, margin account of
  100,000 USDT), the 10 perps as ``CryptoPerpetual`` (tick and lot from the bundled
  ``instruments.csv``), the same bars as 1-HOUR-LAST-EXTERNAL bars through ``BarDataWrangler``,
  and a ``Strategy`` subscribed to them doing the same. Timed: ``engine.run()``.

Each engine runs in a process of its own (``--child``), so its peak RSS
(``getrusage(RUSAGE_SELF).ru_maxrss``: interpreter, libraries, data and run) is its own. Printed
per workload and engine: bars/s (87,600 over the timed span), the load time (data and engine set
up before the timed span), orders sent, peak RSS; then per workload the ratios against the goals
of issue 14 — bars/s ≥ 5× NautilusTrader's with no orders and one every 100 bars, ≥ 20× with
one every 10 bars, peak RSS ≤ 1/5 of its — and ms/order (the timed span's growth over the
no-order workload, per order). Without NautilusTrader (or with ``--no-nautilus``) the anchor
is skipped with a message and zerobeta's figures are printed alone.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gzip
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "venues" / "replay" / "data" / "binance"
SYMBOLS = (
    "BTCUSDT",
    "ETHUSDT",
    "SOLUSDT",
    "BNBUSDT",
    "XRPUSDT",
    "DOGEUSDT",
    "ADAUSDT",
    "AVAXUSDT",
    "LINKUSDT",
    "LTCUSDT",
)
START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2026, 1, 1, tzinfo=UTC)
HOUR_MS = 3_600_000
BARS_PER_SYMBOL = int((END - START).total_seconds() // 3600)  # 8,760
WORKLOADS = (0, 100, 10)
"""One order every n bars; 0 = no orders."""
ORDER_NOTIONAL_USD = 1000.0
BARS_GOAL = {0: 5.0, 100: 5.0, 10: 20.0}
"""Goal of issue 14: zerobeta's bars/s over NautilusTrader's, per workload."""
RSS_GOAL_FRAC = 0.2
"""Goal of issue 14: zerobeta's peak RSS at most this fraction of NautilusTrader's."""
NO_NAUTILUS_EXIT = 3


@dataclass(frozen=True, slots=True)
class Figures:
    """One engine's run of one workload (what a ``--child`` prints as JSON)."""

    engine: str
    every: int
    bars: int
    orders: int
    load_s: float
    run_s: float
    peak_rss_mb: float

    @property
    def bars_per_s(self) -> float:
        return self.bars / self.run_s


def label(every: int) -> str:
    return "no orders" if every == 0 else f"1 order / {every} bars"


def peak_rss_mb() -> float:
    """This process's peak resident set size, MB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- zerobeta ----------------------------------------------------------------------------------


def zerobeta_config_toml(every: int, journal: Path) -> str:
    """The generated ``agent.toml`` of the zerobeta side."""
    off = "".join(
        f"[strategies.{name}]\nenabled = false\n"
        for name in (
            "funding_harvester",
            "stat_arb",
            "factor_neutral",
            "cross_venue_arb",
            "beta_hedger",
            "funding_flip_monitor",
        )
    )
    symbols = ", ".join(f'"{s}"' for s in SYMBOLS)
    return f"""mode = "paper"
[market_data]
source = "replay"
start = {START.date().isoformat()}
end = {END.date().isoformat()}
warmup = false
[venues.bybit]
enabled = false
[venues.hyperliquid]
enabled = false
[journal]
path = "{journal}"
[logging]
level = "warning"
progress = false
{off}[strategies.every_n_bars]
class = "every_n_bars:EveryNBars"
symbols = [{symbols}]
order_every_bars = {every}
order_notional_usd = {ORDER_NOTIONAL_USD}
"""


def run_zerobeta(every: int) -> Figures:
    """One zerobeta replay of the workload, in this process."""
    start = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    from agent.config import load_config
    from agent.logs import configure_logging
    from agent.supervisor import Supervisor

    with tempfile.TemporaryDirectory(prefix="zerobeta-vs-nt-") as tmp:
        path = Path(tmp) / "agent.toml"
        path.write_text(zerobeta_config_toml(every, Path(tmp) / "journal.sqlite"))
        config = load_config(path, env={})
        # lines are rendered and written, not held (a StringIO would count in the RSS)
        sink = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
        configure_logging("warning", "json", sink)
        result = asyncio.run(Supervisor(config).run())
        total_s = time.perf_counter() - start
    bars = result.steps * len(SYMBOLS)
    return Figures(
        "zerobeta",
        every,
        bars,
        result.counters["orders_sent"],
        total_s - result.wall_time_s,
        result.wall_time_s,
        peak_rss_mb(),
    )


# ---- NautilusTrader ----------------------------------------------------------------------------


def read_bars(symbol: str) -> list[tuple[int, float, float, float, float, float]]:
    """The symbol's bundled 1h klines in the window: (close time ms, o, h, l, c, volume)."""
    lo, hi = int(START.timestamp() * 1000), int(END.timestamp() * 1000)
    rows = []
    with gzip.open(DATA / "perp" / f"{symbol}_1h.csv.gz", "rt", newline="") as fh:
        for row in csv.DictReader(fh):
            open_ms = int(row["open_time_ms"])
            if lo <= open_ms < hi:
                values = (float(row[k]) for k in ("open", "high", "low", "close", "volume"))
                rows.append((open_ms + HOUR_MS, *values))
    return rows


def instrument_rules() -> dict[str, dict[str, str]]:
    """tick_size, lot_step, min_qty of every bundled Binance perp, by symbol."""
    with (DATA / "instruments.csv").open(newline="") as fh:
        return {r["symbol"]: r for r in csv.DictReader(fh) if r["kind"] == "perp"}


def run_nautilus(every: int) -> Figures:  # noqa: C901 - one setup, written out
    """One NautilusTrader backtest of the workload, in this process."""
    start = time.perf_counter()
    try:
        import pandas as pd
        from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
        from nautilus_trader.config import LoggingConfig, StrategyConfig
        from nautilus_trader.model.currencies import USDT, Currency
        from nautilus_trader.model.data import Bar, BarType
        from nautilus_trader.model.enums import (
            AccountType,
            CurrencyType,
            OmsType,
            OrderSide,
            OrderStatus,
        )
        from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
        from nautilus_trader.model.instruments import CryptoPerpetual
        from nautilus_trader.model.objects import Money, Price, Quantity
        from nautilus_trader.persistence.wranglers import BarDataWrangler
        from nautilus_trader.trading.strategy import Strategy
    except ImportError as err:
        print(f"NautilusTrader is not installed in {sys.executable}: {err}", file=sys.stderr)
        sys.exit(NO_NAUTILUS_EXIT)
    from decimal import Decimal

    venue = Venue("BINANCE")
    rules = instrument_rules()

    def decimals(step: str) -> int:
        exponent = Decimal(step).normalize().as_tuple().exponent
        return max(0, -int(exponent))

    def perp(symbol: str) -> CryptoPerpetual:
        rule = rules[symbol]
        base = symbol.removesuffix("USDT")
        currency = Currency(base, 8, 0, base, CurrencyType.CRYPTO)
        return CryptoPerpetual(
            instrument_id=InstrumentId(Symbol(f"{symbol}-PERP"), venue),
            raw_symbol=Symbol(symbol),
            base_currency=currency,
            quote_currency=USDT,
            settlement_currency=USDT,
            is_inverse=False,
            price_precision=decimals(rule["tick_size"]),
            price_increment=Price.from_str(rule["tick_size"]),
            size_precision=decimals(rule["lot_step"]),
            size_increment=Quantity.from_str(rule["lot_step"]),
            max_quantity=None,
            min_quantity=Quantity.from_str(rule["min_qty"]),
            max_notional=None,
            min_notional=None,
            max_price=None,
            min_price=None,
            margin_init=Decimal("0.05"),
            margin_maint=Decimal("0.025"),
            maker_fee=Decimal("0.0002"),
            taker_fee=Decimal("0.0005"),
            ts_event=0,
            ts_init=0,
        )

    class EveryNConfig(StrategyConfig, frozen=True):
        bar_types: tuple[str, ...]
        every: int
        notional_usd: float

    class EveryN(Strategy):
        def __init__(self, config: EveryNConfig) -> None:
            super().__init__(config)
            self.bar_types = [BarType.from_str(b) for b in config.bar_types]
            self.ids = [b.instrument_id for b in self.bar_types]
            self.bar_type_of = {b.instrument_id: b for b in self.bar_types}
            self.bars = 0
            self.orders = 0

        def on_start(self) -> None:
            for bar_type in self.bar_types:
                self.subscribe_bars(bar_type)

        def on_bar(self, bar: Bar) -> None:
            self.bars += 1
            n = self.config.every
            if n == 0 or self.bars % n:
                return
            iid = self.ids[self.orders % len(self.ids)]
            self.orders += 1
            instrument = self.cache.instrument(iid)
            net = self.portfolio.net_position(iid)
            if net:
                side, qty = (OrderSide.SELL if net > 0 else OrderSide.BUY), abs(net)
            else:
                price = self.cache.bar(self.bar_type_of[iid]).close
                side, qty = OrderSide.BUY, self.config.notional_usd / float(price)
            order = self.order_factory.market(iid, side, instrument.make_qty(qty))
            self.submit_order(order)

    engine = BacktestEngine(
        BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR", bypass_logging=True))
    )
    engine.add_venue(
        venue=venue,
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        starting_balances=[Money(100_000, USDT)],
        base_currency=USDT,
        default_leverage=Decimal(1),
    )
    bar_types = []
    for symbol in SYMBOLS:
        instrument = perp(symbol)
        engine.add_instrument(instrument)
        bar_type = BarType.from_str(f"{instrument.id}-1-HOUR-LAST-EXTERNAL")
        frame = pd.DataFrame(
            read_bars(symbol), columns=["timestamp", "open", "high", "low", "close", "volume"]
        )
        frame.index = pd.to_datetime(frame.pop("timestamp"), unit="ms", utc=True)
        engine.add_data(BarDataWrangler(bar_type, instrument).process(frame))
        bar_types.append(str(bar_type))
    strategy = EveryN(EveryNConfig(bar_types=tuple(bar_types), every=every, notional_usd=1000.0))
    engine.add_strategy(strategy)
    loaded = time.perf_counter()
    engine.run()
    run_s = time.perf_counter() - loaded
    orders = sum(1 for o in engine.cache.orders() if o.status == OrderStatus.FILLED)
    engine.dispose()
    return Figures("nautilus", every, strategy.bars, orders, loaded - start, run_s, peak_rss_mb())


# ---- the parent: one child process per engine and workload -------------------------------------


def child(engine: str, every: int, python: str) -> Figures | None:
    """Run one engine on one workload in a process of its own; None if NautilusTrader is not
    installed in ``python``."""
    cmd = [python, str(Path(__file__)), "--child", engine, "--every", str(every)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    if engine == "nautilus" and done.returncode == NO_NAUTILUS_EXIT:
        return None
    if done.returncode != 0:
        raise RuntimeError(f"{engine} every={every} failed:\n{done.stderr[-4000:]}")
    return Figures(**json.loads(done.stdout.strip().splitlines()[-1]))


def best(runs: list[Figures]) -> Figures:
    """The run with the shortest timed span (its own peak RSS)."""
    return min(runs, key=lambda f: f.run_s)


def report(zb: dict[int, Figures], nt: dict[int, Figures]) -> None:
    print(f"{'workload':<22}{'engine':<10}{'bars/s':>10}{'load s':>9}{'orders':>8}{'RSS MB':>9}")
    for every in WORKLOADS:
        for figs in (zb.get(every), nt.get(every)):
            if figs is not None:
                print(
                    f"{label(every):<22}{figs.engine:<10}{figs.bars_per_s:>10,.0f}"
                    f"{figs.load_s:>9.2f}{figs.orders:>8,}{figs.peak_rss_mb:>9.0f}"
                )
    print()
    for every in WORKLOADS:
        z = zb[every]
        n = nt.get(every)
        line = f"{label(every):<22}"
        if every:
            line += f"zerobeta {ms_per_order(z, zb[0]):.3f} ms/order"
            if n is not None and 0 in nt:
                line += f", NautilusTrader {ms_per_order(n, nt[0]):.3f} ms/order"
            line += "; "
        if n is not None:
            speed, memory = z.bars_per_s / n.bars_per_s, z.peak_rss_mb / n.peak_rss_mb
            speed_ok = "met" if speed >= BARS_GOAL[every] else "NOT met"
            memory_ok = "met" if memory <= RSS_GOAL_FRAC else "NOT met"
            line += (
                f"bars/s {speed:.2f}x NautilusTrader (goal >= {BARS_GOAL[every]:.0f}x: "
                f"{speed_ok}), peak RSS {memory:.2f} of its (goal <= {RSS_GOAL_FRAC}: "
                f"{memory_ok})"
            )
        print(line)


def ms_per_order(run: Figures, none: Figures) -> float:
    """The timed span's growth over the no-order workload per order, ms."""
    return (run.run_s - none.run_s) / run.orders * 1000 if run.orders else float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per engine and workload")
    parser.add_argument(
        "--nautilus-python",
        default=sys.executable,
        help="interpreter with nautilus_trader==1.221.0 (default: this one)",
    )
    parser.add_argument(
        "--no-nautilus",
        action="store_true",
        help="skip the NautilusTrader anchor: zerobeta's figures alone",
    )
    parser.add_argument("--child", choices=("zerobeta", "nautilus"), help=argparse.SUPPRESS)
    parser.add_argument("--every", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        figs = run_zerobeta(args.every) if args.child == "zerobeta" else run_nautilus(args.every)
        print(json.dumps(asdict(figs)))
        return
    print(
        f"{len(SYMBOLS)} Binance perps x {BARS_PER_SYMBOL:,} 1h bars "
        f"({START.date()} to {END.date()}), {platform.processor() or platform.machine()}, "
        f"{platform.python_implementation()} {platform.python_version()}"
    )
    zb: dict[int, Figures] = {}
    nt: dict[int, Figures] = {}
    have_nautilus = not args.no_nautilus
    for every in WORKLOADS:
        zb_runs, nt_runs = [], []
        for _ in range(args.repeat):
            zb_runs.append(child("zerobeta", every, sys.executable))
            if have_nautilus:
                figs = child("nautilus", every, args.nautilus_python)
                if figs is None:
                    have_nautilus = False
                else:
                    nt_runs.append(figs)
        zb[every] = best(zb_runs)
        if nt_runs:
            nt[every] = best(nt_runs)
    if args.no_nautilus:
        print("NautilusTrader anchor skipped (--no-nautilus); zerobeta alone:")
    elif not have_nautilus:
        print(
            f"NautilusTrader is not installed in {args.nautilus_python}: the anchor is skipped "
            "(pip install -e '.[bench]' or --nautilus-python PATH); zerobeta alone:"
        )
    report(zb, nt)


if __name__ == "__main__":
    main()
