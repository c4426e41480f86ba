"""Balances: REST records, the ``balance_events`` chain, equal venue timestamps (pure, no clock).

A WS ``balance_events`` push carries ``settlement_asset_balance_before`` and ``_after``; the pushes
of one token form a chain (``before`` of one == ``after`` of the previous). One multi-level sweep
gives several pushes of the same venue millisecond, so their timestamps cannot order them; the
chain does. :meth:`BalanceBook.change` decides each push:

- links (``before`` == the balance we hold, not older than it): applied; held pushes that now
  link follow;
- a push we already applied (same ``before``/``after`` in this millisecond), or one older than
  what we hold, or a predecessor arriving late (its ``after`` is the ``before`` of a link applied
  in this millisecond), or one a REST record of a later or equal millisecond already covers:
  dropped (``duplicate`` / ``stale``);
- otherwise held, and a ``balance_chain`` suspect raised (:mod:`services.state.core.gaps`): either
  its predecessor is still on its way (reordered) or it was lost. When the stream passes the settle
  window with the push still held, :meth:`release` applies the held pushes in chain order (the last
  one's ``after`` is the venue's balance; the gap is counted).

REST records (``GET /balance``): a strictly newer venue timestamp wins; held pushes it covers are
dropped. Equal timestamps are decided deterministically (issue 12 item 6): an equal-time record
with our value, or with a value our chain passed through in that millisecond (a cache caught
mid-sweep), is stale; any other value is applied when the record belongs to a snapshot whose marker
came after our last live update of the token (nothing on the WebSocket since: the snapshot is the
later truth). A record without any venue timestamp can only fill a hole.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from services.state.core.counters import Counters
from services.state.core.gaps import BALANCE_CHAIN, Gaps
from services.state.core.model import BalanceState, Change, Result
from shared.paradex.models.account import Balance, BalanceEvent

_replace = msgspec.structs.replace
MAX_LINKS = 256
"""Links remembered per millisecond (a sweep has as many pushes as levels: far fewer)."""


class Held(msgspec.Struct, kw_only=True):
    """A ``balance_events`` push waiting for its predecessor (``seq``/``recv_ns`` of its event)."""

    seq: int
    recv_ns: int
    change: BalanceEvent


class Chain(msgspec.Struct, kw_only=True):
    """The chain state of one token: links applied in the head's millisecond, held pushes;
    ``ambiguous`` after a release had to guess the order of several runs (the links then prove
    nothing about a REST record of that millisecond)."""

    links: list[tuple[Decimal, Decimal]] = msgspec.field(default_factory=list)
    held: list[Held] = msgspec.field(default_factory=list)
    ambiguous: bool = False


class BalanceBook:
    """Balances by token and their chains."""

    __slots__ = ("balances", "c", "chains", "gaps")

    def __init__(self, counters: Counters, gaps: Gaps) -> None:
        self.balances: dict[str, BalanceState] = {}
        self.chains: dict[str, Chain] = {}
        self.c = counters
        self.gaps = gaps

    def _set(self, st: BalanceState, res: Result) -> None:
        self.balances[st.token] = st
        res.changes.append(Change("balance", st.token, st))

    def _stale(self, src: str, res: Result) -> bool:
        self.c.bump("stale_rest_suppressed" if src == "rest" else f"stale_{src}_balance")
        res.dropped = "stale"
        return False

    # -------------------------------------------------------------------------------- records

    def record(self, b: Balance, src: str, ts: int, seq: int, recv_ns: int, res: Result,
               marker_seq: int = 0) -> bool:
        """Merge a full balance record; ``marker_seq`` is its snapshot's start (0: none)."""
        cur = self.balances.get(b.token)
        live_seq = seq if src != "rest" else 0
        if cur is not None:
            live_seq = max(cur.last_live_seq, live_seq)
            if ts < cur.venue_ts or (ts == cur.venue_ts and not self._equal_wins(cur, b, src,
                                                                                  marker_seq)):
                if src == "rest" and b.size == cur.size:
                    self.confirmed(b.token)
                return self._stale(src, res)
        st = BalanceState(token=b.token, size=b.size, balance=b, venue_ts=ts, source=src,
                          last_live_seq=live_seq, last_recv_ns=recv_ns, stream_seq=seq)
        if cur is not None and ts == cur.venue_ts:
            self.c.bump("equal_ts_repaired")
        self._set(st, res)
        chain = self.chains.get(b.token)
        if chain is not None:
            chain.links, chain.ambiguous = [], False
        if src == "rest":
            self.c.bump("corrections")
            res.corrections += 1
        self._drain(b.token, seq, res)
        return True

    def confirmed(self, token: str) -> None:
        """The venue's REST answer agrees with the balance we hold: nothing is left to repair."""
        chain = self.chains.get(token)
        if chain is not None and not chain.held:
            chain.ambiguous = False
            self.gaps.resolve(BALANCE_CHAIN, token)

    def _equal_wins(self, cur: BalanceState, b: Balance, src: str, marker_seq: int) -> bool:
        """Item 6: may a record with the same venue millisecond as ours replace it?"""
        if src != "rest" or b.size == cur.size or not marker_seq:
            return False
        chain = self.chains.get(b.token)
        if chain is not None and not chain.ambiguous and any(b.size in link for link in chain.links):
            return False  # a point our chain passed through in this millisecond (a cache)
        return cur.last_live_seq < marker_seq

    # ------------------------------------------------------------------------------ the chain

    def change(self, ch: BalanceEvent, seq: int, recv_ns: int, res: Result) -> bool:
        """Fold one ``balance_events`` push (see the module docstring); True when applied."""
        token = ch.settlement_asset_name
        cur = self.balances.get(token)
        chain = self.chains.get(token)
        if chain is None:
            chain = self.chains[token] = Chain()
        if cur is None:
            self._link(token, chain, ch, seq, recv_ns, res)
            self._drain(token, seq, res)
            return True
        verdict = self._verdict(cur, chain, ch)
        if verdict == "link":
            self._link(token, chain, ch, seq, recv_ns, res)
            chain.ambiguous = False  # the venue's before is our balance: we hold the truth
            self._drain(token, seq, res)
            return True
        if verdict == "hold":
            chain.held.append(Held(seq=seq, recv_ns=recv_ns, change=ch))
            self.c.bump("balance_held")
            self.gaps.raise_(BALANCE_CHAIN, token, recv_ns, seq, renew=True)
            res.dropped = "held"
            return False
        self.c.bump(f"{verdict}_ws_balance")
        res.dropped = verdict
        return False

    @staticmethod
    def _verdict(cur: BalanceState, chain: Chain, ch: BalanceEvent) -> str:
        """link | duplicate | stale | hold, for a push against the balance we hold."""
        ts = ch.created_at
        before, after = ch.settlement_asset_balance_before, ch.settlement_asset_balance_after
        if ts < cur.venue_ts:
            return "stale"
        if ts == cur.venue_ts and (before, after) in chain.links:
            return "duplicate"
        if any(h.change == ch for h in chain.held):
            return "duplicate"
        if before == cur.size:
            return "link"
        if ts == cur.venue_ts and any(after == b for b, _ in chain.links):
            return "stale"  # a predecessor that arrived after its successor was applied
        if ts == cur.venue_ts and cur.source == "rest":
            return "stale"  # the REST record of this millisecond already covers it
        return "hold"

    def _link(self, token: str, chain: Chain, ch: BalanceEvent, seq: int, recv_ns: int,
              res: Result) -> None:
        cur = self.balances.get(token)
        ts = ch.created_at
        if cur is None or ts != cur.venue_ts:
            chain.links = []
        if len(chain.links) < MAX_LINKS:
            chain.links.append((ch.settlement_asset_balance_before, ch.settlement_asset_balance_after))
        b = Balance(token=token, size=ch.settlement_asset_balance_after, last_updated_at=ts)
        live = max(cur.last_live_seq, seq) if cur is not None else seq
        self._set(BalanceState(token=token, size=b.size, balance=b, venue_ts=ts, source="ws",
                               last_live_seq=live, last_recv_ns=recv_ns, stream_seq=seq), res)

    def _drain(self, token: str, seq: int, res: Result, resolve: bool = True) -> None:
        """Apply held pushes that link now; drop the ones that became stale."""
        chain = self.chains.get(token)
        if chain is None:
            return
        progress = True
        while progress and chain.held:
            progress = False
            cur = self.balances[token]
            for h in list(chain.held):
                verdict = self._verdict(cur, _without(chain, h), h.change)
                if verdict == "hold":
                    continue
                chain.held.remove(h)
                progress = True
                if verdict == "link":
                    self._link(token, chain, h.change, seq, h.recv_ns, res)
                else:
                    self.c.bump(f"{verdict}_ws_balance")
                break
        if resolve and not chain.held and not chain.ambiguous:
            self.gaps.resolve(BALANCE_CHAIN, token)

    def release(self, token: str, seq: int, res: Result) -> None:
        """The settle window passed with pushes still held: their predecessor is lost. Apply them
        in chain order: each run of held pushes that link to each other, the run that starts
        earliest first (by venue time, then arrival). With one such run the last ``after`` is the
        venue's balance; with several runs in one millisecond their order is a guess, so the
        suspect stays until a later push links or a REST record answers it."""
        chain = self.chains.get(token)
        if chain is None:
            return
        runs = 0
        while chain.held:
            afters = {h.change.settlement_asset_balance_after for h in chain.held}
            heads = [h for h in chain.held if h.change.settlement_asset_balance_before not in afters]
            first = min(heads or chain.held, key=lambda h: (h.change.created_at, h.seq))
            chain.held.remove(first)
            cur = self.balances[token]
            if first.change.created_at < cur.venue_ts or (
                    first.change.created_at == cur.venue_ts and cur.source == "rest"):
                self.c.bump("stale_ws_balance")
                continue
            runs += 1
            self.c.bump("balance_chain_gap")
            self._link(token, chain, first.change, seq, first.recv_ns, res)
            self._drain(token, seq, res, resolve=False)
        if runs > 1:
            chain.ambiguous = True
        else:
            self.gaps.resolve(BALANCE_CHAIN, token)

    # -------------------------------------------------------------------------------- absence

    def judge_absent(self, snap_id: str, start_seq: int, seen: set[str], quiet_ms: int,
                     quiet_ns: int, seq: int, res: Result) -> None:
        """Rule 4-5 for balances: a token missing from two later complete snapshots is removed."""
        for token in sorted(self.balances):
            st = self.balances[token]
            if token in seen:
                continue
            if st.last_live_seq > start_seq or st.venue_ts > quiet_ms or st.last_recv_ns > quiet_ns:
                continue
            if st.absent_in and st.absent_in != snap_id and st.absent_seq < start_seq:
                del self.balances[token]
                self.chains.pop(token, None)
                res.changes.append(Change("balance", token, None))
                self.c.bump("closed_absent_twice")
            else:
                self.balances[token] = _replace(st, absent_in=snap_id, absent_seq=seq)

    def seen_in_snapshot(self, token: str) -> None:
        """The token was present in a snapshot: clear its absence flag."""
        st = self.balances.get(token)
        if st is not None and st.absent_in:
            self.balances[token] = _replace(st, absent_in="", absent_seq=0)


def _without(chain: Chain, h: Held) -> Chain:
    """The chain as seen by held push ``h`` (itself excluded from the held duplicates check)."""
    return Chain(links=chain.links, held=[x for x in chain.held if x is not h])
