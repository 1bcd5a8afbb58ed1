"""State of the factor-neutral book: the last optimized book, its sizing, exclusions, alerts.

JSON layout, version 1 (the layout written before the state was typed; it has no
``"version"`` key)::

    {"book": null | {"fitted_at_ms": int, "weights": {SYMBOL: float},
                     "betas": {SYMBOL: float}, "expected_alpha": float,
                     "method": "lp" | "milp", "proven_optimal": bool},
     "excluded": {SYMBOL: reason},
     "pending_alerts": [{"kind": str, "message": str, "fields": {str: int | float | str}}],
     "sized": {"fitted_at_ms": int, "qty": {SYMBOL: float}}}

``"sized"`` is absent until the first decision after a refit has sized the book (a refit
drops it). :meth:`FactorNeutralState.to_json` writes version 1 exactly (same keys in the same
order, ints as ints, floats as floats, an alert field's number as it was given), so a journal
written by this code reads like one written before.

Versioning: a future layout writes ``"version": 2`` (an integer) at the top level;
:meth:`FactorNeutralState.from_json` dispatches on ``data.get("version", 1)`` and keeps reading
every earlier version, so a journal written by an older release still resumes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from strategies.base import Alert
from strategies.state_json import (
    VERSION_KEY,
    JsonObject,
    as_float,
    as_str,
    decode_layout,
    float_map,
    str_map,
)

_ROOT = "factor_neutral state"


@dataclass(frozen=True, slots=True)
class Book:
    """An optimized book: weights as fractions of the strategy's capital.

    Attributes
    ----------
    fitted_at_ms : int
        Time of the refit that solved it, epoch ms UTC.
    weights : Mapping[str, float]
        Weight per symbol, fraction of ``capital_usd`` (signed; ``Σw = 0``).
    betas : Mapping[str, float]
        Beta to the market symbol of each symbol in the book, dimensionless.
    expected_alpha : float
        ``α·w`` of the book (alpha units × weight).
    method : str
        ``"lp"`` or ``"milp"``.
    proven_optimal : bool
        Whether the solver proved optimality.
    """

    fitted_at_ms: int
    weights: Mapping[str, float]
    betas: Mapping[str, float]
    expected_alpha: float
    method: str
    proven_optimal: bool

    def to_json(self) -> dict[str, Any]:
        """Version-1 record (see the module docstring)."""
        return {
            "fitted_at_ms": self.fitted_at_ms,
            "weights": dict(self.weights),
            "betas": dict(self.betas),
            "expected_alpha": self.expected_alpha,
            "method": self.method,
            "proven_optimal": self.proven_optimal,
        }

    @classmethod
    def from_json(cls, data: object, path: str) -> Self:
        """Decode a version-1 record at ``path``; ``ValueError`` naming the field if malformed."""
        keys = ("fitted_at_ms", "weights", "betas", "expected_alpha", "method", "proven_optimal")
        obj = JsonObject(data, path, keys)
        return cls(
            fitted_at_ms=obj.int_field("fitted_at_ms"),
            weights=float_map(obj, "weights"),
            betas=float_map(obj, "betas"),
            expected_alpha=obj.float_field("expected_alpha"),
            method=obj.str_field("method"),
            proven_optimal=obj.bool_field("proven_optimal"),
        )


@dataclass(frozen=True, slots=True)
class SizedBook:
    """The book sized once per refit, at the prices of its first decision.

    Attributes
    ----------
    fitted_at_ms : int
        ``fitted_at_ms`` of the book it sizes, epoch ms UTC.
    qty : Mapping[str, float]
        Target position per symbol, base units (signed).
    """

    fitted_at_ms: int
    qty: Mapping[str, float]

    def to_json(self) -> dict[str, Any]:
        """Version-1 record (see the module docstring)."""
        return {"fitted_at_ms": self.fitted_at_ms, "qty": dict(self.qty)}

    @classmethod
    def from_json(cls, data: object, path: str) -> Self:
        """Decode a version-1 record at ``path``; ``ValueError`` naming the field if malformed."""
        obj = JsonObject(data, path, ("fitted_at_ms", "qty"))
        return cls(fitted_at_ms=obj.int_field("fitted_at_ms"), qty=float_map(obj, "qty"))


@dataclass(frozen=True, slots=True)
class FactorNeutralState:
    """State of :class:`~strategies.factor_neutral.strategy.FactorNeutralStrategy`.

    Attributes
    ----------
    book : Book | None
        The last refit's book; None before the first refit or when it failed.
    excluded : Mapping[str, str]
        Symbols the last refit left out and why.
    pending_alerts : tuple[Alert, ...]
        Alerts of the last refit, emitted (and cleared) by the next decision.
    sized : SizedBook | None
        The book's sizing; None until the first decision after a refit.
    """

    book: Book | None = None
    excluded: Mapping[str, str] = field(default_factory=dict)
    pending_alerts: tuple[Alert, ...] = ()
    sized: SizedBook | None = None

    def to_json(self) -> dict[str, Any]:
        """The state in layout version 1 (see the module docstring)."""
        data: dict[str, Any] = {
            "book": None if self.book is None else self.book.to_json(),
            "excluded": dict(self.excluded),
            "pending_alerts": [_alert_json(a) for a in self.pending_alerts],
        }
        if self.sized is not None:
            data["sized"] = self.sized.to_json()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Decode a journaled state of any known layout version.

        Raises
        ------
        ValueError
            If ``data`` is malformed or of an unknown version; the message names the field.
        """
        return decode_layout(data, _ROOT, {1: cls._from_v1})

    @classmethod
    def _from_v1(cls, data: Mapping[str, Any]) -> Self:
        keys = ("book", "excluded", "pending_alerts")
        obj = JsonObject(data, _ROOT, keys, optional=("sized", VERSION_KEY))
        book = obj.raw("book")
        alerts_path = obj.field_path("pending_alerts")
        return cls(
            book=None if book is None else Book.from_json(book, obj.field_path("book")),
            excluded=str_map(obj, "excluded"),
            pending_alerts=tuple(
                _alert_from_json(a, f"{alerts_path}[{k}]")
                for k, a in enumerate(obj.list_field("pending_alerts"))
            ),
            sized=SizedBook.from_json(obj.raw("sized"), obj.field_path("sized"))
            if obj.has("sized")
            else None,
        )


def _alert_json(alert: Alert) -> dict[str, Any]:
    """Version-1 record of a pending alert."""
    return {"kind": alert.kind, "message": alert.message, "fields": dict(alert.fields)}


def _alert_from_json(data: object, path: str) -> Alert:
    """Decode a version-1 pending-alert record at ``path`` (field values kept as given)."""
    obj = JsonObject(data, path, ("kind", "message", "fields"))
    fields: dict[str, float | str] = {}
    for name, value, value_path in obj.object_items("fields"):
        if isinstance(value, str):
            fields[name] = as_str(value, value_path)
        elif isinstance(value, int) and not isinstance(value, bool):
            fields[name] = value  # an int stays an int: it is written back as given
        else:
            fields[name] = as_float(value, value_path)
    return Alert(obj.str_field("kind"), obj.str_field("message"), fields)
