"""Latency trace stamps carried through the hops of an account event (benchmarks only).

Off by default (``FEED_TRACE`` / ``STATE_TRACE``); when off nothing here runs and every wire format
is unchanged. When on, each account event collects wall-clock stamps (``time.time_ns()``, one
clock for every process of a host) as it travels:

==============  ================================================================================
``sim``         the simulator's ``sim_sent_ns`` at its socket write (``SIM_WS_SEND_STAMP``; 0 without)
``recv``        feed: the WebSocket frame was read (the event's own ``recv_ns``)
``pub``         feed: the JetStream publish was handed to NATS
``state_recv``  state: the message arrived from the ACCOUNT consumer
``applied``     state: the event was applied to the core and its changes encoded
``redis``       the Redis change stream showed the change (taken by bench.e2e's reader: the state
                sends SSE before its Redis write, so its frames carry no ``redis`` stamp)
``sse``         state: the SSE frame was handed to the client's response
==============  ================================================================================

Carriage: the feed sends ``sim,recv,pub`` in the :data:`TRACE_HEADER` NATS header of the
account message; the state appends ``state_recv`` to that header, turns it into the trace bytes
of the event's changes when applied (:func:`applied_trace`), and each SSE response fills ``sse``
in as it sends the frame (:func:`stamp_sse`). The SSE ``data`` then ends with
``"trace":{"sim":..,"recv":..,"pub":..,"state_recv":..,"applied":..,"sse":..}``.

The JetStream ack of a message cannot travel in the message itself (it comes back after the
message is stored, possibly after the state got it): the tracing feed publishes ``[[stream seq,
pub, ack], ...]`` batches on core NATS :data:`shared.bus.subjects.FEED_TRACE` instead.
"""

from __future__ import annotations

from typing import Any

import msgspec

TRACE_HEADER = "Pdx-Trace"
STAMP_KEY = '"sim_sent_ns":'
#: the trace members in order (``sse`` last: filled in per SSE response)
FIELDS = ("sim", "recv", "pub", "state_recv", "applied", "redis", "sse")
SSE_TAIL = b',"sse":0}}\n\n'
"""How a traced SSE frame ends before :func:`stamp_sse` fills in its send time."""

#: (hop name, from stamp, to stamp) of the per-hop breakdown; ``client`` is the strategy's receive
HOPS: tuple[tuple[str, str, str], ...] = (
    ("venue_ws", "sim", "recv"), ("feed", "recv", "pub"), ("jetstream_ack", "pub", "ack"),
    ("bus", "pub", "state_recv"), ("apply", "state_recv", "applied"), ("redis", "applied", "redis"),
    ("sse", "redis", "sse"), ("sse_client", "sse", "client"),
)


def sim_stamp(frame: str | bytes) -> int:
    """The ``sim_sent_ns`` appended to a JSON frame by the simulator, or 0."""
    if isinstance(frame, bytes):
        frame = frame.decode("utf-8", "replace") if frame.startswith(b"{") else ""
    at = frame.rfind(STAMP_KEY, max(0, len(frame) - 40))
    if at < 0 or not frame.endswith("}"):
        return 0
    digits = frame[at + len(STAMP_KEY):-1]
    return int(digits) if digits.isdigit() else 0


def feed_header(sim_ns: int, recv_ns: int, pub_ns: int) -> str:
    """The :data:`TRACE_HEADER` value the feed sends."""
    return f"{sim_ns},{recv_ns},{pub_ns}"


def applied_trace(header: str, applied_ns: int) -> bytes:
    """Trace bytes of an applied event from its header (``sim,recv,pub,state_recv``); ``b""`` when
    the header is not one of ours."""
    parts = header.split(",")
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        return b""
    sim, recv, pub, state_recv = parts
    return b'"sim":%s,"recv":%s,"pub":%s,"state_recv":%s,"applied":%d' % (
        sim.encode(), recv.encode(), pub.encode(), state_recv.encode(), applied_ns)


def event_json(base: bytes, trace: bytes) -> bytes:
    """An SSE ``data`` JSON object ``base`` (``{...}``) with the trace member appended (``sse`` 0)."""
    return b'%s,"trace":{%s,"sse":0}}' % (base[:-1], trace)


def stamp_sse(frame: bytes, sse_ns: int) -> bytes:
    """A traced SSE frame with its send time filled in (other frames unchanged)."""
    if frame.endswith(SSE_TAIL):
        return b'%s,"sse":%d}}\n\n' % (frame[:-len(SSE_TAIL)], sse_ns)
    return frame


_dec = msgspec.json.Decoder()


def parse_event(data: bytes | str) -> tuple[dict[str, Any], dict[str, int]]:
    """An SSE ``data`` payload and its trace stamps (empty when untraced)."""
    obj: dict[str, Any] = _dec.decode(data)
    trace = obj.pop("trace", None)
    return obj, ({k: int(v) for k, v in trace.items()} if isinstance(trace, dict) else {})
