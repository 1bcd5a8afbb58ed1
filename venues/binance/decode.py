"""Typed decoding of ``markPriceUpdate`` websocket frames straight from the wire (msgspec).

The mark stream is the hottest input of a live run (one frame per symbol per second, 1024
symbols per connection). :func:`decode_mark_frame` turns a raw frame into the same
``(MarkPrice, FundingRate)`` pairs as ``json.loads`` followed by
:func:`venues.binance.parse.parse_ws_mark_price`, without building a ``dict`` per event or a
``Decimal`` per number: msgspec decodes the bytes into a typed struct (JSON integers for the
times, strings for the numbers), and each number string becomes a float with ``float()``,
which rounds exactly as ``float(Decimal(text))`` does.

Only frames whose every event is certainly valid take that path. Anything else (another
frame shape, a missing or mistyped field, a number that is not finite, a symbol the
reference parser would refuse, text that is not JSON) is decoded again by ``json.loads`` and
:func:`~venues.binance.parse.parse_ws_mark_price`, so malformed frames raise the same
:class:`~venues.errors.ProtocolError` (and ``json.JSONDecodeError`` for non-JSON) with the
same message as before.

Source: Binance USDⓈ-M "Mark Price Stream"
https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Mark-Price-Stream
(frame layout; numbers are JSON strings, times JSON integers); msgspec
https://jcristharif.com/msgspec/ (typed decoding).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from math import isfinite

import msgspec
from msgspec import UNSET, UnsetType

from venues.binance.constants import DEFAULT_FUNDING_INTERVAL_S, VENUE
from venues.binance.parse import parse_ws_mark_price
from venues.model import FundingRate, InstrumentId, InstrumentKind, MarkPrice

__all__ = ["MarkFrame", "MarkUpdates", "decode_mark_frame", "mark_updates_of"]

MarkUpdates = list[tuple[MarkPrice, FundingRate]]
_MS_PER_S = 1000
_NO_INTERVALS: Mapping[str, int] = {}


class _MarkEvent(msgspec.Struct, gc=False):
    """One ``markPriceUpdate`` event; unknown fields (``P`` ...) are ignored."""

    e: str
    E: int
    s: str
    p: str
    i: str
    r: str
    T: int


class _Frame(msgspec.Struct, gc=False):
    """A combined-stream envelope (``stream`` and ``data``) or a bare event (the rest).

    Absent fields are ``UNSET``; a JSON ``null`` fails the decoding (the reference parser
    tells absent from null, so such frames go its way)."""

    stream: str | UnsetType = UNSET
    data: _MarkEvent | list[_MarkEvent] | UnsetType = UNSET
    e: str | UnsetType = UNSET
    E: int | UnsetType = UNSET
    s: str | UnsetType = UNSET
    p: str | UnsetType = UNSET
    i: str | UnsetType = UNSET
    r: str | UnsetType = UNSET
    T: int | UnsetType = UNSET


_DECODER = msgspec.json.Decoder(_Frame | list[_MarkEvent])


class MarkFrame(list[tuple[MarkPrice, FundingRate]]):
    """The ``(MarkPrice, FundingRate)`` updates of a frame :func:`decode_mark_frame` decoded
    (a ``list``: a type of its own only to tell it from a frame left as JSON)."""

    __slots__ = ()


class _Unsure(Exception):
    """The typed path cannot vouch for this frame: decode it the reference way."""


def decode_mark_frame(
    raw: str | bytes, funding_intervals_s: Mapping[str, int] | None = None
) -> MarkFrame | object:
    """A raw websocket frame → :class:`MarkFrame` for a mark frame, else the decoded JSON.

    A well-formed ``<symbol>@markPrice[@1s]`` event, ``!markPrice@arr`` array, or either
    inside a combined-stream envelope gives a :class:`MarkFrame` (a list) equal to
    ``parse_ws_mark_price(json.loads(raw), funding_intervals_s)``. Any other frame
    (subscription answers, malformed or unusual frames) comes back as ``json.loads(raw)``
    for the caller's usual handling (:func:`mark_updates_of` raises the reference
    parser's error for a malformed mark frame).

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
        return _typed_updates(_DECODER.decode(raw), funding_intervals_s)
    except (msgspec.DecodeError, _Unsure, ValueError):  # ValueError: float("") and the like
        frame: object = json.loads(raw)
        return frame


def mark_updates_of(
    frame: MarkFrame | object, funding_intervals_s: Mapping[str, int] | None = None
) -> MarkUpdates:
    """The updates of a :func:`decode_mark_frame` result: the :class:`MarkFrame` itself, or
    :func:`~venues.binance.parse.parse_ws_mark_price` of a frame it left as JSON.

    Raises
    ------
    ProtocolError
        If the frame is not a well-formed ``markPriceUpdate`` frame (the reference message).
    """
    if isinstance(frame, MarkFrame):
        return frame
    return parse_ws_mark_price(frame, funding_intervals_s)


def _typed_updates(
    frame: _Frame | list[_MarkEvent], intervals_s: Mapping[str, int] | None
) -> MarkFrame:
    """The updates of a typed frame; :class:`_Unsure` if it is not certainly valid."""
    events: Sequence[_MarkEvent]
    if isinstance(frame, list):
        events = frame
    elif not isinstance(frame.stream, UnsetType) and not isinstance(frame.data, UnsetType):
        events = frame.data if isinstance(frame.data, list) else (frame.data,)
    elif isinstance(frame.stream, UnsetType) and isinstance(frame.data, UnsetType):
        events = (_bare_event(frame),)
    else:
        raise _Unsure
    intervals = _NO_INTERVALS if intervals_s is None else intervals_s
    out = MarkFrame()
    for event in events:
        symbol = event.s
        if "_" in symbol:  # delivery contract (_YYMMDD), skipped as by the reference parser
            continue
        if event.e != "markPriceUpdate" or not symbol or ":" in symbol:
            raise _Unsure
        mark_price, index_price, rate = float(event.p), float(event.i), float(event.r)
        if not (isfinite(mark_price) and isfinite(index_price) and isfinite(rate)):
            raise _Unsure  # the reference parser's "not a finite decimal" / "overflows"
        iid = _IDS.get(symbol) or _perp_id(symbol)
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
    return out


def _bare_event(frame: _Frame) -> _MarkEvent:
    """The event of a frame without an envelope; :class:`_Unsure` if a field is missing."""
    e, ts_ms, s, p, i, r, t_ms = frame.e, frame.E, frame.s, frame.p, frame.i, frame.r, frame.T
    if (
        isinstance(e, UnsetType)
        or isinstance(ts_ms, UnsetType)
        or isinstance(s, UnsetType)
        or isinstance(p, UnsetType)
        or isinstance(i, UnsetType)
        or isinstance(r, UnsetType)
        or isinstance(t_ms, UnsetType)
    ):
        raise _Unsure
    return _MarkEvent(e, ts_ms, s, p, i, r, t_ms)


_IDS: dict[str, InstrumentId] = {}


def _perp_id(symbol: str) -> InstrumentId:
    """``binance:perp:<symbol>``, kept in ``_IDS`` so each symbol's id is built once."""
    iid = _IDS[symbol] = InstrumentId(VENUE, InstrumentKind.PERP, symbol)
    return iid
