"""Live start-up checks of an OKX account: account level, position mode, cross leverage.

Source: OKX API v5 "Trading Account" → "Get account configuration", "Set position mode"
https://www.okx.com/docs-v5/en/#trading-account-rest-api-set-position-mode, "Set leverage"
https://www.okx.com/docs-v5/en/#trading-account-rest-api-set-leverage. OKX has no per-symbol margin
mode switch: zerobeta sends ``tdMode=cross`` on every SWAP order, so only the account level
(which must allow swaps), the position mode (``net_mode``) and the cross leverage per swap are
checked here and set where they differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from venues.errors import AccountSetupError, VenueError
from venues.model import InstrumentId, InstrumentKind
from venues.okx import constants as c
from venues.okx.fields import data_rows, first_data_row, payload_error, str_field
from venues.okx.rest import OkxRest


def _fail(message: str) -> AccountSetupError:
    return AccountSetupError(f"okx: {message}", venue=c.VENUE)


async def _check_account_level(rest: OkxRest) -> str:
    config = first_data_row(await rest.get_account_config())
    level, pos_mode = str_field(config, "acctLv"), str_field(config, "posMode")
    if level == c.ACCOUNT_LEVEL_SPOT or level not in c.ACCOUNT_LEVEL_NAMES:
        name = c.ACCOUNT_LEVEL_NAMES.get(level, f"acctLv {level!r}")
        raise _fail(
            f"the account is in {name}, which cannot trade perpetual swaps; switch it to "
            "Futures mode, Multi-currency margin or Portfolio margin on okx.com "
            "(Trade > Settings > Account mode), then start again"
        )
    return pos_mode


async def _ensure_net_mode(rest: OkxRest, pos_mode: str) -> list[str]:
    if pos_mode == c.POS_MODE_NET:
        return []
    try:
        data_rows(await rest.post_set_position_mode(c.POS_MODE_NET))
    except VenueError as e:
        raise _fail(
            f"position mode is {pos_mode!r} and could not be set to {c.POS_MODE_NET!r} "
            f"({e}); close open positions and orders of every instrument, then start again"
        ) from e
    return [f"okx: position mode {pos_mode} -> {c.POS_MODE_NET}"]


def _current_leverage(payload: object) -> Decimal | None:
    rows = data_rows(payload)
    if not rows:
        return None
    try:
        return Decimal(str_field(rows[0], "lever"))
    except InvalidOperation:
        raise payload_error(f"field 'lever' is {rows[0].get('lever')!r}") from None


async def _ensure_leverage(rest: OkxRest, iid: InstrumentId, leverage: Decimal) -> list[str]:
    current = _current_leverage(await rest.get_leverage_info(iid.symbol, c.MGN_MODE_CROSS))
    if current == leverage:
        return []
    lever = format(leverage.normalize(), "f")
    try:
        data_rows(await rest.post_set_leverage(iid.symbol, lever, c.MGN_MODE_CROSS))
    except VenueError as e:
        raise _fail(
            f"{iid}: cross leverage is {current} and could not be set to {lever} ({e}); "
            "lower it by hand on okx.com or reduce the open position, then start again"
        ) from e
    return [f"okx: {iid} cross leverage {current} -> {lever}"]


async def prepare_account(
    rest: OkxRest, instrument_ids: Sequence[InstrumentId], leverage: Decimal
) -> list[str]:
    """Check and set what zerobeta trades with; returns one line per change made.

    ``GET /api/v5/account/config`` (``acctLv`` must allow swaps, ``posMode``) →
    ``POST set-position-mode net_mode`` when it differs → per perp ``GET leverage-info``
    (``mgnMode=cross``) and ``POST set-leverage`` when it differs. Spot ids need nothing.

    Raises
    ------
    AccountSetupError
        Spot-mode account, or a mode / leverage OKX refused to change (names the instrument,
        what was found and what to do).
    AuthError, VenueError
        From the requests themselves.
    """
    if leverage <= 0:
        raise _fail(f"leverage must be positive, got {leverage}")
    changes = await _ensure_net_mode(rest, await _check_account_level(rest))
    for iid in instrument_ids:
        if iid.kind is InstrumentKind.PERP:
            changes += await _ensure_leverage(rest, iid, leverage)
    return changes
