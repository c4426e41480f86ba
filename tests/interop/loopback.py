"""Refuse every socket connection that is not to loopback (imported first by the peer runners).

The peers (ccxt, paradex-py) are run unchanged except for their URLs; if one of them tried a
default production URL anyway (a forgotten override, a market list it fetches by itself), this
turns the attempt into an immediate ``ConnectionRefusedError`` naming the address instead of
traffic leaving the machine. Self-contained: the runners import it without the project installed.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _loopback(address: Any) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return host == "localhost"
    return isinstance(address, str | bytes)  # AF_UNIX paths stay on the machine


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if not _loopback(address):
        raise ConnectionRefusedError(f"interop runner: refused a non-loopback connection to {address!r}")
    _connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if not _loopback(address):
        raise ConnectionRefusedError(f"interop runner: refused a non-loopback connection to {address!r}")
    return _connect_ex(self, address)


def install() -> None:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
