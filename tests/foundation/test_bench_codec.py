"""bench.codec runs and reports its figures (values are machine-dependent; only shape is checked)."""

from bench import codec


def test_codec_bench_reports_positive_rates(capsys):
    out = codec.main(seconds=0.05)
    assert set(out) >= {"book_delta_decode_per_s", "order_decode_per_s", "event_encode_per_s"}
    assert all(v > 0 for v in out.values())
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("{") and "book_delta_decode_per_s" in last
