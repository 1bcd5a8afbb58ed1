"""Paper venue: simulated execution, funding and margin (see :mod:`venues.paper.venue`);
:class:`PaperPairVenue` adds native atomic pair orders (:mod:`venues.paper.pairs`)."""

from venues.paper.pairs import PaperPairVenue
from venues.paper.venue import PaperStream, PaperVenue, PaperVenueConfig

__all__ = ["PaperPairVenue", "PaperStream", "PaperVenue", "PaperVenueConfig"]
