"""The Redis key schema of the state service (documented in README.md, "Redis key schema").

Account keys live under ``pdx:<account>:``, market data under ``pdx:md:``. Every value is JSON
``{"seq": <stream sequence it reflects>, "value": <record>}``, the same body HTTP serves.
"""

from __future__ import annotations

MD = "pdx:md"


class Keys:
    """Key names for one account (``account`` = ``settings.account_token``)."""

    def __init__(self, account: str) -> None:
        a = self.base = f"pdx:{account}"
        self.orders = f"{a}:orders"  # hash: order key -> status
        self.positions = f"{a}:positions"  # set of markets
        self.balances = f"{a}:balances"  # set of tokens
        self.fills = f"{a}:fills"  # zset: fill id scored by venue time (capped)
        self.account = f"{a}:account"
        self.feed = f"{a}:feed"
        self.reconciliation = f"{a}:reconciliation"
        self.health = f"{a}:health"
        self.seq = f"{a}:seq"
        self.changes = f"{a}:changes"  # stream of account change notifications
        self.checkpoint = f"{a}:checkpoint"  # hash: seq; the dump in list <checkpoint>:state
        self.md_changes = f"{MD}:changes"  # stream of (coalesced) market-data changes

    def order(self, key: str) -> str:
        return f"{self.base}:order:{key}"

    def position(self, market: str) -> str:
        return f"{self.base}:position:{market}"

    def balance(self, token: str) -> str:
        return f"{self.base}:balance:{token}"

    def fill(self, fill_id: str) -> str:
        return f"{self.base}:fill:{fill_id}"

    @staticmethod
    def md(kind: str, market: str) -> str:
        """``pdx:md:<kind>:<market>`` for book, bbo, venue_bbo, trade, summary, funding."""
        return f"{MD}:{kind}:{market}"
