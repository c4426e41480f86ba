"""The commands API's OpenAPI declarations: every answer of every route, by route name.

:mod:`services.commands.api` registers the routes; :data:`DOC` says what each one takes and
answers (the typed reply Structs of :mod:`services.commands.core.messages`), and
:func:`shared.openapi_doc.install` renders the document from both once. A new route is documented
by adding its :class:`~shared.openapi_doc.Operation` here under the route's name (the OpenAPI test
fails for a route without one).
"""

from __future__ import annotations

from services.commands.algo import AlgoList, AlgoReply, PlaceAlgo
from services.commands.core.messages import (
    BatchItem,
    BatchReply,
    CancelBatch,
    CommandReply,
    ErrorReply,
    KillReply,
    KillRequest,
    ModifyOrder,
    PlaceBatch,
    PlaceOrder,
    RecordReply,
)
from services.commands.core.place import API_BATCH_MAX
from shared.openapi_doc import ApiDoc, Operation, Param, Reply

CMD = CommandReply
ERR = ErrorReply
SEQ, REPLAY, RETRY, WAIT_TIMEOUT = "X-Stream-Seq", "Idempotent-Replay", "Retry-After", "Wait-Timeout"
TIMING = "Server-Timing"
HEADERS = {
    SEQ: {"description": "The ACCOUNT stream sequence of the command's intent event (read-your-"
                         "writes: pass it as the state service's `min_seq`)",
          "schema": {"type": "integer", "minimum": 1}},
    REPLAY: {"description": "`true`: the stored answer of an earlier request with this client_id",
             "schema": {"type": "string", "enum": ["true"]}},
    RETRY: {"description": "Seconds to wait before trying again",
            "schema": {"type": "integer", "minimum": 1}},
    WAIT_TIMEOUT: {"description": "`true`: no WebSocket confirmation within `timeout_s`",
                   "schema": {"type": "string", "enum": ["true"]}},
    "WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}},
    TIMING: {"description": "When a venue request left: `hub;dur=<ms>` (arrival to the venue request "
                            "leaving) and `venue;dur=<ms>` (the venue's answer), e.g. "
                            "`hub;dur=0.912, venue;dur=1.104`",
             "schema": {"type": "string"}},
}
CLIENT_ID_PATTERN = "^[A-Za-z0-9_.:-]{1,64}$"
ORDER_ID_PATTERN = "^[0-9]{1,64}$"

CLIENT_ID = Param("client_id", "path", description="The order's client id (1-64 of [A-Za-z0-9_.:-])",
                  schema={"pattern": CLIENT_ID_PATTERN})
ORDER_ID = Param("order_id", "path", description="The venue's exchange order id (1-64 digits)",
                 schema={"pattern": ORDER_ID_PATTERN})
MARKET = Param("market", description="Only this market (e.g. BTC-USD-PERP)", schema={"maxLength": 64})

UNAUTHORIZED = Reply(401, "UNAUTHORIZED (`bearer_token`): no valid `Authorization: Bearer <token>`", ERR,
                     ("WWW-Authenticate",))
INTERNAL = Reply(500, "INTERNAL: an unexpected error, logged; retrying with the same client_id is safe", ERR)
UNAVAILABLE = Reply(503, "REDIS_UNAVAILABLE / BUS_UNAVAILABLE: nothing was sent; retry later", ERR, (RETRY,))
TOO_LARGE = Reply(413, "BODY_TOO_LARGE (`max_body_bytes`)", ERR)
INVALID = Reply(422, "A broken rule or a malformed body (`rule` names it: schema, price_tick, "
                     "finite_number, client_id, order_id, batch_size...)", ERR)
FORBIDDEN = Reply(403, "Outside the strategy's limits or ownership (`rule`: allowed_markets, "
                       "max_order_notional, max_position, kill_switch, ownership...)", ERR)
BODY_ERRORS = (TOO_LARGE, INTERNAL)

PLACE_REPLIES = (
    Reply(200, "`wait=ws`: the WebSocket's status of the order (`open`, `closed`...)", CMD,
          (SEQ, REPLAY, TIMING)),
    Reply(201, "`accepted` by the venue, with its order record", CMD, (SEQ, REPLAY, TIMING)),
    Reply(202, "`submitted` (`wait=none`), `unknown` (the venue's answer proves nothing: resolved by "
               "lookup, never by resending) or `pending` (`wait=ws` timed out)", CMD,
          (SEQ, REPLAY, WAIT_TIMEOUT, TIMING)),
    Reply(400, "`rejected` by the venue (`error` is the venue's code)", CMD, (SEQ, REPLAY, TIMING)),
    FORBIDDEN,
    Reply(409, "CLIENT_ID_TAKEN: the client_id belongs to another strategy", ERR),
    INVALID,
    Reply(429, "RATE_LIMITED (ours, an ErrorReply) or the venue's 429 (`rejected`)", (ERR, CMD),
          (RETRY, SEQ, REPLAY, TIMING)),
    Reply(503, "`not_sent` (nothing reached the venue: send it again with the same client_id) or "
               "REDIS_UNAVAILABLE / BUS_UNAVAILABLE", (CMD, ERR), (RETRY, SEQ, REPLAY, TIMING)),
    *BODY_ERRORS,
)


def _batch(status: int, what: str) -> Reply:
    what = f"Every item {what} (one result per item, in order)"
    return Reply(status, what, (BatchReply, ERR), (SEQ, REPLAY, TIMING))


BATCH_REPLIES = (
    Reply(200, "Every item answered 200 (replays of earlier `wait=ws` places)", BatchReply,
          (SEQ, REPLAY, TIMING)),
    Reply(201, "Every item `accepted`", BatchReply, (SEQ, REPLAY, TIMING)),
    Reply(202, "Every item `submitted` (`wait=none`) or `unknown`", BatchReply, (SEQ, REPLAY, TIMING)),
    Reply(207, "Items answered differently: each result's `http_status`", BatchReply, (SEQ, REPLAY, TIMING)),
    Reply(400, "Every item `rejected` by the venue", BatchReply, (SEQ, REPLAY, TIMING)),
    Reply(403, "Every item outside the limits", BatchReply, (SEQ, REPLAY, TIMING)),
    Reply(409, "Every item's client_id belongs to another strategy", BatchReply, (SEQ, REPLAY, TIMING)),
    _batch(422, f"broke a rule, or the batch is malformed (BATCH_SIZE_OUT_OF_RANGE: 1 to {API_BATCH_MAX})"),
    Reply(429, "RATE_LIMITED", (BatchReply, ERR), (RETRY, SEQ, REPLAY, TIMING)),
    Reply(503, "Every item `not_sent`, or REDIS_UNAVAILABLE / BUS_UNAVAILABLE", (BatchReply, ERR),
          (RETRY, SEQ, REPLAY, TIMING)),
    TOO_LARGE,
    _batch(500, "failed unexpectedly (SIGNING_FAILED), or INTERNAL"),
)

VENUE_REFUSED = Reply(400, "`rejected` by the venue", CMD, (SEQ, RETRY))
VENUE_UNKNOWN_ORDER = Reply(404, "`rejected`: the venue knows no such order (it is looked up)", CMD, (SEQ,))
VENUE_429 = Reply(429, "RATE_LIMITED (ours) or the venue's 429 (`rejected`)", (ERR, CMD), (RETRY, SEQ))
VENUE_503 = Reply(503, "`not_sent` (nothing changed: safe to send again) or REDIS_UNAVAILABLE / "
                       "BUS_UNAVAILABLE", (CMD, ERR), (RETRY, SEQ))
CANCEL_REPLIES = (
    Reply(202, "`cancel_requested` (the venue took the cancel) or `unknown` (looked up)", CMD, (SEQ,)),
    VENUE_REFUSED, FORBIDDEN, VENUE_UNKNOWN_ORDER, INVALID, VENUE_429, VENUE_503, INTERNAL,
)
CANCEL_ALL_REPLIES = (
    Reply(200, "The strategy's own orders, cancelled through the batch cancel: `results` per order", CMD,
          (SEQ,)),
    *CANCEL_REPLIES,
)
KILL_REPLIES = (
    Reply(200, "The switch as it now is (`cancel`: the cancel a kill sent)", KillReply, (SEQ,)),
    Reply(403, "NOT_STRATEGY_OWNER: a strategy's token switches only that strategy", ERR),
    Reply(422, "STRATEGY_NOT_FOUND, or a malformed body", ERR),
    Reply(503, "KILL_NOT_RECORDED: the event could not be stored (this replica acted); send it again",
          ERR, (RETRY,)),
    *BODY_ERRORS,
)
KILL_DESCRIPTION = ("The admin token (`COMMANDS_ADMIN_TOKEN`) acts on the whole account, or on "
                    "`strategy`; a strategy's token acts on that strategy. Send either as the bearer token.")

ALGO = AlgoReply
ALGO_ID = Param("algo_id", "path", description="The venue's algo order id (1-64 digits)",
                schema={"pattern": ORDER_ID_PATTERN})
ALGO_VENUE = (
    Reply(202, "`unknown`: the venue's answer proves nothing (check GET /v1/algo/orders before sending "
               "again: algo orders carry no client id)", ALGO),
    Reply(400, "`rejected` by the venue (`error` is its code)", ALGO),
    Reply(404, "`rejected`: the venue knows no such algo order", ALGO),
    Reply(429, "RATE_LIMITED (the account's venue write budget, an ErrorReply) or the venue's 429 "
               "(`rejected`)", (ERR, ALGO), (RETRY,)),
    Reply(503, "`not_sent` (nothing reached the venue) or REDIS_UNAVAILABLE / BUS_UNAVAILABLE",
          (ALGO, ERR), (RETRY,)),
    FORBIDDEN, INVALID, INTERNAL,
)
ALGO_PLACE_REPLIES = (
    Reply(201, "`accepted` by the venue, with its algo record", ALGO, (SEQ,)),
    *ALGO_VENUE, TOO_LARGE,
)
ALGO_CANCEL_REPLIES = (
    Reply(200, "`cancel_requested`: the venue queued the cancel; the algo's record after it", ALGO, (SEQ,)),
    *ALGO_VENUE,
)
ALGO_LIST_REPLIES = (
    Reply(200, "The venue's open (NEW/OPEN) algo orders, with the strategy that placed each", AlgoList),
    Reply(400, "VENUE_REFUSED: the venue refused the read", ERR),
    Reply(503, "VENUE_UNAVAILABLE: the venue did not answer the read", ERR),
    INTERNAL,
)

OPERATIONS: dict[str, Operation] = {
    "place": Operation(PLACE_REPLIES, body=PlaceOrder),
    "place_batch": Operation(BATCH_REPLIES, body=PlaceBatch),
    "command": Operation((
        Reply(200, "The stored outcome (`state` pending|done, `http_status` and `reply` as a duplicate "
                   "would get them)", RecordReply, (SEQ,)),
        Reply(403, "NOT_ORDER_OWNER: another strategy's client_id", ERR),
        Reply(404, "COMMAND_NOT_FOUND", ERR),
        Reply(422, "INVALID_CLIENT_ID", ERR),
        UNAVAILABLE, INTERNAL,
    ), params=(CLIENT_ID,)),
    "cancel_batch": Operation((
        Reply(200, "Per order: the venue's status (QUEUED_FOR_CANCELLATION, NOT_FOUND...) or FORBIDDEN",
              CMD, (SEQ,)),
        VENUE_REFUSED,
        Reply(422, "BATCH_SIZE_OUT_OF_RANGE (at most 100 ids), INVALID_ORDER_ID / INVALID_CLIENT_ID, or a "
                   "malformed body", ERR),
        VENUE_429, VENUE_503, *BODY_ERRORS,
    ), body=CancelBatch),
    "cancel_by_client_id": Operation(CANCEL_REPLIES, params=(CLIENT_ID, MARKET)),
    "modify": Operation((
        Reply(200, "`modify_requested`, with the venue's order record", CMD, (SEQ,)),
        Reply(202, "`unknown`: the venue's answer does not say whether it acted (looked up)", CMD, (SEQ,)),
        VENUE_REFUSED, FORBIDDEN, VENUE_UNKNOWN_ORDER,
        Reply(422, "A broken rule (`modify_unchanged_fields`, price_tick...), an invalid order id, a "
                   "malformed body", ERR),
        VENUE_429, VENUE_503, *BODY_ERRORS,
    ), params=(ORDER_ID,), body=ModifyOrder),
    "cancel": Operation(CANCEL_REPLIES, params=(ORDER_ID,)),
    "cancel_all": Operation(CANCEL_ALL_REPLIES, params=(MARKET,)),
    "place_algo": Operation(ALGO_PLACE_REPLIES, body=PlaceAlgo),
    "cancel_algo": Operation(ALGO_CANCEL_REPLIES, params=(ALGO_ID,)),
    "list_algos": Operation(ALGO_LIST_REPLIES, params=(MARKET,)),
    "kill": Operation(KILL_REPLIES, body=KillRequest, description=KILL_DESCRIPTION),
    "resume": Operation(KILL_REPLIES, body=KillRequest, description=KILL_DESCRIPTION),
    "healthz": Operation((
        Reply(200, "Ready: `ok` true, with the service's view of its dependencies", dict),
        Reply(503, "Not ready: `ok` false", dict),
    ), secured=False),
    "prometheus": Operation((Reply(200, "Prometheus text exposition", str, media_type="text/plain"),),
                            secured=False),
}

DOC = ApiDoc(
    OPERATIONS,
    scheme=("bearer", {"type": "http", "scheme": "bearer",
                       "description": "A strategy's token (`COMMANDS_STRATEGIES`), or for /v1/kill and "
                                      "/v1/resume the admin token"}),
    unauthorized=UNAUTHORIZED,
    headers=HEADERS,
    fields={(BatchItem, "reply"): (CMD, ERR), (RecordReply, "reply"): (CMD, ERR)},
    secured=lambda path: path.startswith("/v1/"),
)
