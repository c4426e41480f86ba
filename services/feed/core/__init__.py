"""Pure core of the feed: no asyncio, sockets, NATS or HTTP here (STYLE habit 1)."""
