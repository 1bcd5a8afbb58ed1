"""A paper venue's current prices: fed as floats, read as exact ``Decimal``.

The driver sets every instrument's price at every bar (the per-bar path), while fills, margin,
valuations and funding read only a few of them, now and then. :class:`PriceBook` keeps what it
is fed (floats, quote units) and makes a price's ``Decimal`` when it is read — the very value
``Decimal(repr(price))`` the venue always booked with (``60000.1`` is exactly 60000.1) — keeping
it while the price stands: a price set again to an equal float reads the same ``Decimal``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal

from venues.model import InstrumentId

__all__ = ["PriceBook"]


class PriceBook(Mapping[InstrumentId, Decimal]):
    """Current prices by instrument, quote units: set as ``float``, read as ``Decimal``.

    ``book[iid]`` is ``Decimal(repr(price))`` of the last price set (``KeyError`` before the
    first), made at the first read after the price changed. The setters take prices the caller
    has checked (finite, > 0: a positive float equal to another has the same ``repr``, so an
    unchanged price keeps its ``Decimal``).
    """

    __slots__ = ("_exact", "_floats")

    def __init__(self) -> None:
        self._floats: dict[InstrumentId, float] = {}
        # per instrument, the float last read and its Decimal (valid while the price equals it)
        self._exact: dict[InstrumentId, tuple[float, Decimal]] = {}

    def set(self, instrument_id: InstrumentId, price: float) -> None:
        """Set one price (a float, finite and > 0, quote units)."""
        self._floats[instrument_id] = price

    def set_many(self, prices: Iterable[tuple[InstrumentId, float]]) -> None:
        """Set each (instrument, price) of ``prices``, in order (floats, finite and > 0)."""
        self._floats.update(prices)

    def __getitem__(self, instrument_id: InstrumentId) -> Decimal:
        price = self._floats[instrument_id]
        kept = self._exact.get(instrument_id)
        if kept is not None and kept[0] == price:
            return kept[1]
        exact = Decimal(repr(price))
        self._exact[instrument_id] = (price, exact)
        return exact

    def get(self, instrument_id: InstrumentId, default: Decimal | None = None) -> Decimal | None:  # type: ignore[override]
        """``book[instrument_id]``, or ``default`` before its first price."""
        if instrument_id not in self._floats:
            return default
        return self[instrument_id]

    def __contains__(self, instrument_id: object) -> bool:
        return instrument_id in self._floats

    def __iter__(self) -> Iterator[InstrumentId]:
        return iter(self._floats)

    def __len__(self) -> int:
        return len(self._floats)
