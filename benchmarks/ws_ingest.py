"""Binance markPrice websocket ingest on one core: raw frames → (MarkPrice, FundingRate).

Usage (from the repository root)::

    .venv/bin/python benchmarks/ws_ingest.py                 # 200k frames, best of 5
    .venv/bin/python benchmarks/ws_ingest.py --frames 1000000 --repeat 3

Frames: ``<symbol>@markPrice@1s`` events in the combined-stream envelope, as the live client
receives them (``tests/fixtures/binance-usdm/ws_mark_price_combined.json`` layout), for
``--symbols`` symbols with prices, rates and times varying per frame (seed ``--seed``), as
``bytes``. Every path is given a funding-interval mapping as the live client passes one (a plain
``dict``: the recorded ``GET /fapi/v1/fundingInfo`` answer of the test fixtures, which lists only
symbols with an adjusted interval, plus every tenth synthetic symbol at 4 h), so most lookups
miss and take the 8 h default, as on Binance. Paths timed, each over the same frames:

- ``reference``: ``json.loads`` + :func:`venues.binance.parse.parse_ws_mark_price` (every
  number validated as a ``Decimal``, then converted to float) — the path before msgspec;
- ``json.loads alone``: the JSON decoding only, no value types;
- ``typed (msgspec)``: :func:`venues.binance.decode.decode_mark_frame` +
  :func:`~venues.binance.decode.mark_updates_of` — the path the live client uses
  (``venues.binance.streams.mark_updates``): one reused ``msgspec.json.Decoder`` into the
  envelope and event structs, a second one of the three number strings as the JSON array
  ``[p,i,r]``, the symbol's interned ``InstrumentId`` (``decode.PERP_IDS``), the two value
  types;
- ``msgspec struct only``: the typed decoding into the wire structs alone (no float
  conversion, no value types): the floor of the typed path;
- ``numbers only``: the decoding of each frame's ``[p,i,r]`` text (built from the strings
  as the typed path does) alone: another floor of the typed path;
- ``value types only``: building each message's ``MarkPrice`` and ``FundingRate`` (frozen
  ``msgspec.Struct`` s, ``venues.model``) from ready fields, no decoding: the other floor
  of the typed path.

Times are CPU time of this process (``time.process_time``), best of ``--repeat`` runs, so
other load on the machine inflates them less than wall time; the load average is printed.
Every frame is first checked to take the typed path and to give results equal to the
reference path's.
The goal (zerobeta issue 14, goal 5) is 1,000,000 messages/s on one core.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402

from venues.binance import decode  # noqa: E402
from venues.binance.decode import decode_mark_frame, mark_updates_of  # noqa: E402
from venues.binance.parse import parse_funding_info, parse_ws_mark_price  # noqa: E402
from venues.model import FundingRate, MarkPrice  # noqa: E402

GOAL_MSGS_S = 1_000_000
FUNDING_INFO = ROOT / "tests" / "fixtures" / "binance-usdm" / "funding_info.json"
INTERVALS_S: dict[str, int] = {}
"""The funding-interval mapping every path is given (:func:`funding_intervals_s`)."""


def funding_intervals_s(n_symbols: int) -> dict[str, int]:
    """Symbol → funding interval, s, as the live client builds it (``parse_funding_info`` of
    the recorded ``fundingInfo`` answer), plus every tenth synthetic symbol at 4 h."""
    intervals = parse_funding_info(json.loads(FUNDING_INFO.read_text()))
    intervals.update({f"SYM{k}USDT": 4 * 3_600 for k in range(0, n_symbols, 10)})
    return intervals


def make_frames(n_frames: int, n_symbols: int, seed: int) -> list[bytes]:
    """``n_frames`` combined-stream markPriceUpdate frames over ``n_symbols`` symbols."""
    rng = random.Random(seed)
    symbols = [f"SYM{k}USDT" for k in range(n_symbols)]
    base = {s: rng.uniform(0.01, 60_000.0) for s in symbols}
    frames = []
    ts_ms = 1_700_000_000_000
    for k in range(n_frames):
        symbol = symbols[k % n_symbols]
        mark = base[symbol] * (1.0 + rng.gauss(0.0, 1e-3))
        event = {
            "e": "markPriceUpdate",
            "E": ts_ms + k,
            "s": symbol,
            "p": f"{mark:.8f}",
            "i": f"{mark * (1.0 + rng.gauss(0.0, 1e-4)):.8f}",
            "P": f"{mark * (1.0 + rng.gauss(0.0, 1e-4)):.8f}",
            "r": f"{rng.gauss(1e-4, 1e-4):.8f}",
            "T": 1_700_006_400_000,
        }
        frame = {"stream": f"{symbol.lower()}@markPrice@1s", "data": event}
        frames.append(json.dumps(frame, separators=(",", ":")).encode())
    return frames


def best_rate(run: Callable[[list[Any]], object], frames: list[Any], repeat: int) -> float:
    """Messages per CPU second, best of ``repeat`` runs over ``frames`` (or their events)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run(frames)
        best = min(best, time.process_time() - start)
    return len(frames) / best


def reference(frames: list[bytes]) -> None:
    """json.loads + the Decimal-validating parser."""
    loads, parse, intervals = json.loads, parse_ws_mark_price, INTERVALS_S
    for raw in frames:
        parse(loads(raw), intervals)


def json_only(frames: list[bytes]) -> None:
    """json.loads alone."""
    loads = json.loads
    for raw in frames:
        loads(raw)


def typed(frames: list[bytes]) -> None:
    """The typed path of the live client."""
    dec, updates_of, intervals = decode_mark_frame, mark_updates_of, INTERVALS_S
    for raw in frames:
        updates_of(dec(raw, intervals), intervals)


def struct_only(frames: list[bytes]) -> None:
    """msgspec into the wire struct, nothing else."""
    dec = msgspec.json.Decoder(decode._Envelope).decode
    for raw in frames:
        dec(raw)


def numbers_only(events: list[Any]) -> None:
    """The three number strings of each decoded event as one JSON array, nothing else."""
    dec = decode._DECODE_NUMBERS
    for event in events:
        dec(f"[{event.p},{event.i},{event.r}]")


def value_types_only(frames: list[bytes]) -> None:
    """The two value types (frozen structs) of each message built from ready fields, nothing
    else."""
    iid = decode_mark_frame(frames[0])[0][0].instrument_id  # type: ignore[index]
    for k in range(len(frames)):
        MarkPrice(iid, 1.0, k, 1.0)
        FundingRate(iid, 1e-4, 28_800, k, k + 28_800_000)


def profile_typed(frames: list[bytes]) -> str:
    """Top of a cProfile of the typed path (where its time goes)."""
    profiler = cProfile.Profile()
    profiler.runcall(typed, frames)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(8)
    return out.getvalue()


def main() -> None:
    """Build frames, check equality, time every path, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--symbols", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="print a profile of the typed path")
    args = parser.parse_args()

    frames = make_frames(args.frames, args.symbols, args.seed)
    INTERVALS_S.update(funding_intervals_s(args.symbols))
    for raw in frames:  # every frame takes the typed path (a tuple) and equals the reference
        decoded = decode_mark_frame(raw, INTERVALS_S)
        assert type(decoded) is tuple
        reference_updates = parse_ws_mark_price(json.loads(raw), INTERVALS_S)
        assert list(mark_updates_of(decoded, INTERVALS_S)) == reference_updates

    print(
        f"frames            : {len(frames)} combined-stream markPriceUpdate, "
        f"{args.symbols} symbols, {sum(map(len, frames)) / len(frames):.0f} bytes mean"
    )
    print(f"funding intervals : {len(INTERVALS_S)} symbols mapped (the live client's dict)")
    print(f"cpu count         : {os.cpu_count()}; load average {os.getloadavg()[0]:.2f}")
    print(f"timing            : CPU time, best of {args.repeat}")
    rates = {
        "reference (json + Decimal)": best_rate(reference, frames, args.repeat),
        "json.loads alone": best_rate(json_only, frames, args.repeat),
        "typed (msgspec)": best_rate(typed, frames, args.repeat),
        "msgspec struct only": best_rate(struct_only, frames, args.repeat),
        "numbers only": best_rate(
            numbers_only, [decode._DECODE(raw).data for raw in frames], args.repeat
        ),
        "value types only": best_rate(value_types_only, frames, args.repeat),
    }
    for name, rate in rates.items():
        print(f"{name:<27}: {rate / 1e3:8.0f}k msgs/s  {1e9 / rate:6.0f} ns/msg")
    new = rates["typed (msgspec)"]
    print(f"typed vs reference: {new / rates['reference (json + Decimal)']:.1f}x")
    print(
        f"goal              : {GOAL_MSGS_S / 1e3:.0f}k msgs/s -> "
        f"{'reached' if new >= GOAL_MSGS_S else f'not reached ({new / GOAL_MSGS_S:.2f} of it)'}"
    )
    floor = 1.0 / sum(
        1.0 / rates[name] for name in ("msgspec struct only", "numbers only", "value types only")
    )
    print(
        f"typed-path floor  : {floor / 1e3:.0f}k msgs/s (struct decoding + numbers + value "
        "types, no Python glue)"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.profile:
        print(profile_typed(frames))


if __name__ == "__main__":
    main()
