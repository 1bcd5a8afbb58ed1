"""dYdX v4 (dYdX Chain) Indexer: public market data only (instruments, funding, candles,
oracle-price marks). Reference ``/work/shared/venues/dydx-v4.md``; entry point
:func:`venues.dydx.client.create_venue`."""
