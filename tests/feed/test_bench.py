"""bench.feed runs end to end on a tiny stream and reports every figure (values are
machine-dependent; only shape and completeness are checked: every frame was published)."""

from __future__ import annotations

from bench import feed


async def test_feed_bench_reports_rates_and_ratios_without_drops() -> None:
    out = await feed.run(300, 1)
    keys = ("json_per_s", "sbe_per_s", "bare_loop_per_s", "ratio_json", "ratio_sbe", "json_js_async_per_s")
    for key in keys:
        assert out[key] > 0, key
    assert out["json_dropped"] == 0 and out["sbe_dropped"] == 0 and out["json_js_async_dropped"] == 0


def test_book_stream_never_crosses_and_is_consecutive() -> None:
    from services.feed.core.book import BookChecker, Verdict

    checker = BookChecker()
    verdicts = {checker.check(update).verdict for update in feed.book_stream(2000)}
    assert verdicts == {Verdict.SNAPSHOT, Verdict.APPLIED}
