"""process.rlimits: resource names and setting them on this process.

Applied inside the container before the user switch and the capability
drop, so a hard limit may still be raised where CAP_SYS_RESOURCE allows.
"""

import errno
import os

from ocirt.errors import OcirtError

# Linux resource numbers (asm-generic; the same on x86, arm, ppc, s390).
RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4, "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

_U64 = 1 << 64


def _to_c(value):
    # The kernel's limits are unsigned 64-bit; Python's resource module
    # takes a signed C long, where RLIM_INFINITY (2**64-1) is -1.
    return value - _U64 if value >= 1 << 63 else value


def _show(value):
    return "unlimited" if value == _U64 - 1 else str(value)


def apply_rlimits(rlimits, json_path="process.rlimits", source="config.json"):
    """Set each {type, soft, hard} of `rlimits` on this process, in order."""
    import resource

    for i, rlimit in enumerate(rlimits or ()):
        kind, soft, hard = rlimit.get("type"), rlimit.get("soft"), rlimit.get("hard")
        number = RLIMITS.get(kind)
        if number is None:
            raise OcirtError(f"unknown rlimit {kind!r}", path=f"{json_path}[{i}].type", source=source)
        for value in (soft, hard):
            if type(value) is not int or not 0 <= value < _U64:
                raise OcirtError(f"{kind}: limit {value!r} is not an unsigned 64-bit integer",
                                 path=f"{json_path}[{i}]", source=source)
        what = f"setrlimit {kind} (soft {_show(soft)}, hard {_show(hard)})"
        if soft > hard:
            raise OcirtError(f"{what}: the soft limit is above the hard limit",
                             path=f"{json_path}[{i}]", source=source)
        try:
            resource.prlimit(0, number, (_to_c(soft), _to_c(hard)))
        except OSError as e:
            raise OcirtError(f"{what}: {os.strerror(e.errno)}{_why(e.errno, kind, hard)}",
                             path=f"{json_path}[{i}]", source=source) from None
        except ValueError:
            # Python's prlimit turns EINVAL into ValueError.
            raise OcirtError(f"{what}: {os.strerror(errno.EINVAL)}", path=f"{json_path}[{i}]",
                             source=source) from None


def _why(err, kind, hard):
    """A hint for EPERM, the one failure a config can easily cause."""
    if err != errno.EPERM:
        return ""
    if kind == "RLIMIT_NOFILE":
        try:
            with open("/proc/sys/fs/nr_open", "rb") as f:
                nr_open = int(f.read())
        except (OSError, ValueError):
            nr_open = None
        if nr_open is not None and hard > nr_open:
            return f" (the hard limit is above fs.nr_open, {nr_open})"
    import resource

    current = resource.getrlimit(RLIMITS[kind])[1] % _U64
    if hard > current:
        return f" (raising the hard limit above {_show(current)} needs CAP_SYS_RESOURCE)"
    return ""
