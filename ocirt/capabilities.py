"""Capability names, masks, and the sequence that sets a process's sets.

The names and masks are pure (spec validation and `features` use them);
only apply_capabilities() touches the kernel, just before exec.
"""

import os

from ocirt.errors import OcirtError

CAPABILITIES = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2,
    "CAP_FOWNER": 3, "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6,
    "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12,
    "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23, "CAP_SYS_RESOURCE": 24,
    "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
    "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30,
    "CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33,
    "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36,
    "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}

_NAMES = {number: name for name, number in CAPABILITIES.items()}

# The sets of process.capabilities, in the order they are applied.
CAPABILITY_SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")

PR_CAPBSET_READ = 23  # not among the syscalls constants; linux/prctl.h


_last_cap = None


def last_cap():
    """The highest capability number this kernel knows."""
    global _last_cap
    if _last_cap is None:
        try:
            with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
                _last_cap = int(f.read())
        except OSError:
            # /proc may not be mounted where we run (inside a new rootfs):
            # assume the kernel knows every cap we do.
            _last_cap = max(CAPABILITIES.values())
    return _last_cap


def to_mask(names, json_path, source="config.json"):
    """OR of the bits of the capability `names`; an unknown name is an
    OcirtError pointing at its item (`json_path`[i]) in `source`."""
    mask = 0
    for i, name in enumerate(names or ()):
        number = CAPABILITIES.get(name)
        if number is None:
            raise OcirtError(f"unknown capability {name!r}", path=f"{json_path}[{i}]", source=source)
        mask |= 1 << number
    return mask


def capability_names(mask):
    """Names of the bits set in `mask`, lowest first (unknown bits as "CAP_<n>")."""
    return [_NAMES.get(bit, f"CAP_{bit}") for bit in range(mask.bit_length()) if mask >> bit & 1]


def masks(caps, json_path="process.capabilities", source="config.json"):
    """{set name: mask} for a process.capabilities object, checked so
    that the kernel will accept it; an absent object or set means an
    empty set (as runc: everything is dropped)."""
    caps = caps or {}
    sets = {name: to_mask(caps.get(name), f"{json_path}.{name}", source) for name in CAPABILITY_SETS}
    # capset refuses an effective cap that is not permitted, and the
    # kernel raises an ambient cap only if permitted and inheritable.
    for name, allowed, rule in (
            ("effective", sets["permitted"], "permitted"),
            ("ambient", sets["permitted"] & sets["inheritable"], "both permitted and inheritable")):
        extra = sets[name] & ~allowed
        if extra:
            raise OcirtError(f"{', '.join(capability_names(extra))} must also be {rule}",
                             path=f"{json_path}.{name}", source=source)
    return sets


def apply_capabilities(caps, *, keep_for_setuid=False,
                       json_path="process.capabilities", source="config.json"):
    """Set this process's capability sets from `caps` (process.capabilities).

    Called in two steps around the user switch:
      keep_for_setuid=True, before setgid/setuid: drop the bounding set
        (PR_CAPBSET_DROP needs CAP_SETPCAP, which the setuid takes from the
        effective set) and set PR_SET_KEEPCAPS so the setuid keeps the
        permitted set;
      keep_for_setuid=False (default), after it, or alone when the user
        does not change: drop the bounding set if not yet done, clear
        KEEPCAPS, capset(effective, permitted, inheritable), then reset the
        ambient set and raise each cap of `ambient`.
    Caps this kernel does not know (above last_cap()) are ignored.
    `json_path` and `source` locate `caps` for error messages.
    """
    from ocirt.linux import syscalls

    sets = masks(caps, json_path, source)
    _drop_bounding_mask(sets["bounding"])
    if keep_for_setuid:
        _call(syscalls.prctl, "set PR_SET_KEEPCAPS", syscalls.PR_SET_KEEPCAPS, 1)
        return
    _call(syscalls.prctl, "clear PR_SET_KEEPCAPS", syscalls.PR_SET_KEEPCAPS, 0)
    known = (1 << (last_cap() + 1)) - 1
    _call(syscalls.capset, "set capabilities",
          sets["effective"] & known, sets["permitted"] & known, sets["inheritable"] & known)
    _call(syscalls.prctl, "clear the ambient set",
          syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_CLEAR_ALL)
    for name in capability_names(sets["ambient"] & known):
        _call(syscalls.prctl, f"raise {name} in the ambient set",
              syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_RAISE, CAPABILITIES[name])


def drop_bounding(names, json_path="process.capabilities.bounding", source="config.json"):
    """Drop from the bounding set every cap not in `names`. Must run while
    CAP_SETPCAP is effective, i.e. before a setuid to a non-root user."""
    _drop_bounding_mask(to_mask(names, json_path, source))


def _drop_bounding_mask(keep):
    from ocirt.linux import syscalls

    for number in range(last_cap() + 1):
        # Only what is still there: dropping needs CAP_SETPCAP, which an
        # earlier step may already have given up.
        if not keep >> number & 1 and syscalls.prctl(PR_CAPBSET_READ, number) == 1:
            _call(syscalls.prctl, f"drop {_NAMES.get(number, number)} from the bounding set",
                  syscalls.PR_CAPBSET_DROP, number)


def _call(function, what, *args):
    try:
        return function(*args)
    except OSError as e:
        reason = os.strerror(e.errno) if e.errno else str(e)
        raise OcirtError(f"cannot {what}: {reason}") from e


def check_grantable(caps, json_path="process.capabilities", source="config.json"):
    """Fail early (at create, while errors still reach the caller) when capset
    would later refuse a set: a process can only keep capabilities it has."""
    from ocirt.linux import syscalls

    sets = masks(caps, json_path, source)
    _, permitted, inheritable = syscalls.capget()
    known = (1 << (last_cap() + 1)) - 1
    bounding = sum(1 << n for n in range(last_cap() + 1) if syscalls.prctl(PR_CAPBSET_READ, n) == 1)
    for name, allowed in (("permitted", permitted), ("effective", permitted),
                          ("inheritable", inheritable | bounding)):
        missing = sets[name] & known & ~allowed
        if missing:
            raise OcirtError(f"{', '.join(capability_names(missing))} cannot be granted: "
                             "ocirt does not hold it on this host", path=f"{json_path}.{name}", source=source)
