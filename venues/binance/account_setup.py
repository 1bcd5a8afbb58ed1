"""Binance USDⓈ-M account setup: one-way position mode, cross margin, leverage per symbol.

Endpoints (Binance USDⓈ-M
https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api pages "Change
Position Mode", "Change Margin Type", "Change Initial Leverage", and "Error Codes"
https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code): ``GET|POST
/fapi/v1/positionSide/dual`` (``-4059`` = already set), ``POST /fapi/v1/marginType`` (``-4046`` =
already set, ``-4047``/``-4048`` = open orders / position block the change), ``POST
/fapi/v1/leverage``. Fixtures ``change_margin_type.json``, ``change_leverage.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from venues.binance import constants as c
from venues.binance.parse import parse_position_risk
from venues.binance.rest import BinanceUsdmRest
from venues.errors import AccountSetupError, ProtocolError, VenueError
from venues.model import InstrumentId


def _code(error: VenueError) -> int | None:
    try:
        return None if error.code is None else int(error.code)
    except ValueError:
        return None


def _setup_error(message: str) -> AccountSetupError:
    return AccountSetupError(f"binance: {message}", venue=c.VENUE)


def whole_leverage(leverage: Decimal) -> int:
    """``leverage`` × as Binance's integer 1..125.

    Raises ``AccountSetupError`` for a fraction or a value out of range.
    """
    if leverage != leverage.to_integral_value() or not 1 <= leverage <= c.USDM_MAX_LEVERAGE:
        raise _setup_error(f"leverage must be a whole number 1..125, got {leverage}")
    return int(leverage)


async def ensure_one_way_mode(rest: BinanceUsdmRest) -> list[str]:
    """Switch the account to one-way position mode if it is in hedge mode.

    Returns the change made (empty if none).

    Raises
    ------
    AccountSetupError
        If hedge mode is on and positions or open orders exist (Binance refuses the switch:
        ``-4067``/``-4068``); the message names them and what to do.
    ProtocolError
        On a malformed answer.
    """
    payload = await rest.get_position_mode()
    dual = payload.get("dualSidePosition") if isinstance(payload, Mapping) else None
    if not isinstance(dual, bool):
        raise ProtocolError("positionSide/dual: field 'dualSidePosition' not a bool", venue=c.VENUE)
    if not dual:
        return []
    positions = parse_position_risk(await rest.get_position_risk())
    open_orders = await rest.get_open_orders()
    if positions or open_orders:
        held = sorted({p.instrument_id.symbol for p in positions})
        raise _setup_error(
            f"account is in hedge position mode with open positions {held} and "
            f"{len(open_orders) if isinstance(open_orders, list) else '?'} open orders; "
            "zerobeta needs one-way mode: close them and restart (zerobeta then switches "
            "it), or switch Position Mode to One-way in the Binance futures settings"
        )
    try:
        await rest.post_position_mode(dual_side_position=False)
    except VenueError as e:
        if _code(e) in c.ALREADY_SET_CODES:
            return []
        if _code(e) in c.POSITION_MODE_BLOCKED_CODES:
            raise _setup_error(f"cannot switch to one-way mode: {e}") from e
        raise
    return ["position mode: hedge → one-way"]


async def ensure_cross_margin(rest: BinanceUsdmRest, symbol: str) -> list[str]:
    """Set ``symbol`` to cross margin. ``-4046`` (already cross) → no change.

    Raises ``AccountSetupError`` when an open position or orders block the change
    (``-4047``/``-4048``).
    """
    try:
        await rest.post_margin_type(symbol, c.USDM_MARGIN_TYPE_CROSSED)
    except VenueError as e:
        if _code(e) in c.ALREADY_SET_CODES:
            return []
        if _code(e) in c.MARGIN_TYPE_BLOCKED_CODES:
            raise _setup_error(
                f"{symbol} is isolated margin with an open position or orders ({e}); close "
                "them or switch it to Cross in the Binance futures settings"
            ) from e
        raise
    return [f"{symbol}: margin type → {c.USDM_MARGIN_TYPE_CROSSED}"]


async def set_leverage(rest: BinanceUsdmRest, symbol: str, leverage: int) -> list[str]:
    """``POST /fapi/v1/leverage``; the answer does not say whether it changed, so the line
    reports the leverage and max notional (USDT) now in force.

    Raises ``ProtocolError`` if the answer's ``leverage`` differs from the request.
    """
    payload = await rest.post_leverage(symbol, leverage)
    got = payload.get("leverage") if isinstance(payload, Mapping) else None
    if got != leverage:
        raise ProtocolError(
            f"leverage[{symbol}]: answered {got!r}, asked {leverage}", venue=c.VENUE
        )
    return [f"{symbol}: leverage {leverage}x (max notional {payload.get('maxNotionalValue')} USDT)"]


async def prepare_usdm_account(
    rest: BinanceUsdmRest, instrument_ids: Sequence[InstrumentId], leverage: Decimal
) -> list[str]:
    """One-way mode, then per perp cross margin and ``leverage`` ×; one line per change.

    Raises ``AccountSetupError`` (see the functions above) or the REST errors.
    """
    target = whole_leverage(leverage)
    changes = await ensure_one_way_mode(rest)
    for symbol in dict.fromkeys(i.symbol for i in instrument_ids):
        changes += await ensure_cross_margin(rest, symbol)
        changes += await set_leverage(rest, symbol, target)
    return changes
