"""Named event counters of the state core (exposed on /metrics by the shell)."""

from __future__ import annotations


class Counters:
    """A dict of named integer counters; ``bump`` is the only hot-path operation."""

    __slots__ = ("values",)

    def __init__(self, values: dict[str, int] | None = None) -> None:
        self.values: dict[str, int] = dict(values or {})

    def bump(self, name: str, by: int = 1) -> None:
        """Add ``by`` to counter ``name``."""
        v = self.values
        v[name] = v.get(name, 0) + by

    def get(self, name: str) -> int:
        """The value of ``name`` (0 when never bumped)."""
        return self.values.get(name, 0)

    def snapshot(self) -> dict[str, int]:
        """A sorted copy of every counter."""
        return dict(sorted(self.values.items()))
