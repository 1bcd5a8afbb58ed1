"""dYdX v4 (dYdX Chain) Indexer: public market data only (instruments, funding, candles,
oracle-price marks). Reference: the Indexer API documentation
https://github.com/dydxprotocol/v4-chain/blob/main/indexer/services/comlink/public/api-documentation.md
and websocket documentation
https://github.com/dydxprotocol/v4-chain/blob/main/indexer/services/comlink/public/websocket-documentation.md;
the dYdX docs https://docs.dydx.exchange; entry point :func:`venues.dydx.client.create_venue`."""
