"""Validated reads of a journaled strategy state (decoded JSON), shared by every ``state.py``.

A state's ``from_json`` walks the decoded JSON with :class:`JsonObject`: each read checks the
field's presence and type and, on malformed input, raises ``ValueError`` naming the field by
its path from the state's root (``stat_arb state: open['BTCUSDT-ETHUSDT'].qty_a: expected a
number, got 'abc'``), so a damaged journal says where it is damaged.

Numbers follow the JSON the strategies write: an integer field takes a JSON integer only (not
a float, not a boolean); a float field takes a JSON number (an integer is widened to float);
NaN and ±inf are accepted as floats (the journal writes states with ``allow_nan``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

VERSION_KEY = "version"
"""Key of a state layout's version; absent in version 1 (the layout before it was typed)."""


def layout_version(data: object, root: str) -> int:
    """The layout version of a journaled state: ``data.get("version", 1)``.

    Raises
    ------
    ValueError
        If ``data`` is not a JSON object or its version is not an integer.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"{root}: expected a JSON object, got {_show(data)}")
    version = data.get(VERSION_KEY, 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(f"{root}.{VERSION_KEY}: expected an integer, got {_show(version)}")
    return version


def unsupported_version(root: str, version: int) -> ValueError:
    """The error for a layout version this code cannot read (written by a newer release)."""
    return ValueError(f"{root}.{VERSION_KEY}: unsupported state layout version {version}")


def decode_layout(
    data: object, root: str, decoders: Mapping[int, Callable[[Mapping[str, Any]], T]]
) -> T:
    """Decode a journaled state with the decoder of its layout version (:func:`layout_version`):
    ``decoders`` maps each version this code reads to its decoder.

    Raises
    ------
    ValueError
        If ``data`` is not a JSON object, its version is not an integer or has no decoder
        (written by a newer release), or the decoder refuses it (naming the field).
    """
    version = layout_version(data, root)
    decoder = decoders.get(version)
    if decoder is None:
        raise unsupported_version(root, version)
    assert isinstance(data, Mapping)  # layout_version refused anything else
    return decoder(data)


class JsonObject:
    """One JSON object of a journaled state, read field by field with type checks.

    Parameters
    ----------
    data : object
        The decoded JSON value expected to be an object (a ``Mapping`` with ``str`` keys).
    path : str
        Its path from the state's root, used in error messages (``stat_arb state.fit``).
    required : Collection[str]
        Keys that must be present.
    optional : Collection[str]
        Keys that may be present. Any other key is refused: a field this code does not know
        would otherwise be dropped silently on the next write.

    Raises
    ------
    ValueError
        If ``data`` is not an object, lacks a required key or has an unknown one.
    """

    __slots__ = ("_data", "path")

    def __init__(
        self,
        data: object,
        path: str,
        required: Collection[str],
        optional: Collection[str] = (),
    ) -> None:
        if not isinstance(data, Mapping):
            raise ValueError(f"{path}: expected a JSON object, got {_show(data)}")
        missing = [k for k in required if k not in data]
        if missing:
            raise ValueError(f"{path}.{missing[0]}: missing")
        unknown = sorted(str(k) for k in data if k not in required and k not in optional)
        if unknown:
            raise ValueError(f"{path}.{unknown[0]}: unknown field")
        self._data: Mapping[str, Any] = data
        self.path = path

    def has(self, key: str) -> bool:
        """Whether the (optional) field ``key`` is present."""
        return key in self._data

    def field_path(self, key: str) -> str:
        """Path of the field ``key``, for errors and nested reads."""
        return f"{self.path}.{key}"

    def raw(self, key: str) -> Any:
        """The field's decoded JSON value, unchecked (``None`` when absent)."""
        return self._data.get(key)

    def int_field(self, key: str) -> int:
        """An integer field (JSON integer, not a boolean)."""
        return as_int(self._data[key], self.field_path(key))

    def float_field(self, key: str) -> float:
        """A float field (any JSON number but a boolean), as ``float``."""
        return as_float(self._data[key], self.field_path(key))

    def str_field(self, key: str) -> str:
        """A string field."""
        return as_str(self._data[key], self.field_path(key))

    def bool_field(self, key: str) -> bool:
        """A boolean field."""
        value = self._data[key]
        if not isinstance(value, bool):
            raise ValueError(f"{self.field_path(key)}: expected a boolean, got {_show(value)}")
        return value

    def list_field(self, key: str) -> Sequence[Any]:
        """An array field (its items unchecked)."""
        return as_list(self._data[key], self.field_path(key))

    def object_items(self, key: str) -> Iterator[tuple[str, Any, str]]:
        """``(key, value, path)`` of every entry of the object field ``key``, in order."""
        return object_entries(self._data[key], self.field_path(key))


def object_entries(value: object, path: str) -> Iterator[tuple[str, Any, str]]:
    """``(key, value, path)`` of every entry of a JSON object keyed by data (``{SYMBOL: ...}``),
    in order; each entry's path is ``path['key']``.

    Raises
    ------
    ValueError
        Naming ``path``, if ``value`` is not an object with string keys.
    """
    if not isinstance(value, Mapping):
        raise ValueError(f"{path}: expected a JSON object, got {_show(value)}")
    for name, item in value.items():
        yield as_str(name, f"{path} key"), item, f"{path}[{name!r}]"


def as_int(value: object, path: str) -> int:
    """``value`` as an integer field (JSON integer, not a boolean).

    Raises
    ------
    ValueError
        Naming ``path``, for any other value.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{path}: expected an integer, got {_show(value)}")
    return value


def as_float(value: object, path: str) -> float:
    """``value`` as a float field (a JSON number but a boolean), widened to ``float``.

    Raises
    ------
    ValueError
        Naming ``path``, for any other value.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{path}: expected a number, got {_show(value)}")
    return float(value)


def as_str(value: object, path: str) -> str:
    """``value`` as a string field.

    Raises
    ------
    ValueError
        Naming ``path``, for any other value.
    """
    if not isinstance(value, str):
        raise ValueError(f"{path}: expected a string, got {_show(value)}")
    return value


def as_list(value: object, path: str) -> Sequence[Any]:
    """``value`` as an array field (a ``list`` or ``tuple``; items unchecked).

    Raises
    ------
    ValueError
        Naming ``path``, for any other value.
    """
    if not isinstance(value, list | tuple):
        raise ValueError(f"{path}: expected an array, got {_show(value)}")
    return value


def str_map(obj: JsonObject, key: str) -> dict[str, str]:
    """The object field ``key`` of string values (``{SYMBOL: reason}``)."""
    return {name: as_str(v, path) for name, v, path in obj.object_items(key)}


def float_map(obj: JsonObject, key: str) -> dict[str, float]:
    """The object field ``key`` of number values (``{SYMBOL: weight}``), as floats."""
    return {name: as_float(v, path) for name, v, path in obj.object_items(key)}


def _show(value: object) -> str:
    """A short rendering of a bad value for an error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
