"""One small registry type for every pluggable part (inpainters, maskers, background editors,
guidance classifiers, model loaders): register by name with a decorator, look up with an error
that lists what exists. Adding a backend is a decorated function, never another ``elif``.
"""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class NamedRegistry(Generic[T]):
    """Name -> factory.

    >>> colours = NamedRegistry("colour")
    >>> @colours.register("red")
    ... def red(): return "#f00"
    >>> colours.get("red")()
    '#f00'
    >>> colours.get("blue")
    Traceback (most recent call last):
    ...
    ValueError: unknown colour 'blue'; available: red
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def wrap(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._items[name] = item
            return item

        return wrap

    def get(self, name: str, *, hint: str | None = None) -> T:
        try:
            return self._items[name]
        except KeyError:
            available = hint or ", ".join(self.names())
            raise ValueError(f"unknown {self.kind} {name!r}; available: {available}") from None

    def names(self) -> tuple[str, ...]:
        """Registered names, in registration order."""
        return tuple(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items
