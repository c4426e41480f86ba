"""The simulated chain's identity: class hashes, contract addresses and ``/system/config`` values.

Account addresses follow Paraclear's derivation (what ``GET /onboarding`` answers and what the
official SDK computes locally): the address of a proxy contract of class
``paraclear_account_proxy_hash`` deployed with salt = public key and constructor calldata
``[paraclear_account_hash, selector("initialize"), 2, public_key, 0]``. The class hashes are the
spec's example values, so an address derived by a client from ``/system/config`` is the one the
simulator reports. Pure (no I/O).
"""

from __future__ import annotations

from shared.paradex.typed_data import encode_short_string, hash_on_elements, starknet_keccak

ACCOUNT_CLASS_HASH = "0x033434ad846cdd5f23eb73ff09fe6fddd568284a0fb7d1be20ee482f044dabe2"
ACCOUNT_PROXY_CLASS_HASH = "0x3530cc4759d78042f1b543bf797f5f3d647cde0388c33734cf91b7f7b9314a9"
EVM_ACCOUNT_CLASS_HASH = "0x6a1776d1d3a0b1c5c7e9b0e4b1d9b1f3f9b3f1c2d7b9a1e6b3c5d7f9a1b3c5d"
PARACLEAR_ADDRESS = "0x4638e3041366aa71720be63e32e53e1223316c7f0d56f7aa617542ed1e7554d"
ORACLE_ADDRESS = "0x47c622ce5f7ff7fa17725df596f4f506364e49be0621eb142a75b44ee3689c6"
UNIVERSAL_DEPLOYER_ADDRESS = "0x41a78e741e5af2fec34b695679bc6891742439f7afb8484ecd7766661ad02bf"
L1_ADDRESS = "0x63e762538C70442758Fd622116d817761c94FD6A"
USDC_L2_TOKEN = "0x7348407ebad690fec0cc8597e87dc16ef7b269a655ff72587dafff83d462be2"

_CONTRACT_ADDRESS_PREFIX = encode_short_string("STARKNET_CONTRACT_ADDRESS")
_ADDRESS_BOUND = 2**251 - 256
_INITIALIZE = starknet_keccak(b"initialize")


def contract_address(class_hash: int, calldata: list[int], salt: int, deployer: int = 0) -> int:
    """Starknet's ``calculate_contract_address_from_hash`` (Pedersen, revision 0)."""
    digest = hash_on_elements(
        [_CONTRACT_ADDRESS_PREFIX, deployer, salt, class_hash, hash_on_elements(calldata)]
    )
    return digest % _ADDRESS_BOUND


def account_address(public_key: int) -> str:
    """The Paraclear account address of a Stark public key (lower-case hex)."""
    calldata = [int(ACCOUNT_CLASS_HASH, 16), _INITIALIZE, 2, public_key, 0]
    return hex(contract_address(int(ACCOUNT_PROXY_CLASS_HASH, 16), calldata, salt=public_key))
