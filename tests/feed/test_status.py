"""StatusTracker: epochs, change-only status events, frame age and silence detection."""

from __future__ import annotations

from services.feed.core.status import StatusTracker


def test_new_connection_bumps_epoch_and_reports_authenticating() -> None:
    t = StatusTracker()
    first = t.new_connection(0.0, 10)
    second = t.new_connection(1.0, 11)
    assert (first.epoch, first.state, second.epoch, second.conn_epoch) == (1, "authenticating", 2, 2)


def test_set_returns_an_event_only_on_change() -> None:
    t = StatusTracker()
    t.new_connection(0.0, 1)
    ev = t.set("connected", 1.0, 5)
    assert ev is not None and ev.state == "connected" and ev.recv_ns == 5 and ev.source == "ws"
    assert t.set("connected", 2.0, 6) is None
    down = t.set("disconnected", 3.0, 7, "closed 1006")
    assert down is not None and down.reason == "closed 1006" and not t.connected


def test_frame_age_is_reported_in_ms_and_minus_one_before_any_frame() -> None:
    t = StatusTracker()
    t.new_connection(0.0, 1)
    assert t.snapshot(5.0, 1).last_frame_age_ms == -1
    t.frame(5.0)
    assert t.snapshot(5.25, 1).last_frame_age_ms == 250


def test_silence_is_detected_only_when_connected_and_quiet_for_the_timeout() -> None:
    t = StatusTracker()
    t.new_connection(0.0, 1)
    assert not t.silent(100.0, 1.0)  # authenticating: not judged
    t.set("connected", 10.0, 1)
    assert not t.silent(10.5, 1.0)
    assert t.silent(11.0, 1.0)  # no frame since connected
    t.frame(11.0)
    assert not t.silent(11.9, 1.0) and t.silent(12.0, 1.0)
