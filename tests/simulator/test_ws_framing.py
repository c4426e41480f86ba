"""The simulator's own WebSocket frame headers (its writer's fast path) are websockets' bytes."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode

from services.simulator.ws.conn import _header


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70000])
@pytest.mark.parametrize("binary", [False, True])
def test_header_and_payload_equal_websockets_serialisation(length: int, binary: bool) -> None:
    data = bytes(i % 251 for i in range(length))
    reference = Frame(Opcode.BINARY if binary else Opcode.TEXT, data).serialize(mask=False)
    assert _header(data, binary) + data == reference
