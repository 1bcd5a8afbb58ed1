"""Checks that span sections of the configuration, run by ``AgentConfig._cross_checks``.

Each takes the sections it reads and returns ``(key_path, reason)`` pairs (empty when the
configuration is fine): collateral shares, the venues each enabled strategy names, live-mode
requirements. What a venue can do and the credentials it needs come from the venue registry
(:data:`venues.registry.VENUES`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agent.config.sections import VENUE_NAMES, MarketDataConfig, OptionChainConfig, VenueConfig
from agent.config.sources import env_var_name, secret_file_name
from agent.config.strategy_sections import StrategiesConfig
from venues.registry import venue_spec


def collateral_errors(venues: Mapping[str, VenueConfig]) -> list[tuple[str, str]]:
    """The ``collateral_frac`` of the enabled venues must not sum to more than 1."""
    shares = {n: v.collateral_frac for n, v in sorted(venues.items()) if v.enabled}
    total = sum(shares.values())
    if total <= 1.0 + 1e-9:
        return []
    parts = " + ".join(f"{n} {f:g}" for n, f in shares.items())
    reason = f"collateral_frac of enabled venues sums to {total:g} > 1 ({parts})"
    return [("venues", reason)]


def strategy_venue_errors(
    strategies: StrategiesConfig, venues: Mapping[str, VenueConfig]
) -> list[tuple[str, str]]:
    """Every venue an enabled strategy names (a parameter ``venue``, or each of a parameter
    ``venues``) must be a known, enabled venue with collateral; disabled strategies are not
    checked."""
    errors: list[tuple[str, str]] = []
    for section in strategies.sections:
        if not section.enabled:
            continue
        name, params = section.name, section.params
        venue = getattr(params, "venue", None)
        if isinstance(venue, str):
            errors.extend(_venue_error(f"strategies.{name}.venue", venue, venues))
        listed = getattr(params, "venues", None)
        if isinstance(listed, list | tuple) and all(isinstance(v, str) for v in listed):
            errors.extend(_venue_list_errors(f"strategies.{name}.venues", listed, venues))
    return errors


def _venue_list_errors(
    path: str, listed: Sequence[str], venues: Mapping[str, VenueConfig]
) -> list[tuple[str, str]]:
    """A multi-venue strategy uses the listed venues that are enabled with collateral (a
    disabled one is skipped); unknown names are errors, and at least two must remain."""
    unknown = [v for v in listed if v not in venues]
    if unknown:
        return [(path, f"unknown venue(s) {', '.join(unknown)}; known: {', '.join(VENUE_NAMES)}")]
    usable = usable_venues(listed, venues)
    if len(usable) < 2:
        return [(path, f"needs at least 2 enabled venues with collateral, has {usable or 'none'}")]
    return []


def usable_venues(listed: Sequence[str], venues: Mapping[str, VenueConfig]) -> list[str]:
    """The listed venues that are enabled and hold collateral, in the listed order."""
    return [
        v for v in listed if v in venues and venues[v].enabled and venues[v].collateral_frac > 0
    ]


def _venue_error(path: str, venue: str, venues: Mapping[str, VenueConfig]) -> list[tuple[str, str]]:
    if venue not in venues:
        return [(path, f"unknown venue {venue!r}; known: {', '.join(VENUE_NAMES)}")]
    if not venues[venue].enabled:
        return [(path, f"venue {venue!r} is not enabled (venues.{venue}.enabled)")]
    if venues[venue].collateral_frac <= 0.0:
        return [(path, f"venue {venue!r} has no collateral (venues.{venue}.collateral_frac)")]
    return []


def option_chain_errors(
    option_chain: OptionChainConfig, venues: Mapping[str, VenueConfig]
) -> list[tuple[str, str]]:
    """``[option_chain] venue`` must be an enabled venue with collateral (the paper venue that
    lists and holds the options) when the chain is on."""
    if not option_chain.enabled:
        return []
    return _venue_error("option_chain.venue", option_chain.venue, venues)


def live_mode_errors(
    mode: str, market_data: MarketDataConfig, venues: Mapping[str, VenueConfig]
) -> list[tuple[str, str]]:
    """With ``mode = "live"``: live market data, and each enabled venue able to trade with
    every credential it needs (:attr:`venues.registry.VenueSpec.credential_fields`) set."""
    if mode != "live":
        return []
    errors: list[tuple[str, str]] = []
    if market_data.source != "live":
        errors.append(("market_data.source", 'must be "live" when mode = "live" (real orders)'))
    for name, venue in sorted(venues.items()):
        if not venue.enabled:
            continue
        spec = venue_spec(name)
        if not spec.can_trade:
            errors.append(
                (f"venues.{name}.enabled", f"{name} is market data only: it cannot trade live")
            )
            continue
        errors.extend(
            _missing_secret(f"venues.{name}.{field}")
            for field in spec.credential_fields
            if getattr(venue, field) is None
        )
    return errors


def _missing_secret(path: str) -> tuple[str, str]:
    return (
        path,
        f'required when mode = "live": set {env_var_name(path)} or put it in '
        f"the secrets directory as {secret_file_name(path)}",
    )
