"""The committed starknet-py reference values (``vectors/starknet_py.json``, made by ``vectors/generate.py``)
and a fixture that runs a test once per Pedersen backend present."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.paradex import pedersen

VECTORS = Path(__file__).with_name("vectors") / "starknet_py.json"


@functools.cache
def vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text())
    return data


def n(text: str) -> int:
    """A hex number of the vector file."""
    return int(text, 16)


def order_args(v: dict[str, Any]) -> tuple[str, str, str, Decimal, Decimal, int]:
    return (v["market"], v["side"], v["order_type"], Decimal(v["size"]), Decimal(v["price"]),
            v["timestamp_ms"])


@pytest.fixture(params=sorted(pedersen.BACKENDS))
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs the test with each Pedersen backend importable here (the previous one restored after)."""
    previous = pedersen.select(request.param)
    try:
        yield request.param
    finally:
        pedersen.select(previous.name)
