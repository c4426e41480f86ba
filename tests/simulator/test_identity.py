"""Account address derivation (GET /onboarding) against starknet-py's reference implementation."""

from __future__ import annotations

import pytest
from starknet_py.hash.address import compute_address
from starknet_py.hash.selector import get_selector_from_name

from services.simulator.identity import ACCOUNT_CLASS_HASH, ACCOUNT_PROXY_CLASS_HASH, account_address
from shared.paradex.signer import OrderSigner
from tests.simfixture import SimHandle


@pytest.mark.parametrize("public_key", [1, 0x1234567, 2**250 + 12345])
def test_account_address_is_the_paraclear_proxy_address(public_key: int) -> None:
    calldata = [int(ACCOUNT_CLASS_HASH, 16), get_selector_from_name("initialize"), 2, public_key, 0]
    expected = compute_address(class_hash=int(ACCOUNT_PROXY_CLASS_HASH, 16), constructor_calldata=calldata,
                               salt=public_key)
    assert account_address(public_key) == hex(expected)


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
