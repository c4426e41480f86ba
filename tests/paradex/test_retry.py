"""Backoff policy: capped exponential ceilings, full jitter, reset after a stable period."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import ConfigError
from shared.paradex.retry import Backoff, BackoffPolicy


def test_ceiling_doubles_from_initial_until_the_cap() -> None:
    policy = BackoffPolicy(initial_s=0.1, factor=2.0, max_s=1.0)
    assert [policy.ceiling(n) for n in range(6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_ceiling_of_a_huge_attempt_is_the_cap_without_overflow() -> None:
    assert BackoffPolicy(initial_s=0.1, max_s=5.0).ceiling(10_000) == 5.0


def test_delay_is_rng_fraction_of_ceiling_full_jitter() -> None:
    policy = BackoffPolicy(initial_s=1.0, factor=3.0, max_s=100.0)
    assert policy.delay(2, rng=lambda: 0.5) == pytest.approx(4.5)
    assert policy.delay(2, rng=lambda: 0.0) == 0.0
    assert policy.delay(2, rng=lambda: 1.0) == pytest.approx(9.0)


def test_delay_rejects_an_rng_outside_unit_interval() -> None:
    with pytest.raises(ValueError):
        BackoffPolicy().delay(0, rng=lambda: 1.5)


def test_negative_attempt_is_rejected() -> None:
    with pytest.raises(ValueError):
        BackoffPolicy().ceiling(-1)


@pytest.mark.parametrize("kwargs", [
    {"initial_s": 0.0}, {"initial_s": -1.0}, {"factor": 0.5}, {"initial_s": 2.0, "max_s": 1.0},
    {"stable_after_s": -1.0},
])
def test_invalid_policy_raises_config_error(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        BackoffPolicy(**kwargs)


@settings(max_examples=200, deadline=None)
@given(initial=st.floats(0.001, 10), factor=st.floats(1, 5), extra=st.floats(0, 100),
       attempt=st.integers(0, 200), seed=st.integers(0, 2**32))
def test_delay_is_never_negative_nor_above_the_cap(initial: float, factor: float, extra: float,
                                                   attempt: int, seed: int) -> None:
    policy = BackoffPolicy(initial_s=initial, factor=factor, max_s=initial + extra)
    delay = policy.delay(attempt, random.Random(seed).random)
    assert 0.0 <= delay <= policy.max_s
    assert delay <= policy.ceiling(attempt)


@settings(max_examples=100, deadline=None)
@given(initial=st.floats(0.001, 1), factor=st.floats(1, 4), n=st.integers(0, 60))
def test_ceiling_is_monotonic_in_attempt(initial: float, factor: float, n: int) -> None:
    policy = BackoffPolicy(initial_s=initial, factor=factor, max_s=30.0)
    assert policy.ceiling(n) <= policy.ceiling(n + 1)


def test_full_jitter_spreads_delays_over_the_interval() -> None:
    rng = random.Random(7)
    policy = BackoffPolicy(initial_s=1.0, max_s=1.0)
    delays = [policy.delay(0, rng.random) for _ in range(2000)]
    assert min(delays) < 0.05 and max(delays) > 0.95
    assert 0.45 < sum(delays) / len(delays) < 0.55


def test_backoff_grows_with_consecutive_failures() -> None:
    backoff = Backoff(BackoffPolicy(initial_s=0.1, max_s=10.0), rng=lambda: 1.0)
    delays = [backoff.next_delay(now=float(t)) for t in range(4)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8])
    assert backoff.attempts == 4


def test_backoff_resets_after_staying_up_for_the_stable_period() -> None:
    backoff = Backoff(BackoffPolicy(initial_s=0.1, max_s=10.0, stable_after_s=30.0), rng=lambda: 1.0)
    for t in range(3):
        backoff.next_delay(now=float(t))
    backoff.mark_up(now=100.0)
    assert backoff.next_delay(now=130.0) == pytest.approx(0.1)


def test_backoff_keeps_growing_when_the_connection_flaps() -> None:
    backoff = Backoff(BackoffPolicy(initial_s=0.1, max_s=10.0, stable_after_s=30.0), rng=lambda: 1.0)
    for t in range(3):
        backoff.next_delay(now=float(t))
    backoff.mark_up(now=100.0)
    assert backoff.next_delay(now=129.0) == pytest.approx(0.8)


def test_backoff_up_mark_counts_only_once() -> None:
    # A failure consumes the "up since" mark: a second failure without a new mark_up keeps growing.
    backoff = Backoff(BackoffPolicy(initial_s=0.1, max_s=10.0, stable_after_s=30.0), rng=lambda: 1.0)
    backoff.mark_up(now=0.0)
    assert backoff.next_delay(now=100.0) == pytest.approx(0.1)
    assert backoff.next_delay(now=200.0) == pytest.approx(0.2)


def test_backoff_reset_forgets_failures() -> None:
    backoff = Backoff(BackoffPolicy(initial_s=0.1), rng=lambda: 1.0)
    backoff.next_delay(0.0)
    backoff.next_delay(1.0)
    backoff.reset()
    assert backoff.attempts == 0
    assert backoff.next_delay(2.0) == pytest.approx(0.1)
