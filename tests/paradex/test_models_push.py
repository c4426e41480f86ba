"""decode_push / decode_frame: typed data per channel family, unknown channels, replies, errors."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from shared.errors import DecodeError
from shared.paradex.models import (
    Account,
    AuthResult,
    BalanceEvent,
    Bbo,
    BookUpdate,
    Fill,
    FundingData,
    JsonRpcErrorResponse,
    JsonRpcRequest,
    JsonRpcResponse,
    MarketSummary,
    Order,
    OrderCreateResult,
    Position,
    Push,
    SubscribeResult,
    SubscriptionParams,
    SubscriptionPush,
    Trade,
    Tradebust,
    decode,
    decode_frame,
    decode_push,
    decode_result,
    encode,
    model_for_channel,
)
from tests.paradex.test_models_account import ACCOUNT, BALANCE_EVENT, FILL, ORDER, POSITION, TRADEBUST
from tests.paradex.test_models_market_data import BBO, BOOK_DELTA, FUNDING, SUMMARY, TRADE

CHANNELS: list[tuple[str, dict[str, Any], type[Any]]] = [
    ("order_book.BTC-USD-PERP.deltas", BOOK_DELTA, BookUpdate),
    ("order_book.BTC-USD-PERP.snapshot@15@50ms@0_1", BOOK_DELTA, BookUpdate),
    ("bbo.BTC-USD-PERP", BBO, Bbo),
    ("trades.ALL", TRADE, Trade),
    ("markets_summary", SUMMARY, MarketSummary),
    ("markets_summary.BTC-USD-PERP", SUMMARY, MarketSummary),
    ("funding_data.BTC-USD-PERP", FUNDING, FundingData),
    ("orders.ALL", ORDER, Order),
    ("fills.BTC-USD-PERP", FILL, Fill),
    ("positions", POSITION, Position),
    ("account", ACCOUNT, Account),
    ("balance_events", BALANCE_EVENT, BalanceEvent),
    ("tradebusts", TRADEBUST, Tradebust),
]


def _frame(channel: str, data: Any, *, compact: bool = True) -> bytes:
    msg = {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}}
    return json.dumps(msg, separators=(",", ":") if compact else None).encode()


@pytest.mark.parametrize(("channel", "data", "model"), CHANNELS, ids=[c[0] for c in CHANNELS])
def test_push_is_typed_by_channel_family(channel: str, data: dict[str, Any], model: type[Any]) -> None:
    push = decode_push(_frame(channel, data))
    assert push.channel == channel
    assert isinstance(push.data, model)
    assert push.data == decode(model, json.dumps(data))
    assert model_for_channel(channel) is model


@pytest.mark.parametrize(("channel", "data", "model"), CHANNELS, ids=[c[0] for c in CHANNELS])
def test_other_layouts_take_general_path_with_same_result(
    channel: str, data: dict[str, Any], model: type[Any]
) -> None:
    spaced = _frame(channel, data, compact=False)
    reordered = json.dumps({"params": {"data": data, "channel": channel}, "method": "subscription",
                            "jsonrpc": "2.0"}).encode()
    expected = decode_push(_frame(channel, data))
    for frame in (spaced, reordered, spaced.decode()):
        push = decode_push(frame)
        assert (push.channel, push.data) == (expected.channel, expected.data)


def test_unknown_channel_gives_raw_data_not_an_error() -> None:
    data = {"event_type": "UPDATED", "symbol": "BTC-USD-PERP", "updated_at": 1, "changed_fields": {}}
    push = decode_push(_frame("markets.BTC-USD-PERP", data))
    assert push.channel == "markets.BTC-USD-PERP"
    assert isinstance(push.data, msgspec.Raw)
    assert json.loads(bytes(push.data)) == data
    assert model_for_channel("funding_payments.BTC-USD-PERP") is None


def test_malformed_push_data_names_the_path_in_the_frame() -> None:
    bad = {**BOOK_DELTA, "inserts": [{"side": "BUY", "price": "1.2.3", "size": "1"}]}
    with pytest.raises(DecodeError) as err:
        decode_push(_frame("order_book.BTC-USD-PERP.deltas", bad))
    assert err.value.field == "$.params.data.inserts[0].price"


def test_push_missing_required_field_names_it() -> None:
    bad = {k: v for k, v in ORDER.items() if k != "remaining_size"}
    with pytest.raises(DecodeError) as err:
        decode_push(_frame("orders.ALL", bad))
    assert err.value.field == "$.params.data.remaining_size"


@pytest.mark.parametrize(
    "frame", [b"", b"[1,2]", b'{"jsonrpc":"2.0"}', b"\xff\xfe", b'{"method":"subscription"']
)
def test_garbage_frames_raise_decode_error(frame: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_push(frame)


def test_reply_is_not_a_push() -> None:
    with pytest.raises(DecodeError) as err:
        decode_push(b'{"jsonrpc":"2.0","result":{"channel":"orders.ALL"},"id":2}')
    assert err.value.field == "$.method"


def test_decode_frame_classifies_success_reply_and_decodes_result() -> None:
    frame = (b'{"jsonrpc":"2.0","result":{"node_id":"73cf456f7cb78d59"},"usIn":1710522972729581,'
             b'"usOut":1710522972729618,"usDiff":37,"id":1}')
    reply = decode_frame(frame)
    assert isinstance(reply, JsonRpcResponse)
    assert reply.id == 1 and reply.usDiff == 37
    assert decode_result(AuthResult, reply) == AuthResult(node_id="73cf456f7cb78d59")


def test_decode_frame_classifies_error_reply() -> None:
    frame = (b'{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid subscribe request",'
             b'"data":"no parameters expected for deltas topic."},"usIn":1,"usOut":2,"usDiff":1,"id":"7"}')
    reply = decode_frame(frame)
    assert isinstance(reply, JsonRpcErrorResponse)
    assert reply.id == "7" and reply.error.code == -32600
    assert reply.error.data == "no parameters expected for deltas topic."


def test_decode_frame_passes_pushes_through() -> None:
    push = decode_frame(_frame("trades.ALL", TRADE))
    assert isinstance(push, Push) and isinstance(push.data, Trade)


def test_decode_result_error_path_is_rebased() -> None:
    reply = decode_frame(b'{"jsonrpc":"2.0","result":{"order":{"id":1}},"id":3}')
    assert isinstance(reply, JsonRpcResponse)
    with pytest.raises(DecodeError) as err:
        decode_result(OrderCreateResult, reply)
    assert err.value.field == "$.result.order.id"


def test_order_create_result_decodes_openrpc_shape_without_stp() -> None:
    order = {k: v for k, v in ORDER.items() if k != "stp"}
    frame = json.dumps({"jsonrpc": "2.0", "id": 9, "result": {
        "order": order, "created_at": 1696291200000, "received_at": 1696291200123456789}}).encode()
    reply = decode_frame(frame)
    assert isinstance(reply, JsonRpcResponse)
    result = decode_result(OrderCreateResult, reply)
    assert result.order.stp == "" and result.received_at == 1696291200123456789


def test_encoded_push_and_request_round_trip() -> None:
    order = decode(Order, json.dumps(ORDER))
    push = SubscriptionPush(params=SubscriptionParams(channel="orders.ALL", data=order))
    decoded = decode_push(encode(push))
    assert decoded.channel == "orders.ALL" and decoded.data == push.params.data
    request = JsonRpcRequest(method="subscribe", params={"channel": "orders.ALL"}, id=2)
    assert json.loads(encode(request)) == {
        "jsonrpc": "2.0", "method": "subscribe", "id": 2, "params": {"channel": "orders.ALL"}}
    bare = JsonRpcRequest(method="order.cancel_all", id="x")
    assert json.loads(encode(bare)) == {"jsonrpc": "2.0", "method": "order.cancel_all", "id": "x"}
    assert decode(JsonRpcRequest, encode(request)) == request
    sub = decode(SubscribeResult, b'{"channel":"markets_summary","add":["SOL-USD-PERP"],"remove":[]}')
    assert sub.add == ["SOL-USD-PERP"] and sub.remove == []


def test_typed_push_values_are_exact_decimals() -> None:
    push = decode_push(_frame("bbo.BTC-USD-PERP", BBO))
    assert isinstance(push.data, Bbo) and push.data.bid_value == Decimal("30112.22")


def test_bbo_and_summary_pushes_with_empty_book_sides_decode_without_error() -> None:
    bbo = decode_push(_frame("bbo.BTC-USD-PERP", {**BBO, "bid": "", "bid_size": ""})).data
    assert isinstance(bbo, Bbo) and bbo.bid_value is None and bbo.ask_value == Decimal(BBO["ask"])
    empty = dict.fromkeys(("bid", "bid_size", "ask", "ask_size", "last_traded_price"), "")
    summary = decode_push(_frame("markets_summary", {**SUMMARY, **empty})).data
    assert isinstance(summary, MarketSummary)
    assert summary.bid_value is None and summary.last_traded_price_value is None
    assert summary.mark_price_value == Decimal(SUMMARY["mark_price"])
