"""Value semantics for small records (the cgroups plugin's Write, Rule, Layout; SELinux contexts).

Plain ``__slots__`` classes rather than dataclasses: importing dataclasses (with copy, inspect)
costs about a millisecond on every create, and these records need only equality, a hash and a
repr.
"""

from __future__ import annotations


class Value:
    """Equal when of the same class with equal fields (``__slots__``, in order)."""

    __slots__ = ()

    def _t(self) -> tuple:
        return tuple(getattr(self, k) for k in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._t() == other._t()

    def __hash__(self) -> int:
        return hash(self._t())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)!r}' for k in self.__slots__)})"
