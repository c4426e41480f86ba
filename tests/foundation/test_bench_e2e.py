"""bench.e2e's analysis on hand-made probe samples: every figure joins the right samples (phase by
send stamp, SSE to Redis by (seq, key), SSE to the direct client by (client id, status), HTTP to
the OPEN push, acks by stream seq). Timings are made up; only the arithmetic is checked."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench import e2e
from shared.trace import FIELDS, HOPS

MS = 1_000_000
T = 1_900_000_000_000_000_000  # the phase's start (ns)


def sse_frame(seq: int, cid: str, status: str, sim: int) -> bytes:
    """A traced SSE frame of one order push sent at ``sim``: each hop takes 1 ms (sse at +6 ms)."""
    stamps = {k: sim + i * MS for i, k in enumerate(FIELDS)}
    data = {"stream": "account", "kind": "order", "key": f"k{cid}", "seq": seq,
            "value": {"client_id": cid, "venue_status": status}, "trace": stamps}
    return b"id: a:%d.0,m:e.0\nevent: order\ndata: %s" % (seq, json.dumps(data).encode())


def ws_frame(cid: str, status: str, sim: int) -> str:
    return json.dumps({"jsonrpc": "2.0", "method": "subscription",
                       "params": {"channel": "orders.ALL", "data": {"client_id": cid, "status": status}},
                       "sim_sent_ns": sim})


def test_analyse_joins_each_probe_to_the_traced_sse_samples() -> None:
    sse: list[Any] = []
    ws: list[Any] = []
    redis: list[Any] = []
    acks: dict[int, int] = {}
    for i in range(10):
        sim = T + i * 10 * MS
        cid = f"flow-{i}"
        for j, status in enumerate(("NEW", "OPEN")):
            seq = 2 * i + j + 1
            s = sim + j * MS
            sse.append((s + 7 * MS, sse_frame(seq, cid, status, s)))  # client reads 1 ms after sse
            ws.append((s + 2 * MS, ws_frame(cid, status, s)))  # direct: 2 ms after its send
            redis.append((s + 5 * MS, seq, "order", f"k{cid}"))  # Redis change read at +5 ms
            acks[seq] = s + 2 * MS + MS // 2  # ack 0.5 ms after publish
    ws.append((T + 3 * MS, json.dumps({"jsonrpc": "2.0", "method": "subscription",
                                       "params": {"channel": "account", "data": {}}, "sim_sent_ns": T})))
    sse.append((T, b": keepalive"))
    sse.append((T, sse_frame(99, "flow-0", "NEW", T)))  # the same push twice: counted once
    http = [("flow-3", T + 30 * MS + MS + 4 * MS)]  # seen over HTTP 4 ms after the OPEN push
    probes: dict[str, list[Any]] = {"sse": sse, "ws": ws, "redis": redis, "http": http}
    out, lines = e2e.analyse({"1k": (T, T + 100 * MS)}, probes, acks, [500 * MS, 700 * MS, 900 * MS])
    assert out["samples_1k"] == 20
    assert out["internal_p50_ms_1k"] == 6.0  # client (+7) - recv (+1)
    assert out["venue_to_sse_p50_ms_1k"] == 7.0
    assert out["venue_to_redis_p50_ms_1k"] == 5.0
    assert out["direct_ws_p50_ms_1k"] == 2.0
    assert out["added_over_direct_p50_ms_1k"] == 5.0  # SSE read (+7) - direct read (+2)
    assert out["venue_to_http_p50_ms_1k"] == 4.0 and out["http_samples"] == 1
    assert out["hop_jetstream_ack_p50_ms"] == 0.5
    for name, _, _ in HOPS:
        if name != "jetstream_ack":
            assert out[f"hop_{name}_p50_ms"] == 1.0, name
    assert out["events_per_s_1k"] == 210  # 21 pushes (orders and account) in 0.1 s
    assert out["rest_poll_p50_ms"] == 700.0 and out["rest_samples"] == 3
    assert any("sse_client" in line for line in lines)


def test_samples_outside_the_phase_and_untraced_frames_are_not_counted() -> None:
    inside = (T + 9 * MS, sse_frame(1, "flow-1", "NEW", T + MS))
    before = (T, sse_frame(2, "flow-2", "NEW", T - MS))
    untraced = (T + 9 * MS, b'event: order\ndata: {"stream":"account","kind":"order","key":"k","seq":3,'
                            b'"value":{"client_id":"flow-3","venue_status":"NEW"}}')
    out, _ = e2e.analyse({"5k": (T, T + 100 * MS)}, {"sse": [inside, before, untraced]}, {}, [])
    assert out["samples_5k"] == 1 and out["internal_p50_ms_5k"] == 7.0
    assert out["venue_to_redis_p50_ms_5k"] is None and out["rest_poll_p50_ms"] is None


@pytest.mark.parametrize(("xs", "q", "want"), [([3.0, 1.0, 2.0], 0.5, 2.0),
                                               ([float(i) for i in range(100)], 0.99, 99.0)])
def test_pct_is_the_nearest_rank(xs: list[float], q: float, want: float) -> None:
    assert e2e.pct(xs, q) == want
