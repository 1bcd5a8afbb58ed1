"""Positions and marks of the ledger, and the views over them (:mod:`agent.portfolio.ledger`).

:class:`PositionBook` holds what the exposure views need: the open lot of each strategy in
each instrument, the net position per instrument (base units) and the last mark per
instrument (quote units = USD). Its views are exact Decimal sums in the ledger's context:
positions and average reference-price cost, gross notional Σ |net qty × mark|, net delta
Σ net qty × mark (spot and linear perps, delta ±1 per unit), notional per venue, the capital
a venue ties up (|spot value| + |perp notional| / leverage) and the portfolio beta to BTC
Σ (signed market value / gross exposure) × β (SEEDS "Neutrality").

:class:`agent.portfolio.ledger.Portfolio` is a :class:`PositionBook` that also holds cash and P&L
flows and is the only code that books into these positions and marks.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, localcontext

from agent.portfolio.exact import _CTX, _ZERO, _dec, _Lot
from venues.model import InstrumentId, InstrumentKind, base_asset


class PositionBook:
    """Open lots per (instrument, strategy), net positions and last marks, read-only views.

    Starts empty; :class:`agent.portfolio.ledger.Portfolio` books fills and marks into it.
    """

    def __init__(self) -> None:
        self._lots: dict[InstrumentId, dict[str, _Lot]] = {}
        self._marks: dict[InstrumentId, Decimal] = {}
        self._net: dict[InstrumentId, Decimal] = {}

    def positions(self, strategy: str | None = None) -> dict[InstrumentId, Decimal]:
        """Non-zero signed positions, base units: of ``strategy``, or net over all when None."""
        if strategy is None:
            return self._net_positions()
        return {
            iid: lot.qty
            for iid, holders in self._lots.items()
            if (lot := holders.get(strategy)) is not None and lot.qty != 0
        }

    def avg_cost(self, strategy: str, instrument_id: InstrumentId) -> Decimal | None:
        """Average reference-price cost of the strategy's open position, USD/unit; None if flat."""
        lot = self._lots.get(instrument_id, {}).get(strategy)
        if lot is None or lot.qty == 0:
            return None
        with localcontext(_CTX):
            return lot.basis_usd / lot.qty

    def marks(self) -> dict[InstrumentId, Decimal]:
        """Last mark price per instrument, quote units (a copy)."""
        return dict(self._marks)

    def gross_notional_usd(self) -> Decimal:
        """Σ |net qty × mark| over instruments, USD."""
        with localcontext(_CTX):
            return sum((abs(v) for v in self._market_values().values()), _ZERO)

    def net_delta_usd(self) -> Decimal:
        """Σ signed net qty × mark over spot and linear perps (delta ±1 per unit), USD."""
        with localcontext(_CTX):
            return sum(self._market_values().values(), _ZERO)

    def notional_by_venue(self) -> dict[str, Decimal]:
        """Gross notional Σ |net qty × mark| per venue with positions, USD."""
        result: dict[str, Decimal] = {}
        with localcontext(_CTX):
            for iid, value in self._market_values().items():
                result[iid.venue] = result.get(iid.venue, _ZERO) + abs(value)
        return result

    def venue_committed_usd(self, venue: str, perp_leverage: Decimal | float) -> Decimal:
        """Capital a venue ties up: |spot holdings value| + |perp notional| / leverage, USD.

        Raises
        ------
        ValueError
            If ``perp_leverage`` is not positive.
        """
        leverage = perp_leverage if isinstance(perp_leverage, Decimal) else _dec(perp_leverage)
        if not leverage > 0:
            raise ValueError(f"perp_leverage must be positive, got {perp_leverage!r}")
        committed = _ZERO
        with localcontext(_CTX):
            for iid, value in self._market_values().items():
                if iid.venue == venue:
                    perp = iid.kind is InstrumentKind.PERP
                    committed += abs(value) / leverage if perp else abs(value)
        return committed

    def beta_to_btc(
        self, betas: Mapping[str, float], base_assets: Mapping[InstrumentId, str] | None = None
    ) -> float:
        """Portfolio beta Σ (signed market value / gross exposure) × β (SEEDS "Neutrality").

        Parameters
        ----------
        betas : Mapping[str, float]
            Beta to BTC per base asset (``"ETH"``), dimensionless.
        base_assets : Mapping[InstrumentId, str] | None
            Base asset per instrument; by default parsed from the symbol (``ETHUSDT`` → ``ETH``).

        Returns
        -------
        float
            Dimensionless; 0.0 when there is no exposure.

        Raises
        ------
        ValueError
            If a held asset has no beta (an unknown beta is never assumed to be 1.0).
        """
        values = self._market_values()
        gross = float(sum((abs(v) for v in values.values()), _ZERO))
        if gross == 0.0:
            return 0.0
        bases = {i: (base_assets or {}).get(i) or base_asset(i.symbol) for i in values}
        missing = sorted({b for b in bases.values() if b not in betas})
        if missing:
            raise ValueError(f"no beta for held assets {missing}; refusing to assume 1.0")
        return sum(float(v) / gross * betas[bases[i]] for i, v in values.items())

    def _net_positions(self) -> dict[InstrumentId, Decimal]:
        return {iid: qty for iid, qty in self._net.items() if qty != 0}

    def _market_values(self) -> dict[InstrumentId, Decimal]:
        with localcontext(_CTX):
            return {iid: q * self._marks[iid] for iid, q in self._net_positions().items()}
