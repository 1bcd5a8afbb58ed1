"""Paper venue: simulated execution, funding and margin (see :mod:`venues.paper.venue`);
:class:`PaperPairVenue` adds native atomic pair orders (:mod:`venues.paper.pairs`).

Modules: ``venue`` (:class:`PaperVenue`, the ``Venue`` surface, delegating to the rest),
``config`` (:class:`PaperVenueConfig`), ``rules`` (Binance error codes, order form and filter
checks, taker price, the resting orders' fill rule), ``orders`` (the order pipeline, the
book of client order ids and the resting post-only orders),
``ledger`` (collateral, holdings and the margin arithmetic), ``funding`` (funding settlement),
``options`` (options listed as first traded and settled at intrinsic value at expiry),
``streams`` (:class:`PaperStream`) and ``pairs``.
"""

from venues.paper.pairs import PaperPairVenue
from venues.paper.venue import PaperStream, PaperVenue, PaperVenueConfig

__all__ = ["PaperPairVenue", "PaperStream", "PaperVenue", "PaperVenueConfig"]
