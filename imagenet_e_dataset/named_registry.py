"""The one registry type of the project: attributes, attribute planners, inpainters, maskers,
background editors, guidance classifiers and model loaders are each a :class:`NamedRegistry`.

Register by name (a decorator, or :meth:`NamedRegistry.add`), look up with an error that lists what
exists. Adding a backend is a decorated function, never another ``elif``.
"""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class NamedRegistry(Generic[T]):
    """Name -> item (a factory, a plug-in object, ...), in registration order.

    ``same(existing, new)`` decides whether registering a name again is the same item arriving twice
    (a plug-in module imported a second time: kept, no error) rather than a clash (an error).

    >>> colours = NamedRegistry("colour")
    >>> @colours.register("red")
    ... def red(): return "#f00"
    >>> colours.get("red")()
    '#f00'
    >>> colours.get("blue")
    Traceback (most recent call last):
    ...
    ValueError: unknown colour 'blue'; available: red
    >>> colours.add("red", lambda: "#e00")
    Traceback (most recent call last):
    ...
    ValueError: colour 'red' is registered twice
    >>> "red" in colours, len(colours), colours.find("blue") is None
    (True, 1, True)
    """

    def __init__(self, kind: str, *, same: Callable[[T, T], bool] | None = None) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._same = same
        self.version = 0
        """Grows on every registration, so views built from the registry know when to refresh."""

    def add(self, name: str, item: T) -> T:
        """Register ``item`` under ``name``; return the registered item (the existing one for a re-import)."""
        existing = self._items.get(name)
        if existing is not None:
            if self._same is not None and self._same(existing, item):
                return existing
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = item
        self.version += 1
        return item

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add` (returns the decorated object unchanged)."""

        def wrap(item: T) -> T:
            self.add(name, item)
            return item

        return wrap

    def get(self, name: str, *, hint: str | None = None) -> T:
        try:
            return self._items[name]
        except (KeyError, TypeError):
            available = hint or ", ".join(self.names())
            raise ValueError(f"unknown {self.kind} {name!r}; available: {available}") from None

    def find(self, name: str) -> T | None:
        """The item of ``name``, or None."""
        return self._items.get(name)

    def names(self) -> tuple[str, ...]:
        """Registered names, in registration order."""
        return tuple(self._items)

    def values(self) -> tuple[T, ...]:
        return tuple(self._items.values())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._items))
