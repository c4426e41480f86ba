"""A minimal keep-alive HTTP/1.1 client for load generators.

A benchmark's client must not be what limits it: httpx costs ~1.2 ms of CPU per small POST here
(measured in ``bench.simulator``: the load process used 1.17 ms per order while the simulator used
0.9), which on two cores caps the rate at what the client can send, not what the server takes.
This client writes the request bytes and reads the status line, the headers and a
``Content-Length`` body (no chunked bodies, no redirects, no TLS: loopback servers we run).
"""

from __future__ import annotations

import asyncio


class RawHttp:
    """One keep-alive connection: ``await request(method, path, body)`` -> (status, headers, body)."""

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None) -> None:
        self.host, self.port = host, port
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._head = f"Host: {host}:{port}\r\n{extra}".encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> RawHttp:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def request(self, method: str, path: str, body: bytes = b"",
                      content_type: str = "application/json") -> tuple[int, dict[bytes, bytes], bytes]:
        reader, writer = self._reader, self._writer
        assert reader is not None and writer is not None, "open() first"
        head = b"%s %s HTTP/1.1\r\n%s" % (method.encode(), path.encode(), self._head)
        if body or method in ("POST", "PUT", "PATCH"):
            head += b"Content-Type: %s\r\nContent-Length: %d\r\n" % (content_type.encode(), len(body))
        writer.write(head + b"\r\n" + body)
        lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name:
                headers[name.strip().lower()] = value.strip()
        data = await reader.readexactly(int(headers.get(b"content-length", b"0")))
        return int(lines[0].split()[1]), headers, data

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except OSError:
                pass
