"""Read-only ``dict`` and ``list``: what the models hold, so that what the memory returns is plain data.

They are the built-in types (``isinstance(x, dict)``, ``json.dumps``, ``==`` with a plain ``dict``
or ``list``, ``pickle``, ``copy.deepcopy``, ``dataclasses.asdict`` all work as for them), minus
every method that changes them in place: a profile read from the cache is shared by every caller
in the process, and a caller's edit must not become everyone's. ``copy()``, ``dict(x)``,
``list(x)``, ``x | {...}`` and ``x + [...]`` give a plain, editable copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn, TypeVar

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


def _refuse(self: object, *args: object, **kwargs: object) -> NoReturn:
    raise TypeError(f"{type(self).__name__} is read-only: copy it (.copy()) to change it")


class FrozenDict(dict[K, V]):
    """A ``dict`` that cannot be changed after it is made."""

    __slots__ = ()

    __setitem__ = _refuse
    __delitem__ = _refuse
    __ior__ = _refuse
    clear = _refuse
    pop = _refuse
    popitem = _refuse
    setdefault = _refuse
    update = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        # The default pickles items back in with __setitem__, which refuses.
        return (type(self), (dict(self),))

    def __copy__(self) -> FrozenDict[K, V]:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenDict[K, V]:
        return self  # its values are frozen too (see freeze()): nothing to copy

    def __repr__(self) -> str:
        return dict.__repr__(self)


class FrozenList(list[T]):
    """A ``list`` that cannot be changed after it is made."""

    __slots__ = ()

    __setitem__ = _refuse
    __delitem__ = _refuse
    __iadd__ = _refuse
    __imul__ = _refuse
    append = _refuse
    extend = _refuse
    insert = _refuse
    pop = _refuse
    remove = _refuse
    clear = _refuse
    sort = _refuse
    reverse = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (list(self),))

    def __copy__(self) -> FrozenList[T]:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenList[T]:
        return self

    def __hash__(self) -> int:  # type: ignore[override]
        # Unhashable, as a list: a dataclass holding one is unhashable too, as with a dict.
        raise TypeError(f"unhashable type: {type(self).__name__!r}")

    def __repr__(self) -> str:
        return list.__repr__(self)


#: The empty read-only mapping, shared as the default of every model field that is one.
EMPTY: FrozenDict[str, Any] = FrozenDict()


def freeze(value: Any) -> Any:
    """A read-only deep copy of a JSON value: dicts and lists (and tuples) become the frozen types."""
    if isinstance(value, FrozenDict | FrozenList):
        return value
    if isinstance(value, Mapping):
        return FrozenDict({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return FrozenList(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Inverse of :func:`freeze`: plain, editable dicts and lists."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value
