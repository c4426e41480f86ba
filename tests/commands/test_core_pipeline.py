"""The pure decisions of the place pipeline, the batch-answer matching, the answers and the
exposure book; and that ``services/commands/core`` does no I/O."""

from __future__ import annotations

import ast
from decimal import Decimal as D
from pathlib import Path

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from services.commands.core import answers, place
from services.commands.core.exposure import ExposureBook, OrderRecord
from services.commands.core.messages import CommandReply, PlaceOrder, encode_body
from services.commands.core.outcome import Accepted, Rejected, Unknown, match_batch
from services.commands.core.risk import Exposure, LiveOrder
from services.commands.core.strategies import Strategy
from shared.paradex.models.account import Order
from shared.paradex.models.reference import Market
from shared.paradex.models.rest import ApiError

M = "BTC-USD-PERP"
MARKET = msgspec.convert(
    {
        "symbol": M,
        "price_tick_size": "0.1",
        "order_size_increment": "0.001",
        "min_notional": "10",
        "max_order_size": "100",
    },
    Market,
)
CTX = place.Context(markets={M: MARKET}, system_status="ok", prices={M: D(50000)}, now_ms=1)
MM = Strategy(name="mm", token="t" * 16, max_open_orders_per_market=3, max_position=D("0.05"))


def order(size: str = "0.01", price: str = "50000", cid: str | None = None) -> PlaceOrder:
    return PlaceOrder(market=M, side="BUY", size=D(size), price=D(price), client_id=cid)


def test_plan_refuses_broken_rules_and_repeated_ids_and_keeps_the_rest_in_order() -> None:
    orders = [order(cid="a"), order(price="50000.05", cid="b"), order(cid="a"), order(size="NaN", cid="c")]
    items, refused = place.plan(orders, ["a", "b", "a", "c"], CTX)
    assert [(i.index, i.client_id) for i in items] == [(0, "a")]
    assert {k: getattr(v.body, "error", "") for k, v in refused.items()} == {
        1: "PRICE_NOT_ON_TICK",
        2: "DUPLICATE_CLIENT_ID",
        3: "NUMBER_NOT_FINITE",
    }
    assert all(v.status == 422 for v in refused.values())


def test_plan_refuses_everything_while_the_kill_switch_is_on() -> None:
    from services.commands.core.rules import Violation

    killed = place.Context(
        markets=CTX.markets,
        system_status="ok",
        prices=CTX.prices,
        now_ms=1,
        killed=Violation(error="KILL_SWITCH", rule="kill_switch", message="x", status=403),
    )
    items, refused = place.plan([order(cid="a")], ["a"], killed)
    assert items == [] and refused[0].status == 403


def test_within_limits_counts_earlier_items_and_reserved_orders_against_later_ones() -> None:
    items, _ = place.plan([order(size="0.02", cid=c) for c in "abcd"], list("abcd"), CTX)
    passed, refused = place.within_limits(MM, items, fresh_exposure())
    assert [i.client_id for i in passed] == ["a", "b"]  # 0.02 + 0.02 <= 0.05 < 0.06
    assert {getattr(a.body, "error", "") for a in refused.values()} == {"POSITION_LIMIT"}
    reserved = [LiveOrder("x", M, "BUY", D("0.04"), "other")]
    passed, _ = place.within_limits(MM, items, fresh_exposure(), reserved)
    assert passed == []  # 0.04 reserved elsewhere + 0.02 > 0.05


def test_reservations_are_read_only_for_the_markets_a_limit_that_counts_them_reads() -> None:
    items, _ = place.plan([order(cid="a"), order(cid="b")], ["a", "b"], CTX)
    assert place.reservation_markets(MM, items) == {M}
    assert place.reservation_markets(Strategy(name="mm", token="t" * 16, max_position=D(1)), items) == {M}
    assert place.reservation_markets(
        Strategy(name="mm", token="t" * 16, max_open_orders_per_market=1), items
    ) == {M}
    unlimited = Strategy(name="mm", token="t" * 16, max_order_notional=D(10**6))
    assert place.reservation_markets(unlimited, items) == frozenset()
    reserved = [LiveOrder("x", M, "BUY", D("1000"), "mm")]  # what the empty set skips changes nothing
    assert place.within_limits(unlimited, items, fresh_exposure(), reserved)[0] == items


def fresh_exposure() -> Exposure:
    return ExposureBook().exposure


def test_chunks_of_ten_and_the_batch_status() -> None:
    items, _ = place.plan([order(cid=str(i)) for i in range(23)], [str(i) for i in range(23)], CTX)
    assert [len(c) for c in place.chunks(items)] == [10, 10, 3]
    assert place.batch_status([201, 201]) == 201 and place.batch_status([201, 422]) == 207


def _order(cid: str, oid: str) -> Order:
    return msgspec.convert(
        {
            "id": oid,
            "account": "0x1",
            "market": M,
            "side": "BUY",
            "type": "LIMIT",
            "size": "1",
            "remaining_size": "1",
            "price": "1",
            "status": "NEW",
            "created_at": 1,
            "last_updated_at": 1,
            "timestamp": 1,
            "cancel_reason": "",
            "client_id": cid,
            "seq_no": 1,
            "instruction": "GTC",
            "avg_fill_price": "",
            "received_at": 1,
            "published_at": 1,
            "flags": [],
            "trigger_price": "",
        },
        Order,
    )


def test_batch_answer_matched_by_client_id_by_error_data_then_in_order_and_missing_is_unknown() -> None:
    cids = ["a", "b", "c", "d"]
    errors = [ApiError(error="E1", message="m1"), ApiError(error="E2", message="", data={"client_id": "b"})]
    out = match_batch(cids, [_order("c", "3")], errors)
    assert isinstance(out[2], Accepted) and out[2].order.id == "3"
    assert out[1] == Rejected(code="E2", message="", http_status=400)
    assert out[0] == Rejected(code="E1", message="m1", http_status=400)
    assert isinstance(out[3], Unknown)


def test_a_replay_and_the_seq_never_edit_bytes_and_wait_timeout_keeps_the_accepted_body() -> None:
    acked = answers.accepted("a", _order("a", "7"), seq=5)
    assert acked.seq == 5 and isinstance(acked.body, CommandReply) and acked.body.seq == 5
    pending = answers.wait_timed_out(acked)
    body = msgspec.json.decode(encode_body(pending.body))
    assert (pending.status, body["status"], body["order_id"], body["seq"]) == (202, "pending", "7", 5)
    assert pending.headers["Wait-Timeout"] == "true"
    again = answers.replayed(pending)
    assert again.headers[answers.REPLAY_HEADER] == "true" and again.body is pending.body


# ------------------------------------------------------------------------------ exposure book


def rec(cid: str, oid: str = "", status: str = "OPEN", size: str = "1") -> bytes:
    record = OrderRecord(client_id=cid, id=oid, market=M, side="BUY", remaining_size=D(size), status=status)
    return msgspec.json.encode(record)


def test_linking_a_client_key_to_the_exchange_id_keeps_the_order_whatever_the_entry_order() -> None:
    for entries in (
        [("client:a", 1, rec("a")), ("client:a", 2, None), ("9", 2, rec("a", "9"))],
        [("client:a", 1, rec("a")), ("9", 2, rec("a", "9")), ("client:a", 2, None)],
    ):
        book = ExposureBook()
        for key, seq, value in entries:
            book.apply("order", key, seq, value)
        assert list(book.exposure.orders) == ["a"] and book.by_order_id == {"9": "a"}, entries
        book.apply("order", "9", 3, rec("a", "9", "CLOSED"))
        assert book.exposure.orders == {}


def test_an_entry_older_than_the_record_held_is_ignored_and_inflight_gives_way_to_the_state() -> None:
    book = ExposureBook()
    book.add_inflight(LiveOrder("a", M, "BUY", D(1), "mm"), now=0.0)
    assert book.exposure.orders["a"].owner == "mm"
    book.apply("order", "client:a", 5, rec("a", size="0.5"))
    assert book.inflight == {} and book.exposure.orders["a"].remaining == D("0.5")
    assert book.exposure.orders["a"].owner == "mm"
    book.apply("order", "client:a", 4, rec("a", status="CLOSED"))  # stale: ignored
    assert "a" in book.exposure.orders
    book.add_inflight(LiveOrder("b", M, "BUY", D(1), "mm"), now=0.0)
    book.expire_inflight(31.0, 30.0)
    assert "b" not in book.exposure.orders


STATUSES = st.sampled_from(["OPEN", "NEW", "CLOSED", "REJECTED", None])


@given(st.lists(st.tuples(st.sampled_from("abc"), STATUSES, st.booleans()), max_size=40))
def test_the_book_holds_exactly_the_orders_whose_latest_record_is_live(
    changes: list[tuple[str, str | None, bool]],
) -> None:
    """Whatever the sequence of changes (``client:`` keys, exchange-id keys, deletions, in any
    order), an order is live exactly when its latest record is live and its key still holds it."""
    book = ExposureBook()
    latest: dict[str, tuple[str, str] | None] = {}
    holder: dict[str, str] = {}  # key -> client id of the record it holds
    for seq, (cid, status, linked) in enumerate(changes, start=1):
        key = f"9{ord(cid)}" if linked else f"client:{cid}"
        if status is None:
            book.apply("order", key, seq, None)
            gone = holder.pop(key, None)
            if gone is not None and (latest.get(gone) or ("", ""))[0] == key:
                latest[gone] = None
        else:
            book.apply("order", key, seq, rec(cid, key if linked else "", status))
            previous = holder.get(key)
            if previous is not None and previous != cid and (latest.get(previous) or ("", ""))[0] == key:
                latest[previous] = None
            holder[key] = cid
            latest[cid] = (key, status)
    live = {c for c, last in latest.items() if last is not None and last[1] not in ("CLOSED", "REJECTED")}
    assert set(book.exposure.orders) == live


# ------------------------------------------------------------------------------ purity

FORBIDDEN = {
    "asyncio",
    "redis",
    "nats",
    "httpx",
    "fastapi",
    "starlette",
    "uvicorn",
    "websockets",
    "socket",
    "time",
    "datetime",
    "random",
    "os",
}


def test_the_commands_core_imports_no_io_clock_or_randomness() -> None:
    core = Path(__file__).resolve().parents[2] / "services" / "commands" / "core"
    for path in sorted(core.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN or path.name == "ids.py", (path.name, name)


def test_number_rules_and_order_ids() -> None:
    from services.commands.core.rules import check_number, check_order_id

    ok = ["0", "0E-30", "1.000000000000000000000000", "0.000000000000000001", "999999999999999", "-5"]
    assert all(check_number("size", D(x)) is None for x in ok)
    bad = {
        "NaN": "finite_number",
        "-sNaN": "finite_number",
        "-Infinity": "finite_number",
        "1E+15": "number_range",
        "-1e300": "number_range",
        "0.0000000000000000001": "number_precision",
        "1e-400": "number_precision",
    }
    for x, rule in bad.items():
        v = check_number("price", D(x))
        assert v is not None and (v.rule, v.status) == (rule, 422) and "price" in v.message, x
    assert check_order_id("1681462103821101699438490000") is None
    for x in ("", "1" * 65, "12a", "?market=X", "1\x00", "\uff11\uff12"):  # full-width: not digits
        assert check_order_id(x) is not None, x


def test_an_order_the_view_shows_before_its_owner_is_known_still_counts_for_its_owner() -> None:
    book = ExposureBook()
    book.apply("order", "client:x", 1, rec("x"))  # shown by the state, owner not learnt yet
    reserved = [LiveOrder("x", M, "BUY", D("0.01"), "mm")]  # another replica's reservation
    assert book.exposure.open_orders("mm", M, reserved) == 1
    book.set_owners({"x": "mm"})
    assert book.exposure.open_orders("mm", M, reserved) == 1  # counted once
