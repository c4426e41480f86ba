"""Order signing speed: ours vs starknet-py, plus verification speed and the PROTOCOL 4.2 vector.

Run ``python -m bench.signer [n_orders]``. Prints human lines, then LAST one JSON line with
``sign_order_p50_ms`` (typed-data hash + ECDSA, ours), ``reference_p50_ms`` (starknet-py
TypedData hash + message_signature on a subset of the same orders), ``speedup``, ``verify_p50_ms``
(hash + verify, as the simulator does per order), ``vector_ok`` and more. Target: sign <= 1.0 ms.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from decimal import Decimal
from typing import Any

from shared.paradex import stark
from shared.paradex.signer import ORDER_FIELDS, OrderSigner, order_hash, parse_signature, verify

CHAIN = "PRIVATE_SN_PARACLEAR_MAINNET"
VECTOR_ACCOUNT = "0x49ddd7a564c978f6e4089ff8355b56a42b7e2d48ba282cb5aad60f04bea0ec3"
VECTOR_HASH = 0x3B31F32272BD43BCDF4666FC6C4CA3AE5A341ED0B1C0F49FFA1654BD769C1F7
REFERENCE_SUBSET = 20  # starknet-py needs ~100 ms per signature

Order = tuple[str, str, str, str, str, int]


def _orders(n: int, rng: random.Random) -> list[Order]:
    out = []
    for i in range(n):
        size = str(Decimal(rng.randrange(1, 10**9)).scaleb(-rng.randrange(0, 9)))
        price = str(Decimal(rng.randrange(1, 10**12)).scaleb(-rng.randrange(0, 9)))
        out.append((rng.choice(["BTC-USD-PERP", "ETH-USD-PERP", "SOL-USD-PERP"]), rng.choice(["BUY", "SELL"]),
                    "LIMIT", size, price, 1_700_000_000_000 + i))
    return out


def _p50_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 4)


def _reference(key: int, account: str, order: Order) -> tuple[int, tuple[int, int]]:
    from starknet_py.hash.utils import message_signature
    from starknet_py.utils.typed_data import TypedData

    market, side, otype, size, price, ts = order
    data: Any = {
        "domain": {"name": "Paradex", "chainId": CHAIN, "version": "1"},
        "primaryType": "Order",
        "types": {"StarkNetDomain": [{"name": f, "type": "felt"} for f in ("name", "chainId", "version")],
                  "Order": [{"name": f, "type": "felt"} for f in ORDER_FIELDS]},
        "message": {"timestamp": str(ts), "market": market, "side": "1" if side == "BUY" else "2",
                    "orderType": otype, "size": str(int(Decimal(size).scaleb(8))),
                    "price": str(int(Decimal(price).scaleb(8)))},
    }
    msg = int(TypedData.from_dict(data).message_hash(int(account, 16)))
    r, s = message_signature(msg, key)
    return msg, (r, s)


def main(argv: list[str]) -> dict[str, Any]:
    n = int(argv[0]) if argv else 500
    rng = random.Random(42)
    key = rng.randrange(1, stark.EC_ORDER)
    account = hex(rng.randrange(1, 2**251))

    t0 = time.perf_counter()
    signer = OrderSigner(key, account, CHAIN)  # builds the generator table once
    setup_ms = (time.perf_counter() - t0) * 1000
    print(f"setup (generator table, public key): {setup_ms:.1f} ms")

    orders = _orders(n, rng)
    for o in orders[:20]:  # warm caches (short strings, prefix)
        signer.sign_order(*o)
    sign_times, cpu_times, sigs = [], [], []
    for o in orders:
        c, t = time.thread_time(), time.perf_counter()
        sigs.append(signer.sign_order(*o))
        sign_times.append(time.perf_counter() - t)
        cpu_times.append(time.thread_time() - c)
    hash_times = []
    for o in orders:
        t = time.perf_counter()
        order_hash(CHAIN, account, *o)
        hash_times.append(time.perf_counter() - t)
    print(f"ours: sign_order (hash+sign) p50 {_p50_ms(sign_times)} ms over {n}; hash only p50 "
          f"{_p50_ms(hash_times)} ms")

    t0 = time.perf_counter()
    verify(signer.public_key, 1, 1, 1)  # builds the per-key table
    key_table_ms = (time.perf_counter() - t0) * 1000
    verify_times, all_valid = [], True
    for o, sig in zip(orders, sigs, strict=True):
        t = time.perf_counter()
        ok = verify(signer.public_key, order_hash(CHAIN, account, *o), *parse_signature(sig))
        verify_times.append(time.perf_counter() - t)
        all_valid &= ok
    print(f"ours: verify (hash+parse+verify) p50 {_p50_ms(verify_times)} ms; first-use key table "
          f"{key_table_ms:.1f} ms; all valid: {all_valid}")

    ref_times, ref_equal = [], True
    for o, sig in zip(orders[:REFERENCE_SUBSET], sigs, strict=False):
        t = time.perf_counter()
        _, ref_sig = _reference(key, account, o)
        ref_times.append(time.perf_counter() - t)
        ref_equal &= ref_sig == parse_signature(sig)
    print(f"starknet-py: hash+sign p50 {_p50_ms(ref_times)} ms over {len(ref_times)}; identical "
          f"signatures: {ref_equal}")

    vector = order_hash(CHAIN, VECTOR_ACCOUNT, "BTC-USD-PERP", "BUY", "LIMIT", "0.01", "30000.5",
                        1_700_000_000_000)
    vector_ok = vector == VECTOR_HASH
    print(f"PROTOCOL 4.2 vector: {hex(vector)} ok={vector_ok}")

    p50 = _p50_ms(sign_times)
    return {
        "sign_order_p50_ms": p50,
        "sign_order_p99_ms": round(sorted(sign_times)[int(0.99 * (n - 1))] * 1000, 4),
        # CPU time of this thread: the wall-clock tail above is other processes on a busy machine.
        "sign_order_cpu_p99_ms": round(sorted(cpu_times)[int(0.99 * (n - 1))] * 1000, 4),
        "hash_order_p50_ms": _p50_ms(hash_times),
        "reference_p50_ms": _p50_ms(ref_times),
        "speedup": round(_p50_ms(ref_times) / p50, 1),
        "verify_p50_ms": _p50_ms(verify_times),
        "verify_per_s": round(1000 / _p50_ms(verify_times)),
        "signatures_identical_to_reference": ref_equal,
        "all_signatures_verify": all_valid,
        "vector_ok": vector_ok,
        "setup_ms": round(setup_ms, 1),
        "n_orders": n,
        "target_sign_ms": 1.0,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
