"""Funding helpers of the USDⓈ-M client: ``fundingRate`` page rows and the pairing of
``FUNDING_FEE`` income rows with settled rates (Binance USDⓈ-M "Get Funding Rate History"
https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Get-Funding-Rate-History,
"Get Income History"
https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Get-Income-History)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from venues.binance import constants as c
from venues.errors import ProtocolError
from venues.model import FundingRate

FUNDING_MATCH_TOLERANCE_MS = 60_000
"""An income row is paired with the settled rate whose ``fundingTime`` is within this, ms."""


def nearest_rate(rates: Sequence[FundingRate], ts_ms: int, where: str) -> FundingRate:
    """The settled rate closest to ``ts_ms`` (epoch ms). Raises ``ProtocolError`` naming
    ``where`` if none is within ``FUNDING_MATCH_TOLERANCE_MS``."""
    best = min(rates, key=lambda r: abs(r.ts_funding_ms - ts_ms), default=None)
    if best is None or abs(best.ts_funding_ms - ts_ms) > FUNDING_MATCH_TOLERANCE_MS:
        raise ProtocolError(f"{where}: no settled funding rate at {ts_ms} ms", venue=c.VENUE)
    return best


def income_time_ms(row: Mapping[str, Any]) -> int:
    """``time`` of a ``/fapi/v1/income`` row, epoch ms. Raises ``ProtocolError``."""
    value = row.get("time")
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolError(
            f"income: field 'time' must be integer ms, got {value!r}", venue=c.VENUE
        )
    return value


def funding_rate_rows(payload: object) -> list[Mapping[str, Any]]:
    """Rows of one ``GET /fapi/v1/fundingRate`` page, each checked to carry an integer
    ``fundingTime`` (ms) for paging. Raises ``ProtocolError``."""
    if not isinstance(payload, list):
        raise ProtocolError("fundingRate: expected an array", venue=c.VENUE)
    rows = []
    for row in payload:
        ts = row.get("fundingTime") if isinstance(row, Mapping) else None
        if not isinstance(ts, int) or isinstance(ts, bool):
            raise ProtocolError("fundingRate[]: field 'fundingTime' not integer ms", venue=c.VENUE)
        rows.append(row)
    return rows
