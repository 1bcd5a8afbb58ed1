"""Typed decoding of ``markPriceUpdate`` websocket frames straight from the wire (msgspec).

The mark stream is the hottest input of a live run (one frame per symbol per second, 1024
symbols per connection). :func:`decode_mark_frame` turns a raw frame into the same
``(MarkPrice, FundingRate)`` pairs as ``json.loads`` followed by
:func:`venues.binance.parse.parse_ws_mark_price`, without building a ``dict`` per event or a
``Decimal`` per number: reused ``msgspec.json.Decoder`` s decode the bytes into typed
structs in C (first as the one-event combined-stream envelope the live client receives, a
decoder of that single type; a frame it refuses then as an array, in an envelope or bare,
then as a bare event; JSON integers for the times, strings for the numbers, the event type
checked as the literal ``markPriceUpdate``), each number string becomes the float
``float()`` gives, which rounds exactly as ``float(Decimal(text))`` does, and each symbol's
:class:`~venues.model.InstrumentId` is built once (:data:`PERP_IDS`). About 0.95 µs of one
core per single-event frame, value types included (``benchmarks/ws_ingest.py``).

A single-event frame (the live client's ``<symbol>@markPrice@1s``) reads its three number
strings in one more strict msgspec decoding, of the text ``[p,i,r]`` as three JSON floats,
in about a third of the time of three ``float()`` calls. Where that decoding succeeds each
value is ``float()`` of its string: JSON's number grammar is a subset of ``float()``'s (no
``+``, ``_``, ``.5``, ``inf``, leading zeros ...; both strip surrounding JSON whitespace),
msgspec rounds correctly (Eisel-Lemire, then an exact fallback), and a ``,``, ``[`` or
``]`` in a string changes the array's length or breaks it, which the decoding refuses, so
each element is exactly one string. ``float()`` itself is taken for a string the decoding
refuses (not JSON's grammar, or out of a float's range) and when a value is zero (an integer
``-0`` decodes as ``+0.0``; ``float("-0")`` is ``-0.0``). Array frames use ``float()``.

Only frames whose every event is certainly valid take that path. Anything else (another
frame shape, a missing or mistyped field, another event type, a number that is not finite,
a symbol the reference parser would refuse, text that is not JSON) is decoded again by
``json.loads`` and :func:`~venues.binance.parse.parse_ws_mark_price`, so malformed frames
raise the same :class:`~venues.errors.ProtocolError` naming the field (and
``json.JSONDecodeError`` for non-JSON) with the same message as before.

Source: Binance USDⓈ-M "Mark Price Stream"
https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Mark-Price-Stream
(frame layout; numbers are JSON strings, times JSON integers) and "Websocket Market
Streams" (the combined-stream envelope)
https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams;
msgspec https://jcristharif.com/msgspec/ (typed decoding, structs).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec
from msgspec import UNSET

from venues.binance.constants import DEFAULT_FUNDING_INTERVAL_S, VENUE
from venues.binance.parse import parse_ws_mark_price
from venues.model import FundingRate, InstrumentId, InstrumentKind, MarkPrice

__all__ = [
    "PERP_IDS",
    "MarkFrame",
    "MarkUpdates",
    "PerpIds",
    "decode_mark_frame",
    "mark_updates_of",
]

MarkUpdates = Sequence[tuple[MarkPrice, FundingRate]]
MarkFrame = tuple[tuple[MarkPrice, FundingRate], ...]
"""The updates of a frame :func:`decode_mark_frame` decoded: a ``tuple``, which JSON never
decodes to, so it is told from a frame left as JSON by its type alone."""

_MS_PER_S = 1000
_NO_INTERVALS: Mapping[str, int] = {}


class _MarkEvent(msgspec.Struct, gc=False):
    """One ``markPriceUpdate`` event; unknown fields (``P`` ...) are ignored."""

    e: Literal["markPriceUpdate"]
    E: int
    s: str
    p: str
    i: str
    r: str
    T: int


class _Envelope(msgspec.Struct, gc=False):
    """A combined-stream envelope around one event (``<symbol>@markPrice@1s``, the live
    client's frame): ``stream`` and ``data`` both present (the reference parser unwraps
    exactly those; a ``null`` in either fails the decoding)."""

    stream: str
    data: _MarkEvent


class _ArrayEnvelope(msgspec.Struct, gc=False):
    """A combined-stream envelope around an array of events (``!markPrice@arr``), as
    :class:`_Envelope`."""

    stream: str
    data: list[_MarkEvent]


class _BareEvent(_MarkEvent, gc=False):
    """A single event without the envelope (a raw ``/ws/<symbol>@markPrice`` stream);
    ``stream`` and ``data`` are read only to tell it from an envelope the typed decoding
    refused (``UNSET`` when absent)."""

    stream: Any = UNSET
    data: Any = UNSET


_DECODE = msgspec.json.Decoder(_Envelope).decode
_DECODE_ARRAY = msgspec.json.Decoder(_ArrayEnvelope | list[_MarkEvent]).decode
_DECODE_BARE = msgspec.json.Decoder(_BareEvent).decode
_DECODE_NUMBERS = msgspec.json.Decoder(tuple[float, float, float]).decode


class _Unsure(Exception):
    """The typed path cannot vouch for this frame: decode it the reference way."""


class PerpIds:
    """Binance perp symbol → its :class:`~venues.model.InstrumentId`, built on first lookup
    and then shared by every update of that symbol.

    A delivery symbol (``_YYMMDD`` suffix) maps to ``None`` (the mark parsers skip those
    contracts). At most ``max_symbols`` entries: full, it starts over (Binance USD-M lists
    some hundreds of symbols, so only a stream of made-up symbols could fill it).

    Attributes
    ----------
    by_symbol : dict[str, InstrumentId | None]
        The ids built so far, a plain ``dict``: the hot path looks a symbol up there (a
        plain dict's lookup is the fastest) and calls :meth:`id_of` only on a miss.
    max_symbols : int
        The most entries ``by_symbol`` keeps.
    """

    __slots__ = ("by_symbol", "max_symbols")

    def __init__(self, max_symbols: int = 8192) -> None:
        self.by_symbol: dict[str, InstrumentId | None] = {}
        self.max_symbols = max_symbols

    def id_of(self, symbol: str) -> InstrumentId | None:
        """The id of ``symbol`` (``None`` for a delivery symbol), built and kept on first
        lookup.

        Raises
        ------
        ValueError
            If no id can have ``symbol`` (empty, or with a ``:``); nothing is stored.
        """
        by_symbol = self.by_symbol
        try:
            return by_symbol[symbol]
        except KeyError:
            pass
        iid = None if "_" in symbol else InstrumentId(VENUE, InstrumentKind.PERP, symbol)
        if len(by_symbol) >= self.max_symbols:
            by_symbol.clear()
        by_symbol[symbol] = iid
        return iid


PERP_IDS = PerpIds()
"""The ids of the symbols :func:`decode_mark_frame` has seen (one per symbol, shared)."""


def decode_mark_frame(
    raw: str | bytes, funding_intervals_s: Mapping[str, int] | None = None
) -> MarkFrame | object:
    """A raw websocket frame → :data:`MarkFrame` for a mark frame, else the decoded JSON.

    A well-formed ``<symbol>@markPrice[@1s]`` event or ``!markPrice@arr`` array inside a
    combined-stream envelope, or bare, gives a :data:`MarkFrame` (a tuple) equal to
    ``parse_ws_mark_price(json.loads(raw), funding_intervals_s)``. Any other frame
    (subscription answers, malformed or unusual frames) comes back as
    ``json.loads(raw)`` for the caller's usual handling (:func:`mark_updates_of` raises the
    reference parser's error for a malformed mark frame).

    Parameters
    ----------
    raw : str | bytes
        The frame as received.
    funding_intervals_s : Mapping[str, int] | None
        Symbol → funding interval, s (absent: 8 h).

    Returns
    -------
    MarkFrame | object
        The updates, or the JSON value of a frame the typed path did not take.

    Raises
    ------
    json.JSONDecodeError
        If ``raw`` is not JSON (as ``json.loads``).
    """
    try:
        event = _DECODE(raw).data  # one event in an envelope: the common frame, unrolled
    except msgspec.DecodeError:
        return _other_frame(raw, funding_intervals_s)
    try:
        symbol = event.s
        try:
            iid = PERP_IDS.by_symbol[symbol]
        except KeyError:
            iid = PERP_IDS.id_of(symbol)
        if iid is None:
            return ()
        try:  # the three number strings as one JSON array (module docstring)
            mark_price, index_price, rate = _DECODE_NUMBERS(f"[{event.p},{event.i},{event.r}]")
        except ValueError:  # not three JSON numbers: float() decides
            mark_price, index_price, rate = _floats(event)
        else:
            if not (mark_price and index_price and rate):  # "-0" decodes as +0.0
                mark_price, index_price, rate = _floats(event)
        interval_s = (
            DEFAULT_FUNDING_INTERVAL_S
            if funding_intervals_s is None
            else funding_intervals_s.get(symbol, DEFAULT_FUNDING_INTERVAL_S)
        )
        ts_funding_ms = event.T
        return (
            (
                MarkPrice(iid, mark_price, event.E, index_price),
                FundingRate(
                    iid, rate, interval_s, ts_funding_ms, ts_funding_ms + interval_s * _MS_PER_S
                ),
            ),
        )
    except (_Unsure, ValueError):  # ValueError: float(""), a symbol with ":" and the like
        decoded: object = json.loads(raw)
        return decoded


def mark_updates_of(
    frame: MarkFrame | object, funding_intervals_s: Mapping[str, int] | None = None
) -> MarkUpdates:
    """The updates of a :func:`decode_mark_frame` result: the :data:`MarkFrame` itself, or
    :func:`~venues.binance.parse.parse_ws_mark_price` of a frame it left as JSON.

    Raises
    ------
    ProtocolError
        If the frame is not a well-formed ``markPriceUpdate`` frame (the reference message,
        naming the field).
    """
    if type(frame) is tuple:
        return frame
    return parse_ws_mark_price(frame, funding_intervals_s)


def _other_frame(raw: str | bytes, funding_intervals_s: Mapping[str, int] | None) -> object:
    """:func:`decode_mark_frame` of a frame that is not one event in an envelope: an array
    of events (in an envelope or bare), a bare event, or other JSON."""
    intervals = _NO_INTERVALS if funding_intervals_s is None else funding_intervals_s
    try:
        frame = _DECODE_ARRAY(raw)
        events = frame.data if isinstance(frame, _ArrayEnvelope) else frame
        return _events_updates(events, intervals)
    except msgspec.DecodeError:
        try:
            return _events_updates((_bare_event(raw),), intervals)
        except (msgspec.DecodeError, _Unsure, ValueError):
            pass
    except (_Unsure, ValueError):
        pass
    decoded: object = json.loads(raw)
    return decoded


def _events_updates(events: Sequence[_MarkEvent], intervals: Mapping[str, int]) -> MarkFrame:
    """The updates of typed events (``!markPrice@arr``, a bare event); :class:`_Unsure`
    unless certainly valid."""
    id_of = PERP_IDS.id_of
    out = []
    for event in events:
        symbol = event.s
        iid = id_of(symbol)
        if iid is None:
            continue
        mark_price, index_price, rate = _floats(event)
        interval_s = intervals.get(symbol, DEFAULT_FUNDING_INTERVAL_S)
        ts_funding_ms = event.T
        out.append(
            (
                MarkPrice(iid, mark_price, event.E, index_price),
                FundingRate(
                    iid, rate, interval_s, ts_funding_ms, ts_funding_ms + interval_s * _MS_PER_S
                ),
            )
        )
    return tuple(out)


def _bare_event(raw: str | bytes) -> _BareEvent:
    """The typed event of a frame without an envelope; :class:`_Unsure` if it has both
    ``stream`` and ``data`` (an envelope to the reference parser, which unwraps it)."""
    event = _DECODE_BARE(raw)
    if event.stream is not UNSET and event.data is not UNSET:
        raise _Unsure
    return event


def _floats(event: _MarkEvent) -> tuple[float, float, float]:
    """``float()`` of the event's mark price, index price and rate (``p``, ``i``, ``r``);
    :class:`_Unsure` unless all three are finite, ``ValueError`` if one is not a number."""
    mark_price, index_price, rate = numbers = float(event.p), float(event.i), float(event.r)
    if mark_price * 0.0 + index_price * 0.0 + rate * 0.0 != 0.0:  # inf or nan among them
        raise _Unsure  # the reference parser's "not a finite decimal" / "overflows"
    return numbers
