"""Signed order/modify bodies built from plain arguments verify against the venue's hash."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.config import DEV_ACCOUNT, DEV_L2_PRIVATE_KEY
from shared.errors import SigningError
from shared.paradex.models.common import decode, encode
from shared.paradex.models.requests import ModifyOrderRequest, OrderRequest
from shared.paradex.rest.orders import build_modify, build_order
from shared.paradex.signer import OrderSigner, modify_order_hash, order_hash, verify_signature

CHAIN = "PRIVATE_SN_PARACLEAR_MAINNET"


@pytest.fixture(scope="module")
def signer() -> OrderSigner:
    return OrderSigner(DEV_L2_PRIVATE_KEY, DEV_ACCOUNT, CHAIN)


def test_limit_order_is_signed_over_its_fields_and_timestamp(signer: OrderSigner) -> None:
    order = build_order(signer, market="BTC-USD-PERP", side="BUY", type="LIMIT", size="0.01",
                        price="30000.5", now_ms=1_700_000_000_123, instruction="POST_ONLY", client_id="mm-1")
    assert order.signature_timestamp == 1_700_000_000_123
    assert (order.size, order.price, order.instruction, order.client_id) == (
        Decimal("0.01"), Decimal("30000.5"), "POST_ONLY", "mm-1")
    msg = order_hash(CHAIN, DEV_ACCOUNT, "BTC-USD-PERP", "BUY", "LIMIT", "0.01", "30000.5", 1_700_000_000_123)
    assert verify_signature(signer.public_key, msg, order.signature)


def test_signature_does_not_verify_for_other_fields(signer: OrderSigner) -> None:
    order = build_order(signer, market="BTC-USD-PERP", side="SELL", type="LIMIT", size="1", price="10",
                        now_ms=1)
    other = order_hash(CHAIN, DEV_ACCOUNT, "BTC-USD-PERP", "SELL", "LIMIT", "1", "11", 1)
    assert not verify_signature(signer.public_key, other, order.signature)


def test_market_order_sends_and_signs_price_zero(signer: OrderSigner) -> None:
    order = build_order(signer, market="ETH-USD-PERP", side="SELL", type="MARKET", size="2", price=None,
                        now_ms=5, instruction="IOC", flags=["REDUCE_ONLY"])
    assert order.price == 0 and order.flags == ["REDUCE_ONLY"]
    msg = order_hash(CHAIN, DEV_ACCOUNT, "ETH-USD-PERP", "SELL", "MARKET", "2", "0", 5)
    assert verify_signature(signer.public_key, msg, order.signature)


def test_encoded_order_round_trips_through_the_wire_model(signer: OrderSigner) -> None:
    order = build_order(signer, market="BTC-USD-PERP", side="BUY", type="LIMIT", size=Decimal("0.5"),
                        price=Decimal("100.25"), now_ms=7, stp="EXPIRE_MAKER", recv_window=5000)
    wire = encode(order)
    assert b'"size":"0.5"' in wire and b"null" not in wire
    assert decode(OrderRequest, wire) == order


def test_limit_order_without_price_is_refused(signer: OrderSigner) -> None:
    with pytest.raises(SigningError):
        build_order(signer, market="BTC-USD-PERP", side="BUY", type="LIMIT", size="1", price=None, now_ms=1)


@pytest.mark.parametrize("size", [0.1, "abc", True])
def test_float_or_garbage_size_is_refused(signer: OrderSigner, size: object) -> None:
    with pytest.raises(SigningError):
        build_order(signer, market="BTC-USD-PERP", side="BUY", type="LIMIT", size=size,  # type: ignore[arg-type]
                    price="1", now_ms=1)


def test_modify_is_signed_with_the_order_id(signer: OrderSigner) -> None:
    mod = build_modify(signer, order_id="1681462103821101699438490000", market="BTC-USD-PERP", side="BUY",
                       type="LIMIT", size="0.02", price="29999", now_ms=1_700_000_000_999)
    assert isinstance(mod, ModifyOrderRequest) and mod.id == "1681462103821101699438490000"
    msg = modify_order_hash(CHAIN, DEV_ACCOUNT, "1681462103821101699438490000", "BTC-USD-PERP", "BUY",
                            "LIMIT", "0.02", "29999", 1_700_000_000_999)
    assert verify_signature(signer.public_key, msg, mod.signature)
