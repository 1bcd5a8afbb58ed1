"""Purple Flea in the contract suite (its stateful fake lives in ``tests/fakes/purpleflea.py``).

Balances, funding history and funding payments are declared unsupported: the API documented in
the sources has no endpoint for them, and the suite checks the venue says so.
"""

from __future__ import annotations

from tests.contract.harness import VenueHarness
from tests.fakes.purpleflea import make_harness as _make

NAME = "purpleflea"


async def make_harness() -> VenueHarness:
    harness: VenueHarness = await _make()
    return harness
