"""Live start-up: put the Bybit unified account in the modes zerobeta trades with.

Source: Bybit v5 "Switch Position Mode"
https://bybit-exchange.github.io/docs/v5/position/position-mode, "Set Leverage"
https://bybit-exchange.github.io/docs/v5/position/leverage, "Set Margin Mode"
https://bybit-exchange.github.io/docs/v5/account/set-margin-mode; fixtures
``switch_position_mode.json``, ``set_leverage.json``, ``set_margin_mode_failed.json``.

* Position mode: ``POST /v5/position/switch-mode`` ``{category: linear, coin: USDT, mode: 0}``
  (one-way for every USDT perp); 110025 "not modified" = already one-way.
* Margin mode: account-wide on UTA, ``POST /v5/account/set-margin-mode``
  ``REGULAR_MARGIN`` (cross); a refusal (3400045) carries ``reasons[]``, named in the error.
  Bybit does not say whether it changed anything, so the line says "ensured".
* Leverage: ``POST /v5/position/set-leverage`` per perp, buy = sell; 110043 = unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from decimal import Decimal
from typing import Any

from venues.bybit import constants as c
from venues.bybit.rest import BybitRest
from venues.errors import AccountSetupError, AuthError, VenueError, is_retryable
from venues.model import InstrumentId, InstrumentKind

MODE_ONE_WAY = 0
MARGIN_MODE_CROSS = "REGULAR_MARGIN"
SETTLE_COIN = "USDT"


async def _changed(call: Awaitable[Any], what: str, fix: str) -> bool:
    """Await a setter: ``True`` if it changed something, ``False`` if "not modified"."""
    try:
        await call
    except VenueError as e:
        if e.code is not None and e.code in {str(x) for x in c.NOT_MODIFIED_CODES}:
            return False
        if isinstance(e, AuthError) or is_retryable(e):
            raise
        raise AccountSetupError(
            f"bybit: could not set {what} ({e}); {fix}", venue=c.VENUE, code=e.code
        ) from e
    return True


def _leverage_text(leverage: Decimal) -> str:
    return format(leverage.normalize(), "f")


async def prepare_account(
    rest: BybitRest, instrument_ids: Sequence[InstrumentId], leverage: Decimal
) -> list[str]:
    """One-way position mode, cross margin and ``leverage`` × for the perps among
    ``instrument_ids`` (spot needs nothing). Returns one line per change.

    Raises
    ------
    AccountSetupError
        When Bybit refuses a mode (open positions or orders, a unified account that cannot
        use cross margin ...), naming the instrument and what the user must do.
    AuthError, TransportError, VenueUnavailable, RateLimited
        As raised by the requests.
    """
    perps = [i for i in instrument_ids if i.kind is InstrumentKind.PERP]
    if not perps:
        return []
    lines: list[str] = []
    if await _changed(
        rest.post_switch_mode(SETTLE_COIN, MODE_ONE_WAY),
        f"one-way position mode for {SETTLE_COIN} perps",
        "close the open positions and orders of these perps, or switch to one-way mode in "
        "the Bybit UI",
    ):
        lines.append(f"bybit: {SETTLE_COIN} perps switched to one-way position mode")
    await _changed(
        rest.post_set_margin_mode(MARGIN_MODE_CROSS),
        "cross margin (REGULAR_MARGIN) on the unified account",
        "set the account's margin mode to cross in the Bybit UI",
    )
    lines.append("bybit: unified account margin mode ensured cross (REGULAR_MARGIN)")
    text = _leverage_text(leverage)
    for iid in perps:
        changed = await _changed(
            rest.post_set_leverage(iid.symbol, text),
            f"{text}x leverage on {iid}",
            f"check that {text}x is within the symbol's leverage limits and risk tier",
        )
        lines.extend([f"bybit: {iid} leverage set to {text}x"] if changed else [])
    return lines
