"""SBE that cannot break the hub (issue 15 item 2).

- by construction: every public event the engine emits (synthetic flow, user trades, funding
  accrued over long periods) encodes as SBE in every schema version;
- isolation: a frame that cannot be encoded is dropped for the SBE subscribers of its channel
  only; a JSON client on book deltas in the same batches sees every delta (0 gaps), the poisoned
  client is told once and keeps getting its other frames, the failure is counted;
- SBE trade ``seq`` is the book sequence after the execution (the fill's ``orderbook_seq_no``).
"""

from __future__ import annotations

import itertools
import random
from decimal import Decimal
from typing import Any

import httpx

from services.simulator.engine import Exchange, Side, TradeEvent, VenueEvent, convert, default_markets
from services.simulator.engine.synthetic import SyntheticMarket
from shared.paradex import sbe
from shared.paradex.models import Trade
from tests.simfixture import SimHandle, ws_client

SBE_QUERY = "?sbeSchemaId=1&sbeSchemaVersion=2"
PUBLIC = ("BookDelta", "BboUpdate", "TradeEvent", "MarketSummaryUpdate", "FundingUpdate")


def test_every_engine_event_encodes_in_every_sbe_version() -> None:
    ex = Exchange(default_markets())
    market = SyntheticMarket(ex, random.Random(3))
    now = 1_700_000_000_000
    encoded = 0
    for step in range(400):
        now += 50
        events: list[VenueEvent] = list(market.step(now))
        for name in ex.markets:  # the engine accrues on a 1e-8 grid: force ~28 decimals here
            ex.funding_index[name] += Decimal(3_600_000 * (step % 7 + 1)) / 7 ** (step % 5 + 20)
            events.append(ex.funding_data(name))
            events.append(ex.market_summary(name))
        for event in events:
            if type(event).__name__ not in PUBLIC:
                continue
            wire = convert.to_wire(event)
            for version in range(sbe.SCHEMA_VERSION + 1):
                sbe.encode(wire, version=version)
                encoded += 1
    assert encoded > 5000
    assert any(ex.funding_index[m].as_tuple().exponent < -20 for m in ex.markets), "no deep index reached"


async def _control(sim: SimHandle, path: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=sim.control_url) as c:
        body: dict[str, Any] = (await c.get(path)).json()
    return body


async def test_a_poisoned_sbe_subscription_costs_no_one_else_a_frame(simulator: SimHandle) -> None:
    sim = simulator
    venue = sim.venue
    poison = TradeEvent(id="9" * 28, market="BTC-USD-PERP", side=Side.BUY,
                        size=Decimal("1E+12"), price=Decimal("65000"), created_at=venue.now_ms())
    async with ws_client(sim) as json_ws, ws_client(sim, query=SBE_QUERY) as sbe_ws:
        await json_ws.subscribe("order_book.BTC-USD-PERP.deltas")
        await sbe_ws.subscribe("trades.BTC-USD-PERP")
        await sbe_ws.subscribe("bbo.BTC-USD-PERP")
        snapshot = (await json_ws.next_push("order_book.BTC-USD-PERP.deltas"))["params"]["data"]
        expected_deltas = 0
        for _ in range(30):  # each batch: the poisoned trade between the step's book events
            events = venue.synthetic.step(venue.now_ms())
            expected_deltas += sum(1 for e in events
                                   if type(e).__name__ == "BookDelta" and e.market == "BTC-USD-PERP")
            venue.publish([*events[:1], poison, *events[1:]])
        await json_ws.quiet(0.5)
        await sbe_ws.quiet(0.5)
        health = await _control(sim, "/healthz")
        conns = (await _control(sim, "/ws/connections"))["connections"]
    deltas = [p["params"]["data"] for p in json_ws.pushes if p["params"]["data"]["update_type"] == "d"]
    seqs = [snapshot["seq_no"]] + [d["seq_no"] for d in deltas]
    gaps = sum(1 for a, b in itertools.pairwise(seqs) if b != a + 1)
    assert gaps == 0 and len(deltas) == expected_deltas > 20
    decoded = [sbe.decode(f) for f in sbe_ws.binary]
    assert any(type(d).__name__ == "Bbo" for d in decoded), "the poisoned client lost its other channel"
    assert not any(isinstance(d, Trade) and d.id == poison.id for d in decoded)
    assert health["sbe_encode_errors"] == 30 and health["push_errors"] == 0
    poisoned = next(c for c in conns if c["sbe_version"] == 2)
    assert poisoned["sbe_dropped"] == 30


async def test_the_poisoned_client_is_told_once_per_channel(simulator: SimHandle) -> None:
    sim = simulator
    venue = sim.venue
    poison = TradeEvent(id="9" * 28, market="BTC-USD-PERP", side=Side.SELL,
                        size=Decimal("0.000000001"), price=Decimal("65000"), created_at=venue.now_ms())
    async with ws_client(sim, query=SBE_QUERY) as ws:
        await ws.subscribe("trades.BTC-USD-PERP")
        for _ in range(3):
            venue.publish([poison])
        notices: list[dict[str, Any]] = []
        while True:
            try:
                msg = await ws._read(0.5)
            except TimeoutError:
                break
            if msg is not None:
                notices.append(msg)
        sub = await ws.call("subscribe", {"channel": "bbo.BTC-USD-PERP"})
    assert len(notices) == 1, notices
    error = notices[0]["error"]
    assert notices[0]["id"] is None and error["code"] == -32603
    assert error["data"]["channel"] == "trades.BTC-USD-PERP" and "decimals" in error["data"]["reason"]
    assert "result" in sub  # the session goes on


async def test_sbe_trade_seq_is_the_book_sequence_after_the_execution(simulator: SimHandle) -> None:
    sim = simulator
    _, ask = sim.best()
    async with ws_client(sim, query=SBE_QUERY) as ws, ws_client(sim, auth=True) as fills, sim.authed() as c:
        await ws.subscribe("trades.BTC-USD-PERP")
        await fills.subscribe("fills.BTC-USD-PERP")
        await c.post("/orders", json=sim.order("BUY", "0.01", str(ask)))
        sim.venue.process_now()
        fill = (await fills.next_push("fills.BTC-USD-PERP"))["params"]["data"]
        frame = await ws.next_binary()
    block = sbe.TEMPLATES[1].block.unpack_from(frame, 8)
    assert block[1] == fill["orderbook_seq_no"] > 0


async def test_sbe_book_frames_carry_the_api_top_and_no_interactive_one(simulator: SimHandle) -> None:
    sim = simulator
    bid, ask = sim.best()
    async with ws_client(sim, query=SBE_QUERY) as ws:
        await ws.subscribe("order_book.BTC-USD-PERP.deltas")
        frame = await ws.next_binary()
    fields = dict(zip((f.name for f in sbe.TEMPLATES[3].fields), sbe.TEMPLATES[3].block.unpack_from(frame, 8),
                      strict=True))
    assert fields["bestBidApiPrice"] == int(bid * 10**8) and fields["bestAskApiPrice"] == int(ask * 10**8)
    assert fields["bestBidPrice"] == fields["bestAskPrice"] == fields["relativeSpread"] == -(2**63)
