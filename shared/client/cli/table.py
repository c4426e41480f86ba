"""Plain-text tables for people (``--json`` gives scripts the data instead)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from decimal import Decimal
from typing import Any


def cell(v: Any) -> str:
    """One value as table text: decimals as sent, ms timestamps as UTC times, None as '-'."""
    if v is None or v == "":
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, Decimal):
        return format(v.normalize(), "f") if v == v.to_integral() else format(v, "f")
    return str(v)


def when(ms: int | None) -> str:
    """A venue time (ms since the epoch) as ``HH:MM:SS.mmm`` UTC (with the date when not today)."""
    if not ms:
        return "-"
    t = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    today = datetime.datetime.now(datetime.UTC).date()
    fmt = "%H:%M:%S.%f" if t.date() == today else "%Y-%m-%d %H:%M:%S.%f"
    return t.strftime(fmt)[:-3]


def _numeric(text: str) -> bool:
    return bool(text) and text.lstrip("-+").replace(".", "", 1).isdigit()


def render(headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str = "(none)") -> str:
    """Columns padded to their widest cell, numbers right-aligned."""
    if not rows:
        return empty
    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) for i, h in enumerate(headers)]
    right = [all(_numeric(r[i]) or r[i] == "-" for r in text) for i in range(len(headers))]
    lines = ["  ".join(h.ljust(w) if not right[i] else h.rjust(w)
                       for i, (h, w) in enumerate(zip(headers, widths, strict=True))).rstrip()]
    if not any(headers):
        lines = []
    for r in text:
        lines.append("  ".join(c.rjust(w) if right[i] else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip())
    return "\n".join(lines)
