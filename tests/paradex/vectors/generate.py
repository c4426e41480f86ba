"""Generate ``starknet_py.json``: reference values from starknet-py for the signer's exact-equality tests.

starknet-py (and its crypto-cpp-py) is slow (~100 ms a signature) and pins old dependencies, so it
is not a dependency of the project: this script ran once and its output is committed. It imports
nothing from the project; the inputs are drawn from fixed seeds, so a re-run gives the same file.

Refresh (only if a reference value must change, e.g. a new signed type)::

    python3 -m venv /tmp/vectors && /tmp/vectors/bin/pip install starknet-py==0.30.0
    /tmp/vectors/bin/python tests/paradex/vectors/generate.py   # rewrites starknet_py.json beside it
"""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

from crypto_cpp_py.cpp_bindings import cpp_get_public_key
from crypto_cpp_py.utils import cpp_generate_k_rfc6979
from starknet_py import constants
from starknet_py.hash.address import compute_address
from starknet_py.hash.selector import get_selector_from_name
from starknet_py.hash.utils import (
    compute_hash_on_elements,
    message_signature,
    pedersen_hash,
    verify_message_signature,
)
from starknet_py.utils.typed_data import TypedData

OUT = Path(__file__).with_name("starknet_py.json")
CHAIN = "PRIVATE_SN_PARACLEAR_MAINNET"
VECTOR_ACCOUNT = "0x49ddd7a564c978f6e4089ff8355b56a42b7e2d48ba282cb5aad60f04bea0ec3"
VECTOR_HASH = 0x3B31F32272BD43BCDF4666FC6C4CA3AE5A341ED0B1C0F49FFA1654BD769C1F7
ORDER_FIELDS = ["timestamp", "market", "side", "orderType", "size", "price"]
MARKETS = ["BTC-USD-PERP", "ETH-USD-PERP", "SOL-USD-PERP", "BTC-USD-100000-C", "A" * 31]
TYPES = ["LIMIT", "MARKET", "STOP_LIMIT", "STOP_MARKET", "TAKE_PROFIT_LIMIT"]
DOMAIN_TYPE = [{"name": n, "type": "felt"} for n in ("name", "chainId", "version")]
P = constants.FIELD_PRIME
N = constants.EC_ORDER


def typed_hash(
    primary: str, fields: list[str], message: dict[str, Any], account: str, chain: str = CHAIN
) -> int:
    td = TypedData.from_dict(
        {
            "domain": {"name": "Paradex", "chainId": chain, "version": "1"},
            "primaryType": primary,
            "types": {"StarkNetDomain": DOMAIN_TYPE, primary: [{"name": f, "type": "felt"} for f in fields]},
            "message": message,
        }
    )
    return int(td.message_hash(int(account, 16)))


def order_message(market: str, side: str, otype: str, size: str, price: str, ts: int) -> dict[str, str]:
    """The paradex-py construction: Decimal.scaleb(8) strings, price 0 for MARKET."""
    return {
        "timestamp": str(ts),
        "market": market,
        "side": "1" if side == "BUY" else "2",
        "orderType": otype,
        "size": str(int(Decimal(size).scaleb(8))),
        "price": "0" if otype == "MARKET" else str(int(Decimal(price).scaleb(8))),
    }


def random_order(rng: random.Random) -> dict[str, Any]:
    size = Decimal(rng.randrange(1, 10**12)).scaleb(-rng.randrange(0, 9))
    price = Decimal(rng.randrange(1, 10**13)).scaleb(-rng.randrange(0, 9))
    return {
        "market": rng.choice(MARKETS),
        "side": rng.choice(["BUY", "SELL"]),
        "order_type": rng.choice(TYPES),
        "size": str(size),
        "price": str(price),
        "timestamp_ms": rng.randrange(1_600_000_000_000, 1_900_000_000_000),
    }


def order_hash(account: str, o: dict[str, Any], order_id: str | None = None, chain: str = CHAIN) -> int:
    message = order_message(o["market"], o["side"], o["order_type"], o["size"], o["price"], o["timestamp_ms"])
    fields, primary = list(ORDER_FIELDS), "Order"
    if order_id is not None:
        message["id"], primary = order_id, "ModifyOrder"
        fields.append("id")
    return typed_hash(primary, fields, message, account, chain)


def h(v: int) -> str:
    return hex(v)


def main() -> None:
    rng = random.Random(20240601)
    out: dict[str, Any] = {
        "generator": "starknet-py 0.30.0 / crypto-cpp-py (tests/paradex/vectors/generate.py)",
        "field_prime": h(P),
        "ec_order": h(N),
    }
    edge = [
        (0, 0),
        (1, 0),
        (0, 1),
        (P - 1, P - 1),
        (2**248 - 1, 2**248),
        (2**248, 2**248 - 1),
        (7 << 248, 3),
        (8 << 248, 2**248 - 1),
    ]
    pairs = edge + [(rng.randrange(0, P), rng.randrange(0, P)) for _ in range(150)]
    pairs += [(rng.randrange(0, P), rng.randrange(0, 2 ** rng.randrange(1, 64))) for _ in range(50)]
    out["pedersen"] = [[h(a), h(b), h(pedersen_hash(a, b))] for a, b in pairs]
    lists = [[], [1, 2, 3], *([rng.randrange(0, P) for _ in range(rng.randrange(1, 9))] for _ in range(10))]
    out["hash_on_elements"] = [[[h(v) for v in vs], h(compute_hash_on_elements(vs))] for vs in lists]

    orders = []
    for _ in range(200):
        account = hex(rng.randrange(1, 2**251))
        o = random_order(rng)
        orders.append({"account": account, **o, "hash": h(order_hash(account, o))})
    out["orders"] = orders
    modifies = []
    for _ in range(40):
        account = hex(rng.randrange(1, 2**251))
        o = random_order(rng)
        oid = str(rng.randrange(10**27, 10**28))
        modifies.append({"account": account, **o, "order_id": oid, "hash": h(order_hash(account, o, oid))})
    out["modifies"] = modifies
    auths = []
    for _ in range(20):
        account = hex(rng.randrange(1, 2**251))
        ts = rng.randrange(1_600_000_000, 1_900_000_000)
        exp = ts + rng.randrange(1, 7 * 86400)
        auths.append(
            {
                "account": account,
                "timestamp": ts,
                "expiration": exp,
                "hash": h(
                    typed_hash(
                        "Request",
                        ["method", "path", "body", "timestamp", "expiration"],
                        {
                            "method": "POST",
                            "path": "/v1/auth",
                            "body": "",
                            "timestamp": ts,
                            "expiration": exp,
                        },
                        account,
                    )
                ),
                "onboarding_hash": h(typed_hash("Constant", ["action"], {"action": "Onboarding"}, account)),
            }
        )
    out["auth"] = auths

    keys = [1, 2, N - 1, *(rng.randrange(1, N) for _ in range(30))]
    out["public_keys"] = [[h(k), h(cpp_get_public_key(k))] for k in keys]

    cases = [(rng.randrange(1, N), rng.randrange(0, 2**251)) for _ in range(36)]
    cases += [(rng.randrange(1, N), m) for m in (1, 2**248 + 5, 2**250 + 7, 2**251 - 1)]
    sigs = []
    for key, msg in cases:
        r, s = message_signature(msg, key)
        pub = cpp_get_public_key(key)
        assert verify_message_signature(msg, [r, s], pub)
        sigs.append(
            {
                "key": h(key),
                "msg": h(msg),
                "r": h(r),
                "s": h(s),
                "public_key": h(pub),
                "tampered_msg_verifies": bool(verify_message_signature(msg ^ 1, [r, s], pub)),
                "tampered_r_verifies": bool(verify_message_signature(msg, [r + 1, s], pub)),
            }
        )
    out["signatures"] = sigs
    out["signatures_seed_none"] = []
    for _ in range(3):
        key, msg = rng.randrange(1, N), rng.randrange(1, 2**251)
        r, s = message_signature(msg, key, seed=None)
        out["signatures_seed_none"].append({"key": h(key), "msg": h(msg), "r": h(r), "s": h(s)})
    out["rfc6979"] = []
    for seed in (None, 0, 1, 32, 300):
        for _ in range(5):
            key, msg = rng.randrange(1, N), rng.randrange(1, 2**251)
            out["rfc6979"].append(
                {"key": h(key), "msg": h(msg), "seed": seed, "k": h(cpp_generate_k_rfc6979(msg, key, seed))}
            )

    signed_orders = []
    for _ in range(25):
        key = rng.randrange(1, N)
        account = hex(rng.randrange(1, 2**251))
        o = random_order(rng)
        msg = order_hash(account, o)
        r, s = message_signature(msg, key)
        pub = cpp_get_public_key(key)
        bigger = {**o, "size": str(Decimal(o["size"]) + 1)}
        tampered = order_hash(account, bigger)
        signed_orders.append(
            {
                "key": h(key),
                "account": account,
                **o,
                "hash": h(msg),
                "r": h(r),
                "s": h(s),
                "public_key": h(pub),
                "tampered_hash": h(tampered),
                "tampered_verifies": bool(verify_message_signature(tampered, [r, s], pub)),
            }
        )
    out["signed_orders"] = signed_orders

    key = 0x1234567890ABCDEF
    r, s = message_signature(VECTOR_HASH, key)
    out["protocol_vector"] = {
        "key": h(key),
        "account": VECTOR_ACCOUNT,
        "chain": CHAIN,
        "hash": h(VECTOR_HASH),
        "r": h(r),
        "s": h(s),
        "public_key": h(cpp_get_public_key(key)),
    }
    # tests/paradex/test_auth.py: the auth headers of key 0xA11CE at 1_700_000_000 + 600 s.
    acct, now = VECTOR_ACCOUNT, 1_700_000_000
    msg = typed_hash(
        "Request",
        ["method", "path", "body", "timestamp", "expiration"],
        {"method": "POST", "path": "/v1/auth", "body": "", "timestamp": now, "expiration": now + 600},
        acct,
    )
    r, s = message_signature(msg, 0xA11CE)
    out["auth_headers"] = {
        "key": h(0xA11CE),
        "account": acct,
        "timestamp": now,
        "expiration": now + 600,
        "hash": h(msg),
        "r": h(r),
        "s": h(s),
    }
    # tests/simulator/test_identity.py: Paraclear account addresses (proxy + initialize calldata),
    # with the class hashes of services/simulator/identity.py.
    account_class, proxy_class = (
        "0x033434ad846cdd5f23eb73ff09fe6fddd568284a0fb7d1be20ee482f044dabe2",
        "0x3530cc4759d78042f1b543bf797f5f3d647cde0388c33734cf91b7f7b9314a9",
    )
    selector = get_selector_from_name("initialize")
    out["account_addresses"] = {
        "class_hash": account_class,
        "proxy_class_hash": proxy_class,
        "initialize_selector": h(selector),
        "cases": [
            [h(pk), h(compute_address(class_hash=int(proxy_class, 16), salt=pk,
                                      constructor_calldata=[int(account_class, 16), selector, 2, pk, 0]))]
            for pk in (1, 0x1234567, 2**250 + 12345)
        ],
    }
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
