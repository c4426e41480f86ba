"""``stream_seq`` reads the stream sequence from the ack subject exactly as nats-py's metadata does."""

from __future__ import annotations

import pytest
from nats.aio.msg import Msg

from services.state.consumer import stream_seq

REPLIES = [
    "$JS.ACK.ACCOUNT.state-a-r.1.4711.17.1700000000000000000.3",  # v1: 9 tokens
    "$JS.ACK._.ACCHASH.ACCOUNT.state-a-r.2.4712.18.1700000000000000000.0.rAnD",  # v2: 12 tokens
    "$JS.ACK.hub.ACCHASH.ACCOUNT.state-a-r.1.99.18.1700000000000000000.0",  # v2 without the last token
]


@pytest.mark.parametrize("reply", REPLIES)
def test_stream_seq_is_the_metadata_stream_sequence(reply: str) -> None:
    msg = Msg(_client=None, subject="pdx.acct.a.orders", reply=reply, data=b"{}")  # type: ignore[arg-type]
    assert stream_seq(msg) == msg.metadata.sequence.stream


def test_a_subject_of_another_shape_goes_through_the_metadata() -> None:
    msg = Msg(_client=None, subject="x", reply="$JS.ACK.ACCOUNT.c.1.5", data=b"{}")  # type: ignore[arg-type]
    with pytest.raises(Exception):  # noqa: B017 - nats-py's own refusal, whatever its class
        stream_seq(msg)
