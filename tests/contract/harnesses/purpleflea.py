"""Purple Flea in the contract suite (its stateful fake lives in ``tests/fakes/purpleflea.py``).

Balances, funding history, funding payments and bars are declared unsupported: the API
documented in the sources has no endpoint for them, and the suite checks the venue says so.
"""

from __future__ import annotations

import dataclasses

from tests.contract.harness import VenueHarness
from tests.fakes.purpleflea import make_harness as _make

NAME = "purpleflea"


async def make_harness() -> VenueHarness:
    harness: VenueHarness = await _make()
    return dataclasses.replace(harness, unsupported=harness.unsupported | {"bars"})
