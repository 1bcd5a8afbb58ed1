"""Deribit perpetual funding as the common model's funding payments.

Deribit's perpetual funding is **continuous**: it accrues every instant on the open position
(``current_funding``/``funding_8h`` on the ticker are that rate now, extrapolated) and is booked
to the balance at the **daily settlement** (08:00 UTC) as ``interest_pl`` of a ``settlement``
row of the transaction log (``private/get_transaction_log``,
https://docs.deribit.com/#private-get_transaction_log; "Perpetual" in
https://docs.deribit.com/ and the funding article of Deribit's knowledge base). There is no
announced per-interval rate behind a settlement, so the common
:class:`~venues.model.FundingPayment` is filled honestly:

* ``amount_usd`` = ``interest_pl`` (positive received) in the row's currency, × the row's
  ``price`` (the settlement price, USD) for a coin-settled (inverse) perpetual; USDC counts 1:1;
* ``position_qty`` = the signed position at settlement in coins: ``position`` (USD for an
  inverse perpetual) / ``price``, or ``position`` itself for a linear one; ``mark_price`` =
  ``price``;
* ``interval_s`` = :data:`SETTLEMENT_INTERVAL_S` (one day, the settlement period) and ``rate``
  = the **realised average rate over it**, derived from the payment so that the model's
  identity ``amount_usd == −rate × position_qty × mark_price`` holds. It was not announced
  by the venue; a position opened during the day has accrued for less than the interval.

Fixture ``get_transaction_log.json`` (documented example: one ``settlement`` row of a
1,520 USD long ``BTC-PERPETUAL``, ``interest_pl`` 9.93e-06 BTC at 51,807.07).
"""

from __future__ import annotations

from collections.abc import Callable

from venues.deribit import constants as c
from venues.deribit.fields import (
    Row,
    array_field,
    as_object,
    dec_field,
    int_field,
    opt_dec_field,
    str_field,
    text_field,
)
from venues.model import FundingPayment, InstrumentId

SETTLEMENT_INTERVAL_S = 86_400
"""Deribit settles accrued perpetual funding once a day (08:00 UTC)."""

_WHERE = "get_transaction_log"


def log_page(result: object) -> tuple[list[Row], int | None]:
    """``(logs, continuation)`` of a ``private/get_transaction_log`` result; ``continuation``
    None when there is no further page."""
    row = as_object(result, _WHERE)
    logs = [
        as_object(r, f"{_WHERE}.logs[{i}]") for i, r in enumerate(array_field(row, "logs", _WHERE))
    ]
    nxt = row.get("continuation")
    return logs, nxt if isinstance(nxt, int) and not isinstance(nxt, bool) else None


def funding_payment(
    row: Row,
    resolve: Callable[[str], InstrumentId | None],
    is_inverse: Callable[[str], bool],
    where: str,
) -> FundingPayment | None:
    """One transaction-log row as a :class:`FundingPayment` (module docstring), or None when
    it is not a ``settlement`` of a perpetual ``resolve`` knows or books no funding.

    Raises
    ------
    ProtocolError
        A settlement row of a known perpetual with a missing or mistyped field.
    """
    if row.get("type") != "settlement" or not isinstance(row.get("instrument_name"), str):
        return None
    name = text_field(row, "instrument_name", where)
    iid = resolve(name)
    interest = opt_dec_field(row, "interest_pl", where)
    if iid is None or interest is None or interest == 0:
        return None
    price = dec_field(row, "price", where)
    position = dec_field(row, "position", where)
    if str_field(row, "side", where) == "short":
        position = -abs(position)
    inverse = is_inverse(name)
    qty = position / price if inverse else position
    amount_usd = interest * price if inverse or row.get("currency") not in c.USD_LIKE else interest
    rate = float(-amount_usd / (qty * price)) if qty else 0.0
    return FundingPayment(
        instrument_id=iid,
        ts_funding_ms=int_field(row, "timestamp", where),
        rate=rate,
        interval_s=SETTLEMENT_INTERVAL_S,
        position_qty=qty,
        mark_price=price,
        amount_usd=amount_usd,
    )
