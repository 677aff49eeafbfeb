"""Argument parsing of the runc-compatible CLI (no containers involved)."""
import pytest

from ocirt import cli
from ocirt.cli import UsageError, parse_options, _split_global, _positional, _COMMANDS


def parse(command, argv):
    options, names, _ = _COMMANDS[command]
    values, positionals = parse_options(argv, options, names)
    return values, _positional(command, positionals, names)


def test_value_forms():
    for argv in (["--bundle", "/b", "c1"], ["--bundle=/b", "c1"], ["-b", "/b", "c1"], ["c1", "--bundle", "/b"]):
        values, pos = parse("create", argv)
        assert values["bundle"] == "/b" and pos["id"] == "c1"


def test_containerd_and_conmon_orders():
    values, pos = parse("create", ["--bundle", "B", "--pid-file", "B/init.pid", "--preserve-fds", "2",
                                   "--no-pivot", "--no-new-keyring", "id"])
    assert values == {"bundle": "B", "pid_file": "B/init.pid", "preserve_fds": "2", "no_pivot": True,
                      "no_new_keyring": True}
    assert pos == {"id": "id"}


@pytest.mark.parametrize("argv", [["--all", "c1", "9"], ["c1", "9", "--all"], ["-a", "c1", "KILL"]])
def test_kill_orders(argv):
    values, pos = parse("kill", argv)
    assert values["all"] is True and pos["id"] == "c1" and pos["signal"] in ("9", "KILL")


def test_kill_default_signal():
    values, pos = parse("kill", ["c1"])
    assert pos["signal"] is None


def test_errors():
    with pytest.raises(UsageError, match="unknown option --nope"):
        parse("delete", ["--nope", "c1"])
    with pytest.raises(UsageError, match="requires a container id"):
        parse("start", [])
    with pytest.raises(UsageError, match="needs a value"):
        parse("create", ["c1", "--bundle"])
    with pytest.raises(UsageError, match="unexpected argument"):
        parse("start", ["c1", "c2"])


def test_global_options():
    g, rest = _split_global(["--root", "/r", "--log=/l", "--log-format", "json", "--debug", "state", "c1"])
    assert g == {"root": "/r", "log": "/l", "log_format": "json", "debug": True}
    assert rest == ["state", "c1"]
    with pytest.raises(UsageError):
        _split_global(["--bogus", "state"])


def test_ps_passes_options_after_double_dash():
    values, pos = parse("ps", ["--format", "json", "c1", "--", "-o", "pid"])
    assert values["format"] == "json" and pos["ps_args"] == ["-o", "pid"]


def test_errors_shorten_long_messages_in_the_middle():
    from ocirt.errors import shorten

    assert shorten("short") == "short"
    message = "mounts[1]: " + "x" * 100_000 + ": File name too long"
    short = shorten(message, 4096)
    assert short.startswith("mounts[1]: xxx") and short.endswith("xx: File name too long")
    assert len(short) < 4096 + 64 and f"{len(message) - 2048 - 1024} characters left out" in short
