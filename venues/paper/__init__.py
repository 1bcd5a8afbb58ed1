"""Paper venue: simulated execution, funding and margin (see :mod:`venues.paper.venue`)."""

from venues.paper.venue import PaperStream, PaperVenue, PaperVenueConfig

__all__ = ["PaperStream", "PaperVenue", "PaperVenueConfig"]
