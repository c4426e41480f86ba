"""Decode of WebSocket push frames into models, and encode of bus events (one core).

``python -m bench.codec [seconds]`` prints a line per figure, then a JSON line with
``book_delta_decode_per_s``, ``order_decode_per_s`` and ``event_encode_per_s``.
Target: ``book_delta_decode_per_s`` >= 300000.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from shared.bus import BookEvent, OrderEvent, encode_event
from shared.paradex.models.push import decode_push

BOOK_DELTA = (
    b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"order_book.BTC-USD-PERP.deltas",'
    b'"data":{"seq_no":14127816,"market":"BTC-USD-PERP","last_updated_at":1718267837265,"update_type":"d",'
    b'"inserts":[{"side":"BUY","price":"67629.7","size":"0.992"}],'
    b'"updates":[{"side":"SELL","price":"67630.1","size":"1.25"}],"deletes":[]}}}'
)
ORDER = (
    b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"orders.ALL","data":{'
    b'"id":"1681462103821101699438490000","client_id":"mm-123","account":"0x49ddd7a564c978f6e4089ff8355b56a'
    b'42b7e2d48ba282cb5aad60f04bea0ec3","market":"BTC-USD-PERP","side":"BUY","type":"LIMIT","size":"0.05",'
    b'"remaining_size":"0.02","price":"26000.5","avg_fill_price":"26000.5","status":"OPEN","cancel_reason":"",'
    b'"instruction":"GTC","flags":[],"stp":"EXPIRE_TAKER","created_at":1681493746016,'
    b'"last_updated_at":1681493746020,"received_at":1681493746010,"published_at":1681493746021,'
    b'"timestamp":1681493746000,"seq_no":1681493746020000000,"trigger_price":"0"}}}'
)


def rate(fn: Callable[[], Any], seconds: float) -> float:
    """Calls of ``fn`` per second, measured in batches for ``seconds``."""
    for _ in range(1000):
        fn()
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(2000):
            fn()
        n += 2000
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def main(seconds: float = 1.5) -> dict[str, float]:
    book_push = decode_push(BOOK_DELTA)
    order_push = decode_push(ORDER)
    book_event = BookEvent(source="ws", venue_ts_ms=1718267837265, recv_ns=time.time_ns(), conn_epoch=1,
                           book=book_push.data)  # type: ignore[arg-type]
    order_event = OrderEvent(source="ws", venue_ts_ms=1681493746020, recv_ns=time.time_ns(), conn_epoch=1,
                             order=order_push.data)  # type: ignore[arg-type]
    out = {
        "book_delta_decode_per_s": rate(lambda: decode_push(BOOK_DELTA), seconds),
        "order_decode_per_s": rate(lambda: decode_push(ORDER), seconds),
        "event_encode_per_s": rate(lambda: encode_event(order_event), seconds),
        "book_event_encode_per_s": rate(lambda: encode_event(book_event), seconds),
    }
    for k, v in out.items():
        print(f"{k:28s} {v:12,.0f}")
    result: dict[str, Any] = {k: round(v) for k, v in out.items()}
    result["book_delta_target_met"] = result["book_delta_decode_per_s"] >= 300_000
    print(json.dumps(result))
    return out


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 1.5)
