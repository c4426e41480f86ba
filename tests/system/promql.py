"""Enough PromQL reading to list the metrics (and labels) an expression refers to.

Not a parser: string literals and range selectors are removed, then every identifier is
classified by what follows or surrounds it: ``name(`` is a function or aggregation, ``by (...)``
/ ``without`` / ``on`` / ``ignoring`` / ``group_left`` lists labels, ``{a="b"}`` holds label
matchers, the rest are metric names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
            "offset", "inf", "nan"}
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
                "topk", "quantile", "limitk", "limit_ratio"}
LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|\[[^\]]*\]|[A-Za-z_:][A-Za-z0-9_:]*'
                    r'|\d+(?:\.\d+)?(?:e[+-]?\d+)?|=~|!~|!=|==|<=|>=|\S')


@dataclass
class Refs:
    """Metric names, label names used in matchers (per metric) and in by()/on() lists."""

    metrics: set[str] = field(default_factory=set)
    matchers: dict[str, set[str]] = field(default_factory=dict)
    grouping: set[str] = field(default_factory=set)


def refs(expr: str) -> Refs:
    """The metrics and labels ``expr`` names."""
    toks = [t for t in _TOKEN.findall(expr) if not t.startswith("[")]
    out = Refs()
    i = 0
    last_metric = ""
    while i < len(toks):
        t = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        if t in LABEL_LISTS and nxt == "(":
            j = i + 2
            while j < len(toks) and toks[j] != ")":
                if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", toks[j]):
                    out.grouping.add(toks[j])
                j += 1
            i = j + 1
            continue
        if t == "{":
            j = i + 1
            while j < len(toks) and toks[j] != "}":
                if toks[j + 1:j + 2] and toks[j + 1] in ("=", "=~", "!=", "!~"):
                    out.matchers.setdefault(last_metric, set()).add(toks[j])
                j += 1
            i = j + 1
            continue
        if re.fullmatch(r"[A-Za-z_:][A-Za-z0-9_:]*", t) and t.lower() not in KEYWORDS \
                and t not in AGGREGATIONS and nxt != "(":
            out.metrics.add(t)
            last_metric = t
        i += 1
    return out
