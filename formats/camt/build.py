"""Fast construction of the frozen camt records on the parser's hot path (no spec: a CPython detail).

A ``@dataclass(frozen=True, slots=True)`` ``__init__`` sets every field through
``object.__setattr__`` (a name lookup and a generic call per field); on the benchmark
machine building the records of one entry cost more than libxml2 parsing it. The
constructors made here create the instance with ``object.__new__`` and set each slot
through its member descriptor, which is what ``object.__setattr__`` ends up doing:
the records are indistinguishable (same class, same slots, ``==``, ``hash``, ``repr``).

They skip ``__post_init__``: only use them for classes whose ``__post_init__`` (if any)
checks what the caller already guarantees (``Amount`` wants a ``Decimal``:
``parse_decimal_amount`` returns one). Every field is a required positional argument,
so a field added to a record breaks the call loudly instead of leaving a slot unset.

>>> from formats.camt.records import Origin
>>> make_origin = fast_constructor(Origin)
>>> make_origin("a.xml", 3, "/Document") == Origin("a.xml", 3, "/Document")
True

:class:`Interner` shares equal immutable records (a bank transaction code, a creditor's
name) between entries instead of building them again; it is bounded.

>>> interner = Interner(make_origin, max_size=2)
>>> interner("a.xml", 3, "/D") is interner("a.xml", 3, "/D")
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["Interner", "fast_constructor"]

T = TypeVar("T")


def fast_constructor(cls: type[T]) -> Callable[..., T]:
    """A function taking every field of the frozen slots dataclass ``cls`` positionally."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    setters = {f"_set_{name}": getattr(cls, name).__set__ for name in names}
    args = ", ".join(names)
    body = "".join(f"    _set_{name}(obj, {name})\n" for name in names)
    source = f"def make({args}):\n    obj = _new(_cls)\n{body}    return obj\n"
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls, **setters}
    exec(source, namespace)  # generated from the dataclass's own field names
    make: Callable[..., T] = namespace["make"]
    make.__name__ = make.__qualname__ = f"make_{cls.__name__}"
    return make


class Interner:
    """Calls ``make(*key)`` once per distinct key and returns the shared result (bounded cache)."""

    __slots__ = ("_cache", "_make", "_max_size")

    def __init__(self, make: Callable[..., Any], max_size: int = 4096) -> None:
        self._make = make
        self._max_size = max_size
        self._cache: dict[tuple[Any, ...], Any] = {}

    def __call__(self, *key: Any) -> Any:
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= self._max_size:
                self._cache.clear()
            found = self._cache[key] = self._make(*key)
        return found
