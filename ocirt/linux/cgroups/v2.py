"""cgroup v2 (the unified hierarchy): one directory, files named by controller.

The OCI resources are v1-shaped, so most settings need translating; the
translations are pure functions (tested without a kernel), the setters
only decide which file gets which value. Used for the whole container on
a pure v2 host, and in hybrid mode for the controllers that live only in
the unified hierarchy (here: hugetlb) and for `linux.resources.unified`.
"""

import errno
import os
import time

from ocirt.errors import OcirtError

from . import _files
from ._files import read, read_int, read_keyed, write
from .v1 import (IDLE_HINT, IDLE_SHARES_WARNING, block_entries, device_plan, hugepage_sizes, hugetlb_entries,
                 opt_int, parse_device_rules, rdma_lines)

# What "max" reads as in stats: runc reports unlimited as the largest uint64.
MAX_UINT64 = (1 << 64) - 1


# ---------------------------------------------------------------- pure translations

def cpu_weight_from_shares(shares):
    """v1 cpu.shares [2, 262144] -> v2 cpu.weight [1, 10000], the linear map runc and crun used.

    (Newer runc/crun releases moved to a logarithmic map that keeps the
    default 1024 at 100 exactly; the linear one gives 39 for 1024.)
    """
    if not shares:
        return None
    shares = min(max(shares, 2), 262144)
    return 1 + (shares - 2) * 9999 // 262142


def cpu_max_value(quota, period, current="max 100000"):
    """The cpu.max line ("$QUOTA $PERIOD") for a quota and/or period; the half
    not given keeps its current value, so `update` can change one alone."""
    if quota is None and period is None:
        return None
    cur_quota, _, cur_period = (current or "max 100000").partition(" ")
    q = cur_quota if quota is None else ("max" if quota < 0 else str(quota))
    p = (cur_period or "100000") if period is None else str(period)
    return f"{q} {p}"


def memory_swap_max(swap, limit, current_max=None):
    """memory.swap.max (swap alone) from the OCI swap value (memory + swap).

    `limit` is the memory limit being set (None if not set); `current_max`
    the memory.max already in force (None for "max"), used when only swap
    changes. Returns None when swap is not set.
    """
    if swap is None:
        return None
    if swap == -1:
        return "max"
    effective = limit if limit is not None else current_max
    if effective is None or effective == -1:
        raise OcirtError("a swap limit needs a memory limit: on cgroup v2 memory.swap is memory + swap, "
                         "so swap alone is memory.swap minus memory.limit", path="memory.swap")
    if swap < effective:
        raise OcirtError(f"memory+swap limit ({swap}) must not be lower than the memory limit ({effective})",
                         path="memory.swap")
    return str(swap - effective)


def io_weight_from_blkio(weight):
    """v1 blkio weight [10, 1000] -> v2 io.weight [1, 10000], as runc converts it."""
    if not weight:
        return None
    if not 10 <= weight <= 1000:
        raise OcirtError(f"blkio weight must be between 10 and 1000, not {weight}", path="blockIO.weight")
    return 1 + (weight - 10) * 9999 // 990


def io_max_line(major, minor, key, rate):
    """One io.max line; rate 0 means "no limit" in OCI (as in v1), which is "max" in v2."""
    return f"{major}:{minor} {key}={rate if rate else 'max'}"


def limit_value(n):
    """-1 (OCI for unlimited) -> "max"."""
    return "max" if n == -1 else str(n)


# ---------------------------------------------------------------- controllers

def available(mount):
    """Controllers the unified hierarchy offers at its root (not bound to v1)."""
    return set(read(os.path.join(mount, "cgroup.controllers"), "").split())


def enable_controller(mount, leaf, name, jp=None):
    """Enable `name` in cgroup.subtree_control of every ancestor of `leaf`, so its files appear there."""
    rel = os.path.relpath(os.path.dirname(leaf), mount)
    chain = [mount]
    for part in ([] if rel == "." else rel.split("/")):
        chain.append(os.path.join(chain[-1], part))
    for d in chain:
        if name in read(os.path.join(d, "cgroup.subtree_control"), "").split():
            continue
        if name not in read(os.path.join(d, "cgroup.controllers"), "").split():
            raise OcirtError(f"the {name} controller is not available in {d} (cgroup.controllers does not list it)",
                             path=jp)
        write(os.path.join(d, "cgroup.subtree_control"), "+" + name, what=f"the {name} controller", json_path=jp,
              hints={errno.EBUSY: f"{d} has processes of its own, and cgroup v2 lets only a cgroup without "
                                  "processes enable controllers for its children (use an absolute cgroupsPath "
                                  "outside that cgroup)",
                     errno.ENOENT: "the parent has not enabled it"})


def enable_all(mount, leaf):
    """Enable every available controller along the path, as runc does on v2,
    so stats and later `update`s work. Best effort: a controller that cannot
    be enabled here is reported by the setter that needs it."""
    wanted = read(os.path.join(mount, "cgroup.controllers"), "").split()
    for name in wanted:
        try:
            enable_controller(mount, leaf, name)
        except OcirtError:
            pass


# ---------------------------------------------------------------- setters

def set_memory(d, mem, jp, warn):
    f = lambda name: os.path.join(d, name)  # noqa: E731
    limit = opt_int(mem, "limit", jp, minimum=-1, zero_unset=True)
    swap = opt_int(mem, "swap", jp, minimum=-1, zero_unset=True)
    reservation = opt_int(mem, "reservation", jp, minimum=-1, zero_unset=True)
    swappiness = opt_int(mem, "swappiness", jp, minimum=0, maximum=100)
    try:
        swap_max = memory_swap_max(swap, limit, read_int(f("memory.max")))
    except OcirtError as exc:
        raise OcirtError(exc.message, path=f"{jp}.swap") from None
    if swap_max is not None and not os.path.exists(f("memory.swap.max")):
        raise OcirtError("a swap limit needs swap accounting, and this kernel has no memory.swap.max",
                         path=f"{jp}.swap")
    if mem.get("checkBeforeUpdate") and limit not in (None, -1):
        usage = read_int(f("memory.current"), 0)
        if usage > limit:
            raise OcirtError(f"new memory limit {limit} is below the current usage {usage}", path=f"{jp}.limit")
    if limit is not None:
        write(f("memory.max"), limit_value(limit), what="memory limit", json_path=f"{jp}.limit")
    if swap_max is not None:
        write(f("memory.swap.max"), swap_max, what="swap limit", json_path=f"{jp}.swap")
    if reservation is not None:
        write(f("memory.low"), limit_value(reservation), what="memory reservation",
              json_path=f"{jp}.reservation")
    # v1-only knobs: v2 has no equivalent, and refusing them would refuse
    # most configs written for v1, so say so instead.
    if swappiness is not None:
        warn.append(f"{jp}.swappiness: ignored: cgroup v2 has no per-cgroup swappiness")
    if mem.get("disableOOMKiller"):
        warn.append(f"{jp}.disableOOMKiller: ignored: cgroup v2 cannot disable the OOM killer")
    for key in ("kernel", "kernelTCP"):
        if opt_int(mem, key, jp, minimum=-1, zero_unset=True) is not None:
            warn.append(f"{jp}.{key}: ignored: cgroup v2 has no separate kernel memory limit "
                        "(kernel memory counts against memory.max)")
    if mem.get("useHierarchy") is False:
        warn.append(f"{jp}.useHierarchy: ignored: cgroup v2 is always hierarchical")


def set_cpu(d, cpu, jp, warn):
    f = lambda name: os.path.join(d, name)  # noqa: E731
    shares = opt_int(cpu, "shares", jp, minimum=0, zero_unset=True)
    quota = opt_int(cpu, "quota", jp, minimum=-1, zero_unset=True)
    period = opt_int(cpu, "period", jp, minimum=0, zero_unset=True)
    burst = opt_int(cpu, "burst", jp, minimum=0)
    idle = opt_int(cpu, "idle", jp, minimum=0, maximum=1)
    for key in ("realtimeRuntime", "realtimePeriod"):
        if opt_int(cpu, key, jp, zero_unset=True) is not None:
            raise OcirtError("cgroup v2 has no real-time CPU bandwidth control", path=f"{jp}.{key}")
    # idle first: the kernel resets the weight whenever idle changes and refuses weights while idle is 1.
    if idle is not None:
        if not os.path.exists(f("cpu.idle")):
            raise OcirtError("cpu idle needs Linux 5.15 or later (no cpu.idle)", path=f"{jp}.idle")
        write(f("cpu.idle"), idle, what="cpu idle", json_path=f"{jp}.idle")
    if shares is not None and idle == 1:
        warn.append(IDLE_SHARES_WARNING.format(jp=jp))
    elif shares is not None:
        write(f("cpu.weight"), cpu_weight_from_shares(shares), what="cpu weight", json_path=f"{jp}.shares",
              hints={errno.EINVAL: IDLE_HINT} if read_int(f("cpu.idle")) == 1 else None)
    line = cpu_max_value(quota, period, read(f("cpu.max")))
    if line is not None:
        write(f("cpu.max"), line, what="cpu quota and period", json_path=f"{jp}.quota")
    if burst is not None:
        if not os.path.exists(f("cpu.max.burst")):
            raise OcirtError("cpu burst needs Linux 5.14 or later (no cpu.max.burst)", path=f"{jp}.burst")
        write(f("cpu.max.burst"), burst, what="cpu burst", json_path=f"{jp}.burst")


def set_cpuset(d, cpu, jp, warn):
    parent = os.path.dirname(d)
    for key, name in (("cpus", "cpuset.cpus"), ("mems", "cpuset.mems")):
        value = cpu.get(key)
        if value in (None, ""):
            continue
        allowed = read(os.path.join(parent, "cpuset." + key + ".effective"), "?")
        hint = f"it must be a subset of the parent's {name}.effective ({allowed})"
        write(os.path.join(d, name), value, what=f"cpuset {key}", json_path=f"{jp}.{key}",
              hints={errno.EINVAL: hint, errno.ERANGE: hint})


def set_pids(d, pids, jp, warn):
    limit = opt_int(pids, "limit", jp)
    if limit is not None:
        write(os.path.join(d, "pids.max"), "max" if limit <= 0 else limit, what="pids limit",
              json_path=f"{jp}.limit")


def set_io(d, bio, jp, warn):
    f = lambda name: os.path.join(d, name)  # noqa: E731
    bfq = os.path.exists(f("io.bfq.weight"))
    weight = opt_int(bio, "weight", jp, minimum=0, zero_unset=True)
    if opt_int(bio, "leafWeight", jp, zero_unset=True) is not None:
        raise OcirtError("cgroup v2 has no leaf weight", path=f"{jp}.leafWeight")
    if weight is not None:
        # BFQ takes the v1 range as is; io.weight (iocost) has its own.
        if bfq:
            write(f("io.bfq.weight"), weight, what="io weight", json_path=f"{jp}.weight")
        elif os.path.exists(f("io.weight")):
            try:
                value = io_weight_from_blkio(weight)
            except OcirtError as exc:
                raise OcirtError(exc.message, path=f"{jp}.weight") from None
            write(f("io.weight"), f"default {value}", what="io weight", json_path=f"{jp}.weight")
        else:
            raise OcirtError("io weight needs the BFQ scheduler or the io.weight (iocost) controller, "
                             "and this cgroup has neither", path=f"{jp}.weight")
    for major, minor, entry, ejp in block_entries(bio, "weightDevice", jp, "weight"):
        if opt_int(entry, "leafWeight", ejp, zero_unset=True) is not None:
            raise OcirtError("cgroup v2 has no leaf weight", path=f"{ejp}.leafWeight")
        w = opt_int(entry, "weight", ejp, minimum=0, zero_unset=True)
        if w is None:
            continue
        if bfq:
            name, value = "io.bfq.weight", w
        else:
            try:
                name, value = "io.weight", io_weight_from_blkio(w)
            except OcirtError as exc:
                raise OcirtError(exc.message, path=f"{ejp}.weight") from None
        write(f(name), f"{major}:{minor} {value}", what="io device weight", json_path=f"{ejp}.weight",
              hints={errno.ENODEV: f"there is no block device {major}:{minor}",
                     errno.EOPNOTSUPP: f"device {major}:{minor} does not use the BFQ scheduler"})
    from .v1 import THROTTLES
    for key, (_, io_key) in THROTTLES.items():
        for major, minor, entry, ejp in block_entries(bio, key, jp, "rate"):
            rate = opt_int(entry, "rate", ejp, minimum=0)
            write(f("io.max"), io_max_line(major, minor, io_key, rate), what="io limit",
                  json_path=f"{ejp}.rate", hints={errno.ENODEV: f"there is no block device {major}:{minor}"})


def set_hugetlb(d, limits, jp, warn):
    for size, limit, ejp in hugetlb_entries(limits, jp):
        path = os.path.join(d, f"hugetlb.{size}.max")
        if not os.path.exists(path):
            have = ", ".join(hugepage_sizes(d, ".max")) or "none"
            raise OcirtError(f"hugepage size {size} is not supported by this host (supported: {have})",
                             path=f"{ejp}.pageSize")
        write(path, limit, what=f"{size} hugepage limit", json_path=f"{ejp}.limit")
        rsvd = os.path.join(d, f"hugetlb.{size}.rsvd.max")
        if os.path.exists(rsvd):
            write(rsvd, limit, what=f"{size} hugepage reservation limit", json_path=f"{ejp}.limit")


def set_rdma(d, rdma, jp, warn):
    for line, ejp in rdma_lines(rdma, jp):
        write(os.path.join(d, "rdma.max"), line, what="rdma limit", json_path=ejp)


def set_devices(d, rules, jp, warn):
    """cgroup v2 has no devices controller: rules that restrict anything
    become an eBPF program on the cgroup (devicefilter.py)."""
    from . import devicefilter
    if device_plan(rules, jp)[2]:
        devicefilter.attach(d, parse_device_rules(rules, jp), jp)


# Files that start or stop processes, not resource settings.
_NOT_RESOURCES = {"cgroup.procs", "cgroup.threads", "cgroup.kill", "cgroup.freeze", "cgroup.subtree_control",
                  "cgroup.type", "cgroup.events", "cgroup.controllers"}


def unified_controllers(unified, jp):
    """Validate linux.resources.unified keys; return the controllers they need."""
    if not isinstance(unified, dict):
        raise OcirtError("must map cgroup v2 file names to values", path=jp)
    needed = set()
    for key, value in unified.items():
        kjp = f"{jp}.{key}"
        if not isinstance(value, str):
            raise OcirtError(f"must be a string, not {value!r}", path=kjp)
        if "/" in key or key.startswith(".") or "." not in key:
            raise OcirtError(f"{key!r} is not a cgroup v2 file name (controller.setting)", path=kjp)
        if key in _NOT_RESOURCES:
            raise OcirtError(f"{key} is not a resource setting", path=kjp)
        controller = key.split(".", 1)[0]
        if controller != "cgroup":
            needed.add(controller)
    return needed


def set_unified(d, unified, jp, warn):
    for key, value in unified.items():
        path = os.path.join(d, key)
        if not os.path.exists(path):
            raise OcirtError(f"{key} does not exist in {d}: unknown setting, or its controller is not "
                             "enabled there", path=f"{jp}.{key}")
        write(path, value, what=key, json_path=f"{jp}.{key}")


# ---------------------------------------------------------------- freezer, kill

def _events_frozen(d):
    return (read_keyed(os.path.join(d, "cgroup.events")) or {}).get("frozen") == 1


def freeze(d, timeout=2.0):
    write(os.path.join(d, "cgroup.freeze"), "1", what="freeze")
    deadline = time.monotonic() + timeout
    delay = 0.001
    while not _events_frozen(d):
        if time.monotonic() >= deadline:
            _files.try_write(os.path.join(d, "cgroup.freeze"), "0")
            raise OcirtError(f"could not freeze {d} within {timeout:g} s (cgroup.events never showed frozen 1)")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def thaw(d):
    write(os.path.join(d, "cgroup.freeze"), "0", what="thaw")
    deadline = time.monotonic() + 2.0
    while _events_frozen(d):
        if time.monotonic() >= deadline:
            raise OcirtError(f"{d} stays frozen after thawing: a parent cgroup is frozen")
        time.sleep(0.005)


def is_frozen(d):
    return _events_frozen(d)


def can_freeze(d):
    return os.path.exists(os.path.join(d, "cgroup.freeze"))


def kill(d):
    """SIGKILL the whole subtree atomically (Linux 5.14+); False if the kernel lacks cgroup.kill."""
    path = os.path.join(d, "cgroup.kill")
    if not os.path.exists(path):
        return False
    write(path, "1", what="cgroup kill")
    return True


# ---------------------------------------------------------------- stats

def stats(d, out, controllers=None):
    """runc's `events --stats` shape from one v2 cgroup; `controllers` limits
    which parts are read (in hybrid mode only those that live in v2)."""
    f = lambda name: os.path.join(d, name)  # noqa: E731
    want = (lambda c: True) if controllers is None else (lambda c: c in controllers)  # noqa: E731
    if want("cpu"):
        st = read_keyed(f("cpu.stat"))
        if st:
            cpu = out.setdefault("cpu", {})
            cpu["usage"] = {"total": st.get("usage_usec", 0) * 1000,
                            "kernel": st.get("system_usec", 0) * 1000,
                            "user": st.get("user_usec", 0) * 1000}
            if "nr_periods" in st:
                cpu["throttling"] = {"periods": st["nr_periods"], "throttledPeriods": st.get("nr_throttled", 0),
                                     "throttledTime": st.get("throttled_usec", 0) * 1000}
    if want("memory"):
        usage = read_int(f("memory.current"))
        if usage is not None:
            mem = out.setdefault("memory", {})
            raw = read_keyed(f("memory.stat")) or {}
            mem["raw"] = raw
            mem["cache"] = raw.get("file", 0)
            events = read_keyed(f("memory.events")) or {}
            limit = read_int(f("memory.max"), MAX_UINT64, MAX_UINT64)
            mem["usage"] = {"limit": limit, "usage": usage, "max": read_int(f("memory.peak"), 0),
                            "failcnt": events.get("max", 0)}
            swap = read_int(f("memory.swap.current"))
            if swap is not None:
                # v1 reported memory+swap; keep that meaning, as runc does.
                swap_limit = read_int(f("memory.swap.max"), MAX_UINT64, MAX_UINT64)
                total_limit = MAX_UINT64 if MAX_UINT64 in (limit, swap_limit) else limit + swap_limit
                mem["swap"] = {"limit": total_limit, "usage": usage + swap,
                               "max": read_int(f("memory.swap.peak"), 0), "failcnt": 0}
    if want("pids"):
        current = read_int(f("pids.current"))
        if current is not None:
            out["pids"] = {"current": current, "limit": read_int(f("pids.max"), 0, 0)}
    if want("io"):
        text = read(f("io.stat"))
        if text is not None:
            served, bytes_ = [], []
            for line in text.splitlines():
                dev, *fields = line.split()
                major, _, minor = dev.partition(":")
                kv = dict(x.split("=", 1) for x in fields if "=" in x)
                for op, b, n in (("Read", "rbytes", "rios"), ("Write", "wbytes", "wios")):
                    bytes_.append({"major": int(major), "minor": int(minor), "op": op, "value": int(kv.get(b, 0))})
                    served.append({"major": int(major), "minor": int(minor), "op": op, "value": int(kv.get(n, 0))})
            out["blkio"] = {"ioServiceBytesRecursive": bytes_, "ioServicedRecursive": served}
    if want("hugetlb"):
        sizes = hugepage_sizes(d, ".max")
        if sizes:
            huge = out.setdefault("hugetlb", {})
            for size in sizes:
                p = f(f"hugetlb.{size}.")
                huge[size] = {"usage": read_int(p + "current", 0), "max": 0,
                              "failcnt": (read_keyed(p + "events") or {}).get("max", 0)}
