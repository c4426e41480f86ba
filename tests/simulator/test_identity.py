"""Account address derivation (GET /onboarding) and /system/config contents.

The expected addresses were computed with starknet-py 0.30 (``compute_address`` with the proxy
class hash, salt = public key, calldata ``[account class hash, selector("initialize"), 2, key,
0]``), the derivation paradex-py uses locally; they are committed so no reference library is
needed here.
"""

from __future__ import annotations

import pytest

from services.simulator.identity import account_address
from shared.paradex.signer import OrderSigner
from tests.paradex.reference import backend, n, vectors
from tests.simfixture import SimHandle

__all__ = ["backend"]  # the address is a Pedersen chain: checked on every backend present


@pytest.mark.parametrize(("public_key", "expected"), [
    (1, "0x7484c552baf807a9e19fd12dd3b912e1bd156504e62a49914e23f14f4327a04"),
    (0x1234567, "0x37afaf5c50f41bddf2d58471b593c0fdacfa41aaeecc8832d12b15e876ed6b1"),
    (2**250 + 12345, "0x2e8c004271c119cc8d86a9c6256eeeef576ebae8f30b79cd873dc362037a904"),
])
def test_account_address_is_the_paraclear_proxy_address(public_key: int, expected: str, backend: str) -> None:
    assert account_address(public_key) == expected
    committed = [[c[0], hex(n(c[1]))] for c in vectors()["account_addresses"]["cases"]]
    assert [hex(public_key), expected] in committed  # the same starknet-py values, both ways


async def test_onboarding_check_derives_the_address_of_an_unknown_key(simulator: SimHandle) -> None:
    newcomer = OrderSigner("0x1abc", "0x1", simulator.chain_id)
    async with simulator.client() as c:
        unknown = (await c.get("/onboarding", params={"account_signer_type": "starknet",
                                                      "public_key": hex(newcomer.public_key)})).json()
        known = (await c.get("/onboarding", params={"account_signer_type": "starknet",
                                                    "public_key": hex(simulator.signer.public_key)})).json()
        config = (await c.get("/system/config")).json()
    assert unknown["exists"] is False and unknown["address"] == account_address(newcomer.public_key)
    assert known["exists"] is True and known["address"] == simulator.account
    assert unknown["derivation_info"] == {"class_hash": config["paraclear_account_hash"],
                                          "proxy_class_hash": config["paraclear_account_proxy_hash"]}


async def test_system_config_has_what_the_reference_clients_read(simulator: SimHandle) -> None:
    """ccxt reads l1_chain_id; paradex-py's SystemConfig requires these fourteen fields."""
    sdk_required = ("starknet_fullnode_rpc_url", "starknet_fullnode_rpc_base_url", "starknet_chain_id",
                    "block_explorer_url", "paraclear_address", "paraclear_decimals",
                    "paraclear_account_proxy_hash", "paraclear_account_hash", "oracle_address",
                    "bridged_tokens", "l1_core_contract_address", "l1_operator_address", "l1_chain_id",
                    "liquidation_fee")
    async with simulator.client() as c:
        config = (await c.get("/system/config")).json()
    assert [f for f in sdk_required if config.get(f) in (None, "", [])] == []
    assert config["starknet_chain_id"] == simulator.chain_id == "PRIVATE_SN_POTC_MOCK_SEPOLIA"
    assert config["starknet_fullnode_rpc_url"].startswith("http://127.0.0.1:")
