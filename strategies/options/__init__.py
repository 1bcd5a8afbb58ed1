"""Option pricing math for an options book hedged with a perpetual (issue 13, Deribit options).

Pure functions and frozen results, no venue I/O and no state. One idea per module:

* :mod:`strategies.options.black_scholes` — Black-76 price, delta, gamma, vega and theta of
  European calls and puts on the forward, in USD, with Deribit's units (vega per vol point,
  theta per day on a 365-day year) and its time-to-expiry convention;
* :mod:`strategies.options.inverse` — coin-settled (inverse) options: the price in coin and the
  premium-adjusted ("Net Transaction") delta;
* :mod:`strategies.options.implied_vol` — implied volatility from a price (Brent's method);
* :mod:`strategies.options.portfolio_greeks` — a book's greeks, Σ qty × contract size × greek,
  plus the perpetual hedge;
* :mod:`strategies.options.delta_hedge` — the hedge decision: band, lot rounding, minimum trade;
* :mod:`strategies.options.pnl_attribution` — a step's P&L split into delta, gamma, theta, vega
  and the residual;
* :mod:`strategies.options.chain` — an option chain (what a strategy reads in
  ``MarketSnapshot.option_chains``) and the model chain a replay lists;
* :mod:`strategies.options.vol_input` — implied-volatility inputs of a model chain: flat,
  term structure, realized volatility (plus a spread);
* :mod:`strategies.options.held_delta` — a held option's delta from its chain (what the net
  delta and the beta hedger count it as).

The strategy (``strategies/options_hedger/``) and the Deribit venue client
(``venues/deribit/``) live elsewhere.
"""
