"""The audit trail (one line per command and per outcome) and JSON logs (service, tracebacks)."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import httpx
import pytest

from shared import log as logsetup
from tests.commands.helpers import Factory, M, auth
from tests.simfixture import SimHandle

FIELDS = (
    "op",
    "strategy",
    "client_id",
    "order_id",
    "market",
    "side",
    "size",
    "price",
    "result",
    "http_status",
    "error",
    "venue_ms",
)


def lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    out = []
    for r in caplog.records:
        if r.name == "commands.audit":
            out.append({"event": r.getMessage(), **{k: getattr(r, k) for k in FIELDS if hasattr(r, k)}})
    return out


async def test_every_command_and_every_outcome_leaves_one_line_with_its_fields(
    simulator: SimHandle, start_commands: Factory, caplog: pytest.LogCaptureFixture, unique: str
) -> None:
    cmd = await start_commands(simulator)
    caplog.set_level(logging.INFO, logger="commands.audit")
    ok = (await cmd.place(client_id=f"mm-a1-{unique}")).json()
    await cmd.place(client_id=f"mm-a2-{unique}", price="50000.05")  # refused: off the tick
    async with httpx.AsyncClient(base_url=simulator.control_url) as ctl:
        await ctl.post(
            "/rest/errors", json={"kind": "status", "status": 400, "path": "/v1/orders", "method": "POST"}
        )
    await cmd.place(client_id=f"mm-a3-{unique}")  # the venue refuses it
    await cmd.place(client_id=f"mm-a1-{unique}")  # a replay
    await cmd.client.put(
        f"/v1/orders/{ok['order_id']}",
        headers=auth("mm"),
        json={"market": M, "side": "BUY", "size": "0.02", "price": "50000"},
    )
    await cmd.client.delete(f"/v1/orders/{ok['order_id']}", headers=auth("mm"))
    got = lines(caplog)
    assert all("op" in x for x in got), got
    assert [(x["event"], x["op"]) for x in got] == [("command", "place"), ("outcome", "place")] * 4 + [
        ("command", "modify"),
        ("outcome", "modify"),
        ("command", "cancel"),
        ("outcome", "cancel"),
    ]
    first = got[1]
    assert (first["strategy"], first["client_id"], first["order_id"], first["market"], first["side"]) == (
        "mm",
        f"mm-a1-{unique}",
        ok["order_id"],
        M,
        "BUY",
    )
    assert (first["size"], first["price"], first["result"], first["http_status"]) == (
        "0.01",
        "50000",
        "accepted",
        201,
    )
    assert first["venue_ms"] > 0
    assert (got[3]["result"], got[3]["error"], got[3]["http_status"]) == ("refused", "PRICE_NOT_ON_TICK", 422)
    assert "venue_ms" not in got[3]
    assert (got[5]["result"], got[5]["error"], got[5]["http_status"]) == ("rejected", "INTERNAL_ERROR", 400)
    assert got[7]["result"] == "replayed" and got[7]["order_id"] == ok["order_id"]
    assert (got[9]["result"], got[9]["order_id"]) == ("modify_requested", ok["order_id"]) and got[9][
        "venue_ms"
    ] > 0
    assert (got[11]["result"], got[11]["http_status"]) == ("cancel_requested", 202) and got[11][
        "venue_ms"
    ] > 0


def test_json_logs_carry_the_service_and_tracebacks_as_json() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logsetup.setup("INFO", "json", service="commands")
        root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
        logging.getLogger("commands.audit").info("outcome", extra={"client_id": "c1", "result": "accepted"})
        try:
            try:
                raise KeyError("inner")
            except KeyError as exc:
                raise RuntimeError("outer") from exc
        except RuntimeError:
            logging.getLogger("commands.api").exception("place failed")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    audit, failure = (json.loads(x) for x in stream.getvalue().strip().splitlines())
    assert (audit["service"], audit["logger"], audit["msg"], audit["client_id"]) == (
        "commands",
        "commands.audit",
        "outcome",
        "c1",
    )
    assert failure["service"] == "commands" and failure["level"] == "error"
    exc = failure["exc"]
    assert (exc["type"], exc["message"], exc["cause"]["type"]) == ("RuntimeError", "outer", "KeyError")
    assert (
        exc["frames"]
        and exc["frames"][-1]["function"] == "test_json_logs_carry_the_service_and_tracebacks_as_json"
    )
    assert "Traceback" in exc["text"]
