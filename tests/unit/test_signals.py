import signal
import subprocess
import sys

import pytest

from ocirt.errors import OcirtError
from ocirt.signals import SIGNALS, SIGRTMAX, SIGRTMIN, parse_signal, signal_name


def test_table_matches_this_platform():
    for name, number in SIGNALS.items():
        if hasattr(signal, name):
            assert getattr(signal, name) == number, name
    assert (SIGRTMIN, SIGRTMAX) == (signal.SIGRTMIN, signal.SIGRTMAX)
    named = {n for n in signal.valid_signals() if n < signal.SIGRTMIN}
    assert named - set(SIGNALS.values()) <= {32, 33}  # glibc's reserved ones


@pytest.mark.parametrize("text, number", [
    ("9", 9), ("15", 15), ("0", 0), ("64", 64),
    ("KILL", 9), ("SIGKILL", 9), ("kill", 9), ("sigkill", 9), ("SigTerm", 15),
    ("HUP", 1), ("SIGCHLD", 17), ("CLD", 17), ("IOT", 6), ("WINCH", 28), ("SYS", 31),
    ("SIGRTMIN", 34), ("RTMIN", 34), ("rtmin", 34), ("SIGRTMIN+3", 37), ("RTMIN+30", 64),
    ("SIGRTMAX", 64), ("RTMAX-2", 62), ("sigrtmax-30", 34),
])
def test_parse(text, number):
    assert parse_signal(text) == number


@pytest.mark.parametrize("text", [
    "", "65", "-1", "+9", " 9", "9 ", "1e3", "٩", "SIG", "FOO", "SIGFOO", "SIGKILLX",
    "RTMIN-1", "RTMAX+1", "RTMIN+31", "RTMAX-31", "RTMIN+", "RTMIN+x", "RTMIN3",
    "SIGRTMIN+-3", "SIG_DFL", "SIGUNUSED",
])
def test_unknown(text):
    with pytest.raises(OcirtError) as e:
        parse_signal(text)
    assert str(e.value) == f"unknown signal {text!r}"


def test_names_round_trip():
    for number in range(1, SIGRTMAX + 1):
        name = signal_name(number)
        if number in (32, 33):
            assert name == str(number)
        else:
            assert parse_signal(name) == number
    assert signal_name(9) == "SIGKILL" and signal_name(6) == "SIGABRT"
    assert signal_name(36) == "SIGRTMIN+2" and signal_name(99) == "99"


def test_import_is_cheap():
    code = "import sys, ocirt.signals; print(sorted({'signal', 'enum', 're'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                         cwd=__file__.rsplit("/tests/", 1)[0], check=True)
    assert out.stdout.strip() == "[]"
