"""A strategy state's journal text built from cached fragments (issue 14).

The journal stores a state as canonical JSON: ``json.dumps(value, sort_keys=True,
separators=(",", ":"), allow_nan=True)`` (``agent.journal.journal._json(strict=False)``), and
keeps a JSON *text* a state's ``to_json`` returns as it is. A state whose bulk is a window of
settled rates per perp — re-encoded in full each time the state is journaled, although only
its newest rows are new — builds that text here instead: every value is encoded by the stdlib
``json`` encoder with those very settings (no hand-written encoder), and the fragments are
joined the way that encoder joins them (``{`` key ``:`` value ``,`` … ``}`` with the keys
sorted, ``[`` item ``,`` … ``]``), so the text is byte-identical to the encoding of the
equivalent dict. :class:`WindowTexts` keeps the texts of each window's rows, so a row is
encoded once however many times its window is journaled, and encodes the new rows of all the
windows of a state in one encoder call; :class:`ObjectLayout` joins the members of the many
objects that share one set of keys (a record per symbol) without sorting those keys again.

Reference: https://docs.python.org/3/library/json.html#json.JSONEncoder
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from operator import is_
from typing import Final

_ENCODER: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=True)
"""The journal's lenient canonical encoder (``agent.journal.journal._json(strict=False)``)."""


def encode(value: object) -> str:
    """``value`` (JSON-able) as the journal encodes it: sorted keys, compact, NaN allowed."""
    return _ENCODER.encode(value)


def object_text(members: Mapping[str, str]) -> str:
    """The text of a JSON object whose member ``k`` has the JSON text ``members[k]``: what
    :func:`encode` writes for ``{k: json.loads(members[k])}`` (keys sorted, compact)."""
    return "{" + ",".join([_key_text(k) + ":" + members[k] for k in sorted(members)]) + "}"


@functools.lru_cache(maxsize=4096)
def _key_text(key: str) -> str:
    """An object key's JSON text (keys repeat every state: field names, symbols, perps)."""
    return _ENCODER.encode(key)


def array_text(item_texts: Sequence[str]) -> str:
    """The text of a JSON array whose items have the JSON texts ``item_texts`` (compact)."""
    return "[" + ",".join(item_texts) + "]"


class ObjectLayout:
    """The texts of JSON objects that all have the members ``keys`` (many records of one
    kind): :meth:`text` of the member texts is :func:`object_text` of the mapping
    ``{keys[i]: member_texts[i]}``, the keys sorted and their texts built once here.

    Raises
    ------
    ValueError
        If ``keys`` holds a key twice.
    """

    __slots__ = ("_template",)

    def __init__(self, keys: Sequence[str]) -> None:
        if len(set(keys)) != len(keys):
            raise ValueError(f"an object's keys are unique, got {list(keys)}")
        order = sorted(range(len(keys)), key=keys.__getitem__)
        # a str.format template: each key's text (its braces doubled, literal) then the
        # position of its member's text among the arguments
        members = [_literal(_key_text(keys[i])) + ":{" + str(i) + "}" for i in order]
        self._template = "{{" + ",".join(members) + "}}"

    def text(self, member_texts: Sequence[str]) -> str:
        """The object whose member ``keys[i]`` has the JSON text ``member_texts[i]``."""
        return self._template.format(*member_texts)


def _literal(text: str) -> str:
    """``text`` as literal text of a :meth:`str.format` template."""
    return text.replace("{", "{{").replace("}", "}}")


class WindowTexts:
    """The JSON array texts of sliding windows, one per key, each row encoded once.

    :meth:`array_texts` of the windows of some keys reuses the row texts of the window last
    given for each key where the new window holds *the very same row objects* (checked by
    identity: equal values may encode differently, ``0.0`` and ``-0.0``): a window that
    dropped its oldest rows and appended newer ones (what a rate book writes each
    settlement) encodes only the appended rows, those of all the windows together
    (:func:`value_texts`). Rows are immutable (floats, tuples of numbers), so the text of a
    row object never changes; any other window is encoded in full. Not part of a state's
    value (nothing to compare or journal).
    """

    __slots__ = ("_memo",)

    def __init__(self) -> None:
        # key -> (the window last given, its row texts, its array text)
        self._memo: dict[str, tuple[Sequence[object], list[str], str]] = {}

    def array_text(self, key: str, rows: Sequence[object]) -> str:
        """``encode(list(rows))`` for the window ``rows`` of ``key`` (see the class docstring).

        Raises
        ------
        TypeError
            If a row is not JSON-able.
        """
        return self.array_texts({key: rows})[key]

    def array_texts(self, windows: Mapping[str, Sequence[object]]) -> dict[str, str]:
        """``{key: encode(list(rows))}`` for each window ``rows`` of ``windows`` (see the
        class docstring), in the order of ``windows``.

        Raises
        ------
        TypeError
            If a row is not JSON-able.
        """
        memos = self._memo
        texts: dict[str, str] = {}
        # windows with new rows: (key, rows, their reused row texts), the new rows in order
        pending: list[tuple[str, Sequence[object], list[str]]] = []
        new_rows: list[object] = []
        for key, rows in windows.items():
            memo = memos.get(key)
            if memo is not None and memo[0] is rows:
                texts[key] = memo[2]
                continue
            reused = _reused_texts(memo, rows)
            pending.append((key, rows, reused))
            new_rows.extend(rows[len(reused) :])
            texts[key] = ""  # its place in the order of ``windows``
        start = 0
        new_texts = value_texts(new_rows)
        for key, rows, row_texts in pending:
            end = start + len(rows) - len(row_texts)
            row_texts.extend(new_texts[start:end])
            start = end
            text = array_text(row_texts)
            memos[key] = (rows, row_texts, text)
            texts[key] = text
        return texts


def _reused_texts(
    memo: tuple[Sequence[object], list[str], str] | None, rows: Sequence[object]
) -> list[str]:
    """The texts of the first rows of ``rows`` that are the newest rows of the memo's window
    (the very objects, in order); empty when ``rows`` does not start inside that window."""
    if memo is None or not rows:
        return []
    old, old_texts = memo[0], memo[1]
    first = rows[0]
    for drop in range(len(old)):  # rows dropped from the front: usually a few
        # map stops at the shorter: the kept rows old[drop:] against the first rows of rows
        kept = len(old) - drop
        if old[drop] is first and kept <= len(rows) and all(map(is_, rows, old[drop:])):
            return old_texts[drop:]
    return []


def value_texts(values: Sequence[object]) -> list[str]:
    """Each value's JSON text, as :func:`encode` writes it. Values that are all numbers
    (``int``, ``float``: a rate book's appended rates, settlement times) are encoded in one
    encoder call and the array split at its commas (a number's text never holds one); other
    values one call each."""
    if len(values) > 1 and all(type(v) is float or type(v) is int for v in values):
        return _ENCODER.encode(list(values))[1:-1].split(",")
    return list(map(_ENCODER.encode, values))
