"""Deribit in its own units: the instrument list with strikes and expiries, option tickers
with the venue's greeks, the index, orders in venue units, the account's positions and
greeks, and the option and portfolio streams.

:class:`DeribitClient` is what the common :class:`~venues.deribit.venue.DeribitVenue` (and
its live option chain, :meth:`~venues.deribit.venue.DeribitVenue.fetch_option_chain`) is built
on; it converts nothing: ``amount`` in USD for inverse futures, in coin for options
and linear instruments, option prices in the coin (:mod:`venues.deribit.types`). Source: the
Deribit API v2 docs https://docs.deribit.com/ (each method's page cited where it is used).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from typing import Any

import structlog

from venues.deribit import constants as c
from venues.deribit import parse as p
from venues.deribit import parse_account as pa
from venues.deribit.fields import as_object
from venues.deribit.rest import DeribitRest
from venues.deribit.streams import DeribitStreams
from venues.deribit.types import (
    DeribitAccountSummary,
    DeribitInstrument,
    DeribitOrderRequest,
    DeribitPosition,
)
from venues.errors import InvalidOrder, OrderNotFound
from venues.model import (
    OptionMark,
    OptionTicker,
    OrderAck,
    OrderType,
    Side,
)

log = structlog.get_logger("zerobeta.venues.deribit")


class DeribitClient:
    """Deribit API v2 in venue units (see the module docstring).

    Parameters
    ----------
    rest : DeribitRest
        JSON-RPC over HTTP (owns the transport; closed by :meth:`close`).
    streams : DeribitStreams
        JSON-RPC over websocket.
    """

    def __init__(self, rest: DeribitRest, streams: DeribitStreams) -> None:
        self.rest = rest
        self.streams = streams
        self._contracts: dict[str, DeribitInstrument] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"DeribitClient(rest={self.rest!r})"

    async def close(self) -> None:
        """Close the transport; idempotent."""
        if not self._closed:
            self._closed = True
            await self.rest.aclose()

    # --- instruments ------------------------------------------------------------------------

    async def load_contracts(
        self, currency: str, kind: str | None = None
    ) -> list[DeribitInstrument]:
        """Every active instrument of ``currency`` (``BTC``, ``ETH``, ``USDC``; ``kind``
        ``option``/``future``/None = all) with strikes, expiries, option type, contract size,
        tick size (and steps) and minimum amount (``public/get_instruments``,
        https://docs.deribit.com/#public-get_instruments). Cached (:meth:`contract`)."""
        rows = p.parse_instruments(await self.rest.get_instruments(currency, kind))
        found = [i for i in rows if i.is_active]
        self._contracts.update({i.name: i for i in found})
        return found

    def contract(self, instrument_name: str) -> DeribitInstrument | None:
        """A contract :meth:`load_contracts` has read, or None."""
        return self._contracts.get(instrument_name)

    def currency_of(self, instrument_name: str) -> str:
        """Settlement currency of an instrument (the ``currency`` of by-currency calls): the
        loaded contract's, else the name's prefix (``BTC-PERPETUAL`` → ``BTC``)."""
        contract = self._contracts.get(instrument_name)
        if contract is not None:
            return contract.settlement_currency
        return instrument_name.split("-")[0].split("_")[-1]

    # --- market data --------------------------------------------------------------------------

    async def fetch_option_ticker(self, instrument_name: str) -> OptionTicker:
        """Mark price (coin), mark/bid/ask IV (fractions) and the venue's greeks of one
        option (``public/ticker``, https://docs.deribit.com/#public-ticker). Fixture
        ``ticker_btc_option.json``."""
        return p.parse_option_ticker(await self.rest.ticker(instrument_name))

    async def fetch_ticker(self, instrument_name: str) -> Mapping[str, Any]:
        """The raw ``public/ticker`` result of any instrument (a JSON object)."""
        return as_object(await self.rest.ticker(instrument_name), "ticker")

    async def fetch_index_price(self, index_name: str) -> float:
        """Index price, USD, of ``index_name`` (``btc_usd``; ``public/get_index_price``,
        https://docs.deribit.com/#public-get_index_price). Fixture ``get_index_price.json``."""
        index_price, _ = p.parse_index_price(await self.rest.get_index_price(index_name))
        return index_price

    def stream_option_tickers(self, instrument_names: list[str]) -> AsyncIterator[OptionTicker]:
        """Option tickers with greeks (``ticker.{instrument}.100ms``)."""
        return self.streams.option_tickers(instrument_names)

    def stream_option_marks(self, index_name: str) -> AsyncIterator[list[OptionMark]]:
        """Marks and IVs of every option on ``index_name`` (``markprice.options.{index}``)."""
        return self.streams.option_marks(index_name)

    def stream_portfolio(self, currency: str) -> AsyncIterator[DeribitAccountSummary]:
        """Account summary pushes (``user.portfolio.{currency}``)."""
        return self.streams.portfolio(currency)

    # --- orders -----------------------------------------------------------------------------

    async def send(self, order: DeribitOrderRequest) -> Any:
        """Send ``order`` (venue units) exactly once (``private/buy``/``private/sell``,
        https://docs.deribit.com/#private-buy) and return the raw ``{order, trades}`` result.
        Post-only is ``post_only`` + ``reject_post_only`` (refused with ``11054`` instead of
        repriced inside the spread).

        Raises
        ------
        InvalidOrder
            A label over 64 characters (never sent), or the venue's rule violations.
        OrderRejected
            Other refusals (``10009`` → ``InsufficientMargin``), carrying the label.
        TransportError, VenueUnavailable
            Outcome unknown: look the label up.
        """
        if len(order.label) > c.LABEL_MAX_LEN:
            reason = f"label longer than {c.LABEL_MAX_LEN} characters"
            raise InvalidOrder(
                f"deribit: {reason}", venue=c.VENUE, client_order_id=order.label, reason=reason
            )
        params: dict[str, object] = {
            "instrument_name": order.instrument_name,
            "amount": order.amount,
            "type": order.order_type.value,
            "label": order.label,
            "time_in_force": order.time_in_force,
            "post_only": order.post_only,
            "reject_post_only": order.post_only,
            "reduce_only": order.reduce_only,
        }
        if order.price is not None and order.order_type is OrderType.LIMIT:
            params["price"] = order.price
        if order.valid_until_ms is not None:
            params["valid_until"] = order.valid_until_ms
        send = self.rest.buy if order.side is Side.BUY else self.rest.sell
        result = await send(json_numbers(params))
        log.info(
            "order_sent",
            venue=c.VENUE,
            instrument=order.instrument_name,
            client_order_id=order.label,
            side=order.side.value,
            amount=str(order.amount),
        )
        return result

    async def submit(self, order: DeribitOrderRequest) -> OrderAck:
        """:meth:`send` and the answer as an ack in **venue units** (instrument id
        ``deribit:perp:<name>``; options and futures have no common perp id: use the label
        and venue order id). Errors as :meth:`send`."""
        result = await self.send(order)
        return pa.parse_order_response(result, p.perp_id(order.instrument_name))

    async def label_orders(
        self, instrument_name: str, label: str, *, retry: bool = True
    ) -> list[Mapping[str, Any]]:
        """Every recent order labelled ``label`` on ``instrument_name``'s currency, raw
        (``private/get_order_state_by_label``,
        https://docs.deribit.com/#private-get_order_state_by_label); ``retry=False`` sends the
        lookup once (a check whose failure must surface)."""
        currency = self.currency_of(instrument_name)
        result = await self.rest.get_order_state_by_label(currency, label, retry=retry)
        return pa.order_rows(result, "get_order_state_by_label")

    async def order_by_label(self, instrument_name: str, label: str) -> Mapping[str, Any]:
        """The most recent order labelled ``label`` on ``instrument_name``, raw. Raises
        ``OrderNotFound``. Fixture ``get_order_state_by_label.json``."""
        rows = [
            r
            for r in await self.label_orders(instrument_name, label)
            if r.get("instrument_name") == instrument_name
        ]
        row = pa.latest_order(rows, "get_order_state_by_label")
        if row is None:
            raise OrderNotFound(f"deribit: no order labelled {label!r}", venue=c.VENUE)
        return row

    async def fetch_order_by_label(self, instrument_name: str, label: str) -> OrderAck:
        """:meth:`order_by_label` with its fills (``private/get_user_trades_by_order``) as an
        ack in venue units. Raises ``OrderNotFound``."""
        row = await self.order_by_label(instrument_name, label)
        ack = pa.parse_order(row, p.perp_id(instrument_name), "get_order_state_by_label")
        if ack.filled_qty > 0:
            trades = await self.rest.get_user_trades_by_order(ack.venue_order_id)
            ack = pa.with_fills(ack, pa.parse_trades(trades, ack.instrument_id, label))
        return ack

    # --- account ------------------------------------------------------------------------------

    async def fetch_deribit_positions(
        self, currency: str, kind: str | None = None
    ) -> list[DeribitPosition]:
        """Every position of ``currency`` (``any`` for all), venue units, with the venue's
        greeks for options (``private/get_positions``,
        https://docs.deribit.com/#private-get_positions)."""
        return pa.parse_deribit_positions(await self.rest.get_positions(currency, kind))

    async def fetch_account_summary(self, currency: str) -> DeribitAccountSummary:
        """Equity, margins, ``delta_total`` and the account's option greeks of ``currency``
        (``private/get_account_summary``, https://docs.deribit.com/#private-get_account_summary).
        Fixture ``get_account_summary.json``."""
        return pa.parse_account_summary(await self.rest.get_account_summary(currency))


def json_numbers(params: Mapping[str, object]) -> dict[str, object]:
    """``Decimal`` values as JSON numbers (Deribit takes numbers, not strings): an int when
    whole, else a float of the exact decimal text (on the tick/lot step, so it round-trips)."""
    out: dict[str, object] = {}
    for key, value in params.items():
        if isinstance(value, Decimal):
            out[key] = int(value) if value == value.to_integral_value() else float(value)
        else:
            out[key] = value
    return out
