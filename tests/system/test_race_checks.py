"""The race suite's checkers catch what they claim to (so a green race run means something)."""

from __future__ import annotations

from decimal import Decimal

from shared.client import StateClient
from tests.system.races import Obs, Poller, check_fills_visible, diff

TRUTH = {"busted_fill_ids": [], "orders": [{"client_id": "c1", "size": "1"}],
         "fills": [{"id": "f1", "client_id": "c1", "created_at": 1_000_000, "size": "1"}]}


def _poller(*obs: Obs) -> Poller:
    p = Poller(StateClient("http://127.0.0.1:9"))
    p.observations.extend(obs)
    return p


def test_filled_order_still_open_after_the_allowance_is_reported() -> None:
    late = _poller(Obs(1_000.300, 7, {"c1": ("OPEN", Decimal(0))}))
    out = check_fills_visible(late, TRUTH, 250)
    assert len(out) == 1 and out[0].startswith("filled order reported open: c1")


def test_fill_within_the_allowance_or_visible_is_fine() -> None:
    ok = _poller(Obs(1_000.100, 7, {"c1": ("OPEN", Decimal(0))}),
                 Obs(1_000.400, 8, {"c1": ("CLOSED", Decimal(1))}))
    assert check_fills_visible(ok, TRUTH, 250) == []
    in_outage = _poller(Obs(1_001.0, 9, {"c1": ("OPEN", Decimal(0))}))
    assert check_fills_visible(in_outage, TRUTH, 250, [(999.0, 1_000.5)]) == []


def test_diff_names_each_differing_entity() -> None:
    state = {"orders": {"1": ("c1", "OPEN")}, "fills": {}}
    truth = {"orders": {"1": ("c1", "CLOSED")}, "fills": {"f": (1,)}}
    assert diff(state, truth) == ["orders[1]: state ('c1', 'OPEN') != truth ('c1', 'CLOSED')",
                                  "fills[f]: state None != truth (1,)"]
