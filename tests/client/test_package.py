"""The client installs and imports without the services, and its venue records match theirs."""

from __future__ import annotations

import json
import subprocess
import sys
import typing
from pathlib import Path

import msgspec
import pytest

from shared.client import records
from shared.paradex.models import account as venue

ROOT = Path(__file__).resolve().parents[2]
ALLOWED_OURS = ("shared", "shared.client", "shared.rediskeys")
ALLOWED_THIRD_PARTY = {"httpx", "httpcore", "h11", "anyio", "sniffio", "idna", "certifi", "msgspec",
                       "typing_extensions", "exceptiongroup", "h2", "hpack", "hyperframe", "brotli",
                       "zstandard",
                       # httpx imports its optional command-line extras when they are installed
                       "click", "pygments", "rich"}


def test_importing_the_client_loads_only_httpx_msgspec_and_its_own_modules() -> None:
    code = ("import sys, json; before = set(sys.modules); import shared.client, shared.client.ccxt, "
            "shared.client.cli; print(json.dumps(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    ours = [m for m in loaded if m.split(".")[0] in ("shared", "services")]
    assert [m for m in ours if not (m in ALLOWED_OURS or m.startswith("shared.client."))] == []
    stdlib = set(sys.stdlib_module_names)
    third = {m.split(".")[0] for m in loaded} - stdlib - {"shared"} - {m for m in loaded if m.startswith("_")}
    assert third <= ALLOWED_THIRD_PARTY, third - ALLOWED_THIRD_PARTY


def _hints(cls: type) -> dict[str, object]:
    return typing.get_type_hints(cls, include_extras=False)


@pytest.mark.parametrize("name", ["RequestInfo", "Order", "Fill", "Position", "Account", "Balance"])
def test_every_field_of_the_venue_models_is_in_the_client_record_with_the_same_type(name: str) -> None:
    ours, theirs = getattr(records, name), getattr(venue, name)
    mine, services = _hints(ours), _hints(theirs)
    assert list(mine) == list(services), set(mine) ^ set(services)
    for field, typ in services.items():
        t = typing.get_args(typ)[0] if typing.get_origin(typ) is typing.Annotated else typ
        if t == venue.RequestInfo | None:
            t = records.RequestInfo | None
        assert mine[field] == t, (name, field, mine[field], t)


def test_a_full_venue_order_decodes_into_the_client_record_unchanged() -> None:
    from tests.state.test_service_harness import order

    o = order("1", account="0xabc", status="OPEN")
    data = msgspec.json.encode(o)
    mine = msgspec.json.decode(data, type=records.Order)
    fields = o.__struct_fields__
    assert {f: getattr(mine, f) for f in fields} == {f: getattr(o, f) for f in fields}
    assert msgspec.json.decode(b'{"id":"2","new_field":1}', type=records.Order).id == "2"
