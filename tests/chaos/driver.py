"""The chaos driver: the real ``zerobeta run`` process in live mode against the chaos exchange,
killed with SIGKILL at random points and restarted, with the invariants checked after every
restart and at the end.

The agent runs as a child process (``python -c "from agent.cli import main ..." run --config``,
the console script's entry point) under libfaketime at ``speed`` × real time, started at the
virtual clock's *now* (:mod:`tests.chaos.clock`), with its Binance credentials in the
environment and ``rest_url`` / ``ws_url`` pointed at the exchange. Kills (their kind and timing
drawn from the seed):

* ``random``: at a random moment while the agent runs (a step, a lookup, an idle wait...);
* ``between_legs``: the exchange kills it right after executing one leg of a pair, before the
  other executes or any answer goes back;
* ``startup``: shortly after a start, during its reconciliation / warm-up / catch-up.

After each restart the exchange holds new orders until the driver has compared the journal's
positions with the exchange's (the agent has reconciled by then: it logged ``live_started`` or
sent its first order). A start the agent refuses (it exits) ends the chaos part of the run and
is reported. At the end the faults stop, the agent runs two more steps to resolve what is
pending, is stopped with SIGTERM, and the final figures are computed
(:mod:`tests.chaos.invariants`).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from tests.chaos.clock import LIBFAKETIME, VirtualClock
from tests.chaos.exchange import ChaosExchange, ExchangeThread
from tests.chaos.faults import FaultPlan
from tests.chaos.invariants import (
    FINAL,
    Figures,
    evaluate,
    executed_but_pending,
    format_table,
    pairs_sent,
    positions_equal,
    read_journal,
)
from tests.fakes import binance as binance_fake

REPO_ROOT = Path(__file__).resolve().parents[2]
START_MS = 1_741_046_400_000 + 50 * 60_000  # 2025-03-04 00:50 UTC: first step in 10 min
HOUR_S = 3_600
AGENT_CODE = "import sys; from agent.cli import main; sys.exit(main())"
KILL_KINDS = ("random", "between_legs", "idle", "startup")
"""``random``: any moment; ``between_legs``: right after one leg of a pair executed; ``idle``:
between steps (after a step's checkpoint); ``startup``: shortly after a start."""
STALLED_STEPS = 8
"""Steps without a new paired order (kills all delivered) after which the run stops."""
UNBALANCED_USD = Decimal(250)
SETTLE_MAX_STEPS = 12
"""Hourly steps the calm end of a run may take for every pending order to resolve."""
"""Net notional above which the account is one-legged: half a churn flip leg (500 USD)."""


def faketime_available() -> bool:
    """Whether Debian's libfaketime is installed where the harness preloads it from."""
    return Path(LIBFAKETIME).is_file()


@dataclass(frozen=True)
class ChaosConfig:
    """One chaos run.

    Attributes
    ----------
    workdir : Path
        Journal, config and agent log go here.
    seed : int
        Seeds the fault schedule, the mark jumps and the kills.
    pairs : int
        Paired orders to reach (intents whose two legs were sent).
    kills : int
        SIGKILLs to deliver (the run goes on until both targets are met).
    speed : float
        Virtual seconds per real second (the agent's HTTP and websocket timeouts, 10 s
        virtual, must stay well above loopback latency: ≤ 1000).
    flips_per_step : int
        Open+close flips of the churn strategy each step (2 paired orders each).
    leg_budget_s : float | None
        Longest a pair may stay one-legged (virtual s); None: no budget, the longest is
        reported only.
    kill_kinds : tuple[str, ...]
        Kinds of kill drawn from (:data:`KILL_KINDS`).
    operator_repair : bool
        After a refused start, do what it asks of a person — make the exchange's positions the
        journal's by hand (recorded; the fills it lost stay lost) — and start again; False: a
        refused start ends the run.
    max_wall_s : float
        Hard limit on the run's real duration (the chaos part stops, the end is checked).
    progress : TextIO | None
        Where progress lines go.
    """

    workdir: Path
    seed: int = 1
    pairs: int = 200
    kills: int = 5
    speed: float = 600.0
    flips_per_step: int = 10
    leg_budget_s: float | None = None
    kill_kinds: tuple[str, ...] = KILL_KINDS
    operator_repair: bool = True
    max_wall_s: float = 150.0
    progress: TextIO | None = None


class AgentProcess:
    """One ``zerobeta run`` child: spawned under libfaketime, its stderr (JSON log lines)
    appended to ``log`` and watched for ``live_started``."""

    def __init__(self, config_path: Path, clock: VirtualClock, log: Path, generation: int) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("ZEROBETA_") and "proxy" not in k.lower()
        }
        env.update(clock.faketime_env())
        env.update(
            {
                "PYTHONPATH": _python_path(env),
                "NO_PROXY": "127.0.0.1,localhost",
                "ZEROBETA_VENUES__BINANCE__API_KEY": binance_fake.API_KEY,
                "ZEROBETA_VENUES__BINANCE__API_SECRET": binance_fake.API_SECRET,
            }
        )
        self.live = threading.Event()
        self.last_lines: deque[str] = deque(maxlen=40)
        self._log = log.open("a", encoding="utf-8")
        self._log.write(f"--- agent generation {generation} ---\n")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", AGENT_CODE, "run", "--config", str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=config_path.parent,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._log.write(line)
            self.last_lines.append(line.rstrip())
            if '"live_started"' in line:
                self.live.set()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)

    def wait(self, timeout_s: float) -> int | None:
        try:
            code = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None
        self._reader.join(timeout=5)
        self._log.flush()
        return code

    def close(self) -> None:
        self.kill()
        self.wait(30)
        self._reader.join(timeout=5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        self._log.close()

    def failure(self) -> str:
        """The agent's last error lines (a refused start names its reason there)."""
        errors = [line for line in self.last_lines if '"error"' in line or "refused" in line]
        return " | ".join((errors or list(self.last_lines))[-3:])[:2000]


def journal_dir(workdir: Path) -> Path:
    """Where the journal goes: a fresh folder on tmpfs (``/dev/shm``) when there is one, else
    ``workdir``. A SIGKILL loses nothing a write reached (no fsync needed for that), while an
    fsync's 4–12 ms pause would last ``speed`` × longer in the agent's virtual time and turn into
    timeouts and ``recvWindow`` refusals a real run does not see."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="zerobeta-chaos-", dir=shm))
    return workdir


def _python_path(env: dict[str, str]) -> str:
    """The repository first, then whatever the environment had."""
    return os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))


def agent_toml(exchange: ChaosExchange, journal: Path, flips_per_step: int) -> str:
    """The agent's configuration: live mode on Binance only (URLs at the exchange), the churn
    strategy alone, limits wide enough for the churn's volume."""
    return f"""
mode = "live"
[market_data]
source = "live"
live_bar_delay_s = 5
live_mark_every_s = 60
live_funding_history_days = 1
[venues.binance]
collateral_frac = 1.0
rest_url = "{exchange.rest_url}"
ws_url = "{exchange.ws_url}"
[venues.bybit]
enabled = false
collateral_frac = 0.0
[venues.hyperliquid]
enabled = false
collateral_frac = 0.0
[risk]
daily_drawdown_frac = 0.5
total_drawdown_frac = 0.9
[execution]
leg_timeout_s = 30.0
drift_check = "ratio"
[journal]
path = "{journal}"
[logging]
level = "info"
format = "json"
[control]
http = "off"
[strategies.funding_harvester]
enabled = false
[strategies.stat_arb]
enabled = false
[strategies.factor_neutral]
enabled = false
[strategies.cross_venue_arb]
enabled = false
[strategies.beta_hedger]
enabled = false
[strategies.funding_flip_monitor]
enabled = false
[strategies.churn]
class = "tests.chaos.churn:Churn"
flips_per_step = {flips_per_step}
flip_notional_usd = 500.0
core_notional_usd = 2000.0
"""


class ChaosDriver:
    """Runs one chaos run (module docstring); :meth:`run` returns its figures."""

    def __init__(self, config: ChaosConfig) -> None:
        unknown = set(config.kill_kinds) - set(KILL_KINDS)
        if unknown:
            raise ValueError(f"unknown kill kinds {sorted(unknown)}; known: {KILL_KINDS}")
        self.cfg = config
        self.rng = random.Random(f"{config.seed}/kills")
        self.clock = VirtualClock(START_MS, config.speed)
        self.plan = FaultPlan(config.seed)
        self.exchange = ChaosExchange(self.clock, self.plan)
        self.figures = Figures(speed=config.speed)
        self.journal = journal_dir(config.workdir) / "journal.sqlite"
        self.log = config.workdir / "agent.log"
        self.agent: AgentProcess | None = None
        self._generation = 0
        self._started_s = 0.0
        self._last_progress_s = 0.0
        self._killed_by_us = False
        self._first_live_ms: int | None = None
        self._down_ms: list[tuple[int, int | None]] = []
        """Virtual stretches the agent was down: from a kill to the restarted agent's position
        check (when the exchange stops holding its orders); the last one open while down."""

    @property
    def step_real_s(self) -> float:
        return HOUR_S / self.cfg.speed

    def run(self) -> Figures:
        self.cfg.workdir.mkdir(parents=True, exist_ok=True)
        self._started_s = time.monotonic()
        snapshot: dict[str, Any] = {}
        try:
            with ExchangeThread(self.exchange) as ex:
                self.ex = ex
                self._run_agent()
                snapshot = ex.call(self.exchange.snapshot)
                if self.journal.exists():
                    self._evaluate(snapshot)
        finally:
            self._keep_journal()
        r = self.exchange.records
        self._dump_records(snapshot.get("trades", []))
        self.figures.kills_between_legs = r.kills_between_legs
        self.figures.notes.append(
            f"exchange: {r.ws_connections} websocket connections, {r.ws_drops} cut,"
            f" {r.ws_silences} silences; {r.weight_429} weight 429s;"
            f" {r.retry_after_violations} requests inside a Retry-After window;"
            f" {r.beyond_recv_window} signed requests older than recvWindow on arrival;"
            f" {r.dropped_stale} requests of killed processes dropped"
        )
        self.figures.wall_s = time.monotonic() - self._started_s
        return self.figures

    def _run_agent(self) -> None:
        self.exchange.kill_agent = self._kill_from_exchange
        self.config_path = self.cfg.workdir / "agent.toml"
        self.config_path.write_text(
            agent_toml(self.exchange, self.journal, self.cfg.flips_per_step), encoding="utf-8"
        )
        try:
            if self._start():
                self._chaos()
                self._settle()
        finally:
            if self.agent is not None:
                self.agent.close()

    def _evaluate(self, snapshot: dict[str, Any]) -> None:
        journal = read_journal(self.journal)
        self.figures.position_checks.append(positions_equal(journal, snapshot, "at the end"))
        evaluate(
            self.figures,
            journal,
            snapshot,
            self.exchange.records,
            self.exchange.prices,
            threshold_usd=UNBALANCED_USD,
            budget_s=self.cfg.leg_budget_s,
            jumps_from_ms=self._first_live_ms or 0,
            down_ms=self._down_ms,
        )

    def _dump_records(self, trades: list[dict[str, Any]]) -> None:
        """The exchange's order POSTs, lookups, unknown outcomes and trades as JSON in
        ``workdir``, for reading a failure after the run."""
        r = self.exchange.records
        data = {
            "trades": trades,
            "posts": [{**vars(p), "qty": str(p.qty)} for p in r.posts],
            "lookups": r.lookups,
            "unknown": [vars(u) for u in r.unknown],
            "adjustments": [{**a, "qty": str(a["qty"])} for a in r.adjustments],
        }
        path = self.cfg.workdir / "exchange.json"
        path.write_text(json.dumps(data, indent=1), encoding="utf-8")

    def _keep_journal(self) -> None:
        """Move a tmpfs journal (with its WAL) into ``workdir``."""
        folder = self.journal.parent
        if folder == self.cfg.workdir:
            return
        for part in folder.glob("journal.sqlite*"):
            shutil.move(str(part), self.cfg.workdir / part.name)
        shutil.rmtree(folder, ignore_errors=True)
        self.journal = self.cfg.workdir / "journal.sqlite"

    # ---- starting ----------------------------------------------------------------------------

    def _spawn(self) -> AgentProcess:
        self._generation += 1
        self.ex.call(lambda: self.exchange.new_generation("start"))
        self.ex.call(self._close_gate)
        self._killed_by_us = False
        self.agent = AgentProcess(self.config_path, self.clock, self.log, self._generation)
        return self.agent

    def _close_gate(self) -> None:
        self.exchange.gate.open.clear()
        self.exchange.gate.held.clear()

    def _start(self) -> bool:
        """Start (or restart) the agent, killing it early first when the seed says so
        (``startup``); check it once it has reconciled. A refused start is repaired by the
        operator (``operator_repair``) and started again, else False."""
        for _ in range(3):
            if "startup" in self.cfg.kill_kinds and self._kills_left() and self.rng.random() < 0.2:
                self._startup_kill()
            outcome = self._start_once()
            if outcome is not None:
                return outcome
            if not self.cfg.operator_repair:
                return False
            self._operator_repair()
        return False

    def _startup_kill(self) -> None:
        agent = self._spawn()
        self.ex.call(self.exchange.gate.open.set)
        if agent.wait(self.rng.uniform(0.1, 2.0)) is None:
            self._kill("startup")
            agent.wait(30)
        agent.close()
        self.figures.restarts += 1

    def _start_once(self) -> bool | None:
        """True: live and checked; None: the start was refused (recorded); False: not live in
        time."""
        agent = self._spawn()
        deadline = time.monotonic() + max(90.0, 20 * self.step_real_s)
        try:
            while time.monotonic() < deadline:
                if agent.live.is_set() or self.exchange.gate.held.is_set():
                    if self._first_live_ms is None:
                        self._first_live_ms = self.clock.now_ms()
                    self._check_positions(f"after start {self._generation}")
                    self._came_up()
                    return True
                code = agent.wait(0.05)
                if code is not None:
                    self._refused(f"start {self._generation} exited {code}: {agent.failure()}")
                    return None
            self.figures.refused_starts.append(f"start {self._generation}: not live in time")
            return False
        finally:
            self.ex.call(self.exchange.gate.open.set)

    def _refused(self, what: str) -> None:
        """Record a refused start with the orders behind it: executed by the exchange, only
        written ahead in the journal."""
        self.figures.refused_starts.append(what)
        snapshot = self.ex.call(self.exchange.snapshot)
        pending = executed_but_pending(read_journal(self.journal), snapshot)
        if pending:
            self.figures.notes.append(
                f"before start {self._generation}: executed by the exchange, pending_new in the "
                "journal: " + "; ".join(pending)
            )

    def _operator_repair(self) -> None:
        """What the refusal asks of a person: make the exchange's positions the journal's."""
        journal = read_journal(self.journal)
        snapshot = self.ex.call(self.exchange.snapshot)
        for symbol, qty in snapshot["positions"].items():
            wanted = journal.positions.get(symbol, Decimal(0))
            if qty != wanted:
                self.ex.call(lambda s=symbol, q=wanted: self.exchange.operator_sets_position(s, q))
        self.figures.operator_repairs += 1

    def _check_positions(self, when: str) -> None:
        snapshot = self.ex.call(self.exchange.snapshot)
        self.figures.position_checks.append(
            positions_equal(read_journal(self.journal), snapshot, when)
        )

    # ---- killing -----------------------------------------------------------------------------

    def _kills_left(self) -> bool:
        return self.figures.kills < self.cfg.kills

    def _kill_from_exchange(self, reason: str) -> None:
        """The exchange's kill (between legs), on the exchange's loop."""
        self._killed_by_us = True
        self._went_down()
        if self.agent is not None:
            self.agent.kill()

    def _kill(self, kind: str) -> None:
        self.figures.kills += 1
        self.figures.kills_by_kind[kind] = self.figures.kills_by_kind.get(kind, 0) + 1
        self._killed_by_us = True
        self._went_down()
        self.ex.call(lambda: self.exchange.kill(kind))

    def _went_down(self) -> None:
        """Open a down stretch at the kill (unless one is open: a kill during a start-up)."""
        if not self._down_ms or self._down_ms[-1][1] is not None:
            self._down_ms.append((self.clock.now_ms(), None))

    def _came_up(self) -> None:
        """Close the open down stretch: the restarted agent is checked and may trade."""
        if self._down_ms and self._down_ms[-1][1] is None:
            self._down_ms[-1] = (self._down_ms[-1][0], self.clock.now_ms())

    def _chaos(self) -> None:
        """Kill and restart until both targets are met (or the wall-time limit)."""
        kinds = [k for k in self.cfg.kill_kinds if k != "startup"] or ["random"]
        last_pairs, since_s = -1, time.monotonic()
        while not self._out_of_time():
            pairs = pairs_sent(self.journal)
            self._report(pairs)
            if pairs != last_pairs:
                last_pairs, since_s = pairs, time.monotonic()
            if not self._kills_left():
                if pairs >= self.cfg.pairs or self._agent_exited(self.step_real_s / 2):
                    return
                if time.monotonic() - since_s > STALLED_STEPS * self.step_real_s:
                    self.figures.notes.append(
                        f"stopped: no paired order for {STALLED_STEPS} steps (the agent stopped"
                        " opening: see 'opening halted by a position mismatch')"
                    )
                    return
                continue
            if not self._kill_once(self.rng.choice(kinds)):
                return
            assert self.agent is not None
            self.agent.wait(30)
            self.agent.close()
            self.figures.restarts += 1
            if not self._start():
                return

    def _kill_once(self, kind: str) -> bool:
        """Deliver one kill of ``kind``; False when the agent died on its own first."""
        assert self.agent is not None
        if kind == "between_legs":
            self.ex.call(lambda: setattr(self.exchange, "kill_between_legs", True))
            if self.agent.wait(3 * self.step_real_s) is not None:
                if not self._killed_by_us:
                    return not self._died()
                self.figures.kills += 1
                self.figures.kills_by_kind[kind] = self.figures.kills_by_kind.get(kind, 0) + 1
                return True
            self.ex.call(lambda: setattr(self.exchange, "kill_between_legs", False))
            kind = "random"
        if kind == "idle":
            end = time.monotonic() + 3 * self.step_real_s
            while time.monotonic() < end and not self.ex.call(
                lambda: self.exchange.idle(0.05 * self.step_real_s)
            ):
                if self.agent.wait(0.02) is not None:
                    return not self._died()
        elif self._agent_exited(self.rng.uniform(0.1, 1.5) * self.step_real_s):
            return False
        self._kill(kind)
        return True

    def _agent_exited(self, wait_s: float) -> bool:
        """Wait ``wait_s`` (progress printed); True if the agent exited on its own."""
        assert self.agent is not None
        end = time.monotonic() + wait_s
        while time.monotonic() < end:
            if self.agent.wait(min(1.0, max(0.0, end - time.monotonic()))) is not None:
                return self._died()
            self._report(None)
        return False

    def _died(self) -> bool:
        assert self.agent is not None
        self.figures.refused_starts.append(
            f"agent {self._generation} exited {self.agent.proc.returncode}: {self.agent.failure()}"
        )
        return True

    def _settle(self) -> None:
        """No more faults; steps until every pending order has resolved (two at least, at most
        ``SETTLE_MAX_STEPS``: a loaded machine makes calls time out at ``speed`` x real time,
        and an order whose outcome is still unknown at the stop is counted as lost); then a
        graceful stop (SIGTERM)."""
        assert self.agent is not None
        self.plan.calm = True
        if self.agent.proc.poll() is None:
            self._agent_exited(2.5 * self.step_real_s)
        for _ in range(SETTLE_MAX_STEPS - 2):
            if self.agent.proc.poll() is not None or not self._pending_orders():
                break
            self._agent_exited(self.step_real_s)
        if self.agent.proc.poll() is None:
            self.agent.proc.send_signal(signal.SIGTERM)
            if self.agent.wait(60) is None:
                self.figures.notes.append("the agent did not stop within 60 s of SIGTERM")

    def _pending_orders(self) -> bool:
        """Whether the journal still has an order without a final state or the last
        checkpoint an unresolved one."""
        view = read_journal(self.journal)
        unanswered = any(status not in FINAL for status in view.last_status.values())
        return unanswered or bool(view.unresolved_cids)

    def _out_of_time(self) -> bool:
        if time.monotonic() - self._started_s < self.cfg.max_wall_s:
            return False
        self.figures.notes.append(f"stopped at the wall-time limit ({self.cfg.max_wall_s:.0f} s)")
        return True

    def _report(self, pairs: int | None) -> None:
        now = time.monotonic()
        if self.cfg.progress is None or now - self._last_progress_s < 5:
            return
        self._last_progress_s = now
        pairs = pairs_sent(self.journal) if pairs is None else pairs
        faults = sum(self.exchange.records.faults.values())
        print(
            f"[chaos {now - self._started_s:6.0f} s] paired orders {pairs:,}/{self.cfg.pairs:,}"
            f"  kills {self.figures.kills}/{self.cfg.kills}"
            f"  refused starts {len(self.figures.refused_starts)}  faults {faults:,}",
            file=self.cfg.progress,
            flush=True,
        )


def run_chaos(config: ChaosConfig) -> tuple[Figures, str]:
    """Run one chaos run; returns its figures and their table."""
    figures = ChaosDriver(config).run()
    return figures, format_table(figures)


def figures_json(figures: Figures) -> str:
    """The headline figures as JSON (for a machine reading the benchmark's output)."""
    return json.dumps(
        {
            "paired_orders": figures.paired_orders,
            "kills": figures.kills,
            "restarts": figures.restarts,
            "duplicate_orders": figures.duplicate_orders,
            "lost_fills": figures.lost_fills,
            "unresolved_intents": figures.unresolved_intents,
            "position_mismatches": figures.position_mismatches,
            "refused_starts": len(figures.refused_starts),
        }
    )
