"""Pure core of the commands service: no asyncio, NATS, Redis, HTTP or clock (``ids`` alone reads
the clock and the random source, both injectable).

* ``messages``: every HTTP body (requests, typed replies, the :class:`Answer` encoded once);
* ``answers``: the answer of each outcome (status, body, headers);
* ``rules`` / ``risk`` / ``strategies``: validation, limits, identities;
* ``place``: the place pipeline's decisions (a single place is a batch of one);
* ``outcome``: what a venue answer proves (definite, ambiguous, not sent);
* ``events``: the command events each step publishes;
* ``exposure``: the account's live orders and positions, folded from the state's change stream;
* ``bucket`` / ``ids``: the token bucket, client ids.
"""
