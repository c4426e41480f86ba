"""Settings from the environment: typed, named errors, unknown keys refused, secrets never printed."""

from __future__ import annotations

import logging
import sys

import pytest

from shared import log
from shared.errors import ConfigError
from shared.settings import Secret, SettingsBase, load


class Demo(SettingsBase, frozen=True, kw_only=True):
    env_prefix = "DEMO_"
    global_fields = frozenset({"nats_url"})
    nats_url: str = "nats://127.0.0.1:4222"
    port: int = 8080
    ratio: float = 0.5
    enabled: bool = False
    markets: tuple[str, ...] = ("BTC-USD-PERP",)
    key: Secret = Secret("")
    required_thing: str


def test_values_are_typed_and_prefixed():
    s = load(Demo, {"NATS_URL": "nats://x:1", "DEMO_PORT": "9", "DEMO_ENABLED": "yes",
                    "DEMO_MARKETS": "A, B", "DEMO_REQUIRED_THING": "r"})
    got = (s.nats_url, s.port, s.enabled, s.markets, s.required_thing)
    assert got == ("nats://x:1", 9, True, ("A", "B"), "r")
    assert s.ratio == 0.5


def test_missing_required_names_the_variable():
    with pytest.raises(ConfigError) as info:
        load(Demo, {})
    assert info.value.variable == "DEMO_REQUIRED_THING"


def test_malformed_value_names_the_variable():
    with pytest.raises(ConfigError) as info:
        load(Demo, {"DEMO_PORT": "eighty", "DEMO_REQUIRED_THING": "r"})
    assert info.value.variable == "DEMO_PORT"
    with pytest.raises(ConfigError) as info:
        load(Demo, {"DEMO_ENABLED": "maybe", "DEMO_REQUIRED_THING": "r"})
    assert info.value.variable == "DEMO_ENABLED"


def test_unknown_prefixed_variable_is_an_error():
    with pytest.raises(ConfigError) as info:
        load(Demo, {"DEMO_PROT": "1", "DEMO_REQUIRED_THING": "r"})
    assert info.value.variable == "DEMO_PROT"


def test_secret_from_file_never_prints(tmp_path, caplog):
    f = tmp_path / "key"
    f.write_text("0xdeadbeefcafe\n")
    s = load(Demo, {"DEMO_KEY_FILE": str(f), "DEMO_REQUIRED_THING": "r"})
    assert s.key.reveal() == "0xdeadbeefcafe"
    assert "deadbeef" not in repr(s) and "deadbeef" not in str(s.key)
    assert log.redact("key is 0xdeadbeefcafe!") == "key is ***!"


def test_a_file_setting_wins_over_the_plain_variable_and_the_default(tmp_path):
    """compose sets PARADEX_L2_PRIVATE_KEY to the paper key by default; a mounted key file must win."""
    key = tmp_path / "key"
    key.write_text("0xfromthefile\n")
    s = load(Demo, {"DEMO_KEY": "0xplain-default", "DEMO_KEY_FILE": str(key), "DEMO_REQUIRED_THING": "r"})
    assert s.key.reveal() == "0xfromthefile"
    port = tmp_path / "port"
    port.write_text("9999\n")
    s = load(Demo, {"DEMO_PORT": "1", "DEMO_PORT_FILE": str(port), "DEMO_REQUIRED_THING": "r"})
    assert s.port == 9999  # not only secrets


def test_unreadable_secret_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        load(Demo, {"DEMO_KEY_FILE": str(tmp_path / "missing"), "DEMO_REQUIRED_THING": "r"})
    assert info.value.variable == "DEMO_KEY_FILE"


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_log_lines_redact_secrets(fmt, capsys):
    log.register_secret("s3cr3t-value")
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        log.setup("INFO", fmt, service="demo")
        logging.getLogger("t").info("token=%s", "s3cr3t-value", extra={"detail": "s3cr3t-value"})
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    err = capsys.readouterr().err
    assert "s3cr3t-value" not in err and "***" in err
    if fmt == "json":
        import json

        line = json.loads(err.strip().splitlines()[-1])
        assert line["level"] == "info" and line["msg"] == "token=***"


@pytest.fixture
def secrets_restored():
    saved = set(log._SECRETS)
    yield
    log._SECRETS.clear()
    log._SECRETS.update(saved)


def _record(msg: str, created: float, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, msg, None, None)
    record.created, record.msecs = created, 0.0
    record.__dict__.update(extra)
    return record


def test_a_secret_in_the_timestamps_digits_leaves_a_json_line_valid(secrets_restored):
    # CI saw it: a short numeric key form registered by another test matched the digits of "ts",
    # and the line "{"ts":1796***40.88,...}" was no longer JSON
    import json

    log.register_secret("4567")
    fmt = log._JsonFormatter("demo")
    line = json.loads(fmt.format(_record("key 4567 here", 1234567.25, count=45678, nested={"k": ["x4567"]})))
    assert line["ts"] == 1234567.25
    assert line["msg"] == "key *** here"
    assert line["count"] == "***8" and line["nested"] == {"k": ["x***"]}
    assert "4567" not in json.dumps(line).replace("1234567.25", "")


def test_json_exception_text_is_redacted(secrets_restored):
    import json

    log.register_secret("hunter22")
    fmt = log._JsonFormatter("demo")
    try:
        raise ValueError("bad password hunter22")
    except ValueError:
        record = _record("failed", 1.0)
        record.exc_info = sys.exc_info()
    line = json.loads(fmt.format(record))
    assert line["exc"]["message"] == "bad password ***"
    assert "hunter22" not in line["exc"]["text"] and "***" in line["exc"]["text"]


def test_plain_lines_redact_the_record_not_the_header(secrets_restored):
    log.register_secret("INFO")  # as a secret: redacted in what the record says, kept as the level
    log.register_secret("hunter22")
    fmt = log._PlainFormatter("%(levelname)s %(name)s: %(message)s")
    try:
        raise ValueError("bad password hunter22")
    except ValueError:
        record = _record("INFO leaked", 1.0, detail="hunter22")
        record.exc_info = sys.exc_info()
    text = fmt.format(record)
    assert text.startswith("INFO t: *** leaked\n") and text.endswith(" detail=***"), text
    assert "hunter22" not in text and "ValueError: bad password ***" in text
