"""msgspec models of every Paradex payload paradex-hub uses (venue field names kept as-is).

Modules: ``common`` (base, decode helpers, known enum values), ``market_data`` (public feed),
``account`` (private feed), ``requests`` (strict request bodies), ``reference`` (system/markets),
``rest`` (list/page wrappers, errors, batch results, auth), ``rpc`` (JSON-RPC envelopes),
``push`` (fast frame decoding), ``algo`` (TWAP algo orders), ``records`` (funding payments,
liquidations).
"""

from shared.paradex.models.account import (
    Account,
    Balance,
    BalanceEvent,
    Fill,
    Order,
    Position,
    RequestInfo,
    Tradebust,
)
from shared.paradex.models.algo import AlgoOrder, AlgoOrderRequest, AlgoType
from shared.paradex.models.common import (
    BookUpdateType,
    CancelStatus,
    DecimalText,
    FillType,
    Instruction,
    Liquidity,
    Model,
    OrderFlag,
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    Stp,
    SystemStatus,
    convert,
    decode,
    decoder,
    encode,
    opt_decimal,
    validation_error,
)
from shared.paradex.models.market_data import (
    Bbo,
    BookLevel,
    BookUpdate,
    FundingData,
    Greeks,
    MarketSummary,
    OrderBook,
    RollingDetails,
    Trade,
)
from shared.paradex.models.push import (
    CHANNEL_MODELS,
    Push,
    PushData,
    decode_frame,
    decode_push,
    decode_result,
    model_for_channel,
)
from shared.paradex.models.records import FundingPayment, Liquidation
from shared.paradex.models.reference import (
    BridgedToken,
    Delta1CrossMarginParams,
    FeeWithCap,
    MakerTakerFee,
    Market,
    MarketFeeConfig,
    OptionCrossMarginParams,
    OptionMarginParams,
    SystemConfig,
    SystemState,
    SystemTime,
)
from shared.paradex.models.requests import (
    CancelBatchRequest,
    InstructionLiteral,
    ModifyOrderRequest,
    OrderFlagLiteral,
    OrderRequest,
    OrderTypeLiteral,
    SideLiteral,
    StpLiteral,
)
from shared.paradex.models.rest import (
    ApiError,
    AuthResponse,
    BatchOrderResponse,
    CancelBatchResponse,
    CancelOrderResult,
    OnboardingCheck,
    OnboardingDerivationInfo,
    Page,
    Results,
)
from shared.paradex.models.rpc import (
    AuthResult,
    CancelAllResult,
    CancelOnDisconnectResult,
    JsonRpcErrorResponse,
    JsonRpcRequest,
    JsonRpcResponse,
    OrderBatchItem,
    OrderBatchResult,
    OrderCancelResult,
    OrderCreateResult,
    RpcError,
    RpcId,
    SubscribeResult,
    SubscriptionParams,
    SubscriptionPush,
)

__all__ = [
    "CHANNEL_MODELS", "Account", "AlgoOrder", "AlgoOrderRequest", "AlgoType", "ApiError", "AuthResponse",
    "AuthResult", "Balance", "BalanceEvent", "BatchOrderResponse", "Bbo", "BookLevel", "BookUpdate",
    "BookUpdateType", "BridgedToken", "CancelAllResult", "CancelBatchRequest", "CancelBatchResponse",
    "CancelOnDisconnectResult", "CancelOrderResult", "CancelStatus", "DecimalText",
    "Delta1CrossMarginParams", "FeeWithCap", "Fill", "FillType", "FundingData", "FundingPayment",
    "Greeks", "Instruction", "InstructionLiteral", "JsonRpcErrorResponse", "JsonRpcRequest",
    "JsonRpcResponse", "Liquidation", "Liquidity", "MakerTakerFee", "Market", "MarketFeeConfig",
    "MarketSummary", "Model", "ModifyOrderRequest", "OnboardingCheck", "OnboardingDerivationInfo",
    "OptionCrossMarginParams", "OptionMarginParams", "Order", "OrderBatchItem", "OrderBatchResult",
    "OrderBook", "OrderCancelResult", "OrderCreateResult", "OrderFlag", "OrderFlagLiteral",
    "OrderRequest", "OrderStatus", "OrderType", "OrderTypeLiteral", "Page", "Position", "PositionSide",
    "Push", "PushData", "RequestInfo", "Results", "RollingDetails", "RpcError", "RpcId", "Side",
    "SideLiteral", "Stp", "StpLiteral", "SubscribeResult", "SubscriptionParams", "SubscriptionPush",
    "SystemConfig", "SystemState", "SystemStatus", "SystemTime", "Trade", "Tradebust", "convert",
    "decode", "decode_frame", "decode_push", "decode_result", "decoder", "encode", "model_for_channel",
    "opt_decimal", "validation_error",
]
