"""Signal names and numbers, as `kill` and the config's stop signals use them.

The `signal` module imports `enum` (about 4 ms per command), so the table
is a literal: the Linux numbers shared by x86, arm, arm64, riscv, ppc and
s390 (alpha, mips, sparc and parisc differ and are not supported).
"""

from ocirt.errors import OcirtError

SIGNALS = {
    "SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5,
    "SIGABRT": 6, "SIGIOT": 6, "SIGBUS": 7, "SIGFPE": 8, "SIGKILL": 9,
    "SIGUSR1": 10, "SIGSEGV": 11, "SIGUSR2": 12, "SIGPIPE": 13, "SIGALRM": 14,
    "SIGTERM": 15, "SIGSTKFLT": 16, "SIGCHLD": 17, "SIGCLD": 17, "SIGCONT": 18,
    "SIGSTOP": 19, "SIGTSTP": 20, "SIGTTIN": 21, "SIGTTOU": 22, "SIGURG": 23,
    "SIGXCPU": 24, "SIGXFSZ": 25, "SIGVTALRM": 26, "SIGPROF": 27,
    "SIGWINCH": 28, "SIGIO": 29, "SIGPOLL": 29, "SIGPWR": 30, "SIGSYS": 31,
}

# glibc keeps 32 and 33 for its threads, so SIGRTMIN is 34 for programs
# (what `signal.SIGRTMIN` and kill(1) say), SIGRTMAX the kernel's 64.
SIGRTMIN = 34
SIGRTMAX = 64

_NAMES = {}
for _name, _number in SIGNALS.items():
    _NAMES.setdefault(_number, _name)  # first spelling wins: SIGABRT, SIGCHLD, SIGIO
del _name, _number


def parse_signal(text):
    """Return the number of a signal given as "9", "KILL", "SIGKILL",
    "kill", "SIGRTMIN", "RTMIN+3" or "SIGRTMAX-2"; 0 is accepted, as
    kill(2) takes it to probe whether a process exists."""
    if text.isascii() and text.isdigit():
        number = int(text)
        if number <= SIGRTMAX:
            return number
        raise OcirtError(f"unknown signal {text!r}")
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name in SIGNALS:
        return SIGNALS[name]
    for base, sign in (("SIGRTMIN", "+"), ("SIGRTMAX", "-")):
        if not name.startswith(base):
            continue
        base_number = SIGRTMIN if base == "SIGRTMIN" else SIGRTMAX
        offset = name[len(base):]
        if not offset:
            return base_number
        digits = offset[1:]
        if offset[0] == sign and digits.isascii() and digits.isdigit() \
                and int(digits) <= SIGRTMAX - SIGRTMIN:
            return base_number + int(digits) if sign == "+" else base_number - int(digits)
    raise OcirtError(f"unknown signal {text!r}")


def signal_name(number):
    """"SIGKILL" for 9, "SIGRTMIN+3" for 37; str(number) when unnamed."""
    if number in _NAMES:
        return _NAMES[number]
    if SIGRTMIN <= number <= SIGRTMAX:
        return "SIGRTMIN" if number == SIGRTMIN else f"SIGRTMIN+{number - SIGRTMIN}"
    return str(number)
