"""cgroup v1: one directory per controller hierarchy, each with its own files.

Every setter takes the cgroup directory of the hierarchy that carries the
controller, the config object, the JSON path of that object (for errors)
and a list to append warnings to. Only keys present in the config are
written, so the same setters serve `create` and `update`.
"""

import errno
import os
import time

from ocirt.errors import OcirtError

from . import _files
from ._files import read, read_int, read_keyed, write

# The kernel's own ceiling for "no limit" in v1 memory files (LONG_MAX
# rounded down to a page); reading it back means unlimited.
V1_UNLIMITED = 9223372036854771712


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def opt_int(obj, key, jp, *, minimum=None, maximum=None, zero_unset=False):
    """obj[key] as an int, None when absent (or 0 when zero means "unset", as in runc)."""
    value = obj.get(key)
    if value is None:
        return None
    if not _is_int(value):
        raise OcirtError(f"must be an integer, not {value!r}", path=f"{jp}.{key}")
    if zero_unset and value == 0:
        return None
    if minimum is not None and value < minimum:
        raise OcirtError(f"must be at least {minimum}, not {value}", path=f"{jp}.{key}")
    if maximum is not None and value > maximum:
        raise OcirtError(f"must be at most {maximum}, not {value}", path=f"{jp}.{key}")
    return value


# ---------------------------------------------------------------- devices

_WILDCARD = None


def _dev_num(value, jp):
    # The spec leaves major/minor out (or -1 in some callers) for "any".
    if value is None or value == -1:
        return _WILDCARD
    if not _is_int(value) or value < 0:
        raise OcirtError(f"must be a device number or -1 for any, not {value!r}", path=jp)
    return value


def _num(n):
    return "*" if n is _WILDCARD else str(n)


def _access(value, jp):
    if value is None:
        return "rwm"
    if not isinstance(value, str) or not value or set(value) - set("rwm"):
        raise OcirtError(f"must be a non-empty combination of r, w and m, not {value!r}", path=jp)
    return "".join(c for c in "rwm" if c in value)


def _covers(a, b):
    return a is _WILDCARD or b is _WILDCARD or a == b


def parse_device_rules(rules, json_path="linux.resources.devices"):
    """OCI device rules as (json path, allow, type "a"|"c"|"b", major, minor, access "rwm"-subset)
    tuples, major/minor None for any; a malformed rule is an OcirtError naming it."""
    if rules is None:
        rules = []
    if not isinstance(rules, list):
        raise OcirtError("must be a list of device rules", path=json_path)
    parsed = []
    for i, rule in enumerate(rules):
        jp = f"{json_path}[{i}]"
        if not isinstance(rule, dict) or not isinstance(rule.get("allow"), bool):
            raise OcirtError('needs "allow": true or false', path=jp)
        typ = rule.get("type") or "a"
        if typ not in ("a", "c", "b"):
            raise OcirtError(f'type must be "a", "c" or "b", not {typ!r}', path=f"{jp}.type")
        parsed.append((jp, rule["allow"], typ, _dev_num(rule.get("major"), f"{jp}.major"),
                       _dev_num(rule.get("minor"), f"{jp}.minor"), _access(rule.get("access"), f"{jp}.access")))
    return parsed


def device_plan(rules, json_path="linux.resources.devices"):
    """Translate OCI device rules into v1 writes, simulating the kernel's list.

    Returns (writes, warnings, needs_enforcing): writes are (file, line)
    pairs in order, starting from deny-all. The v1 controller keeps a default
    (allow or deny) plus a list of exceptions, and a rule that agrees with
    the default only removes an *exactly* matching exception; so a rule that
    tries to carve a hole in an earlier wildcard silently does nothing. We
    simulate the list to warn about that instead of letting it pass.
    needs_enforcing is False only when the result allows every device.
    """
    writes = [("devices.deny", "a")]
    default_allow = False
    exceptions = {}  # (type, major, minor) -> set of access letters
    warnings = []
    for jp, allow, typ, major, minor, access in parse_device_rules(rules, json_path):
        target = "devices.allow" if allow else "devices.deny"
        if typ == "a" and major is _WILDCARD and minor is _WILDCARD and access == "rwm":
            # "a" resets the whole list and sets the default.
            writes.append((target, "a"))
            default_allow = allow
            exceptions.clear()
            continue
        # v1 reads any line starting with "a" as the reset above, so a
        # partial "all devices" rule has to be spelled per type.
        for t in ("c", "b") if typ == "a" else (typ,):
            line = f"{t} {_num(major)}:{_num(minor)} {access}"
            writes.append((target, line))
            key = (t, major, minor)
            if allow != default_allow:
                exceptions[key] = exceptions.get(key, set()) | set(access)
                continue
            left = exceptions.get(key, set()) - set(access)
            if left:
                exceptions[key] = left
            else:
                exceptions.pop(key, None)
            for (et, emaj, emin), eacc in exceptions.items():
                if et == t and _covers(emaj, major) and _covers(emin, minor) and eacc & set(access):
                    other = f"{et} {_num(emaj)}:{_num(emin)} {''.join(sorted(eacc))}"
                    verb = "denied" if default_allow else "allowed"
                    warnings.append(
                        f'{jp}: "{line}" does not fully take effect on cgroup v1: the devices '
                        f'controller cannot make an exception to the earlier rule "{other}", '
                        f"so the device stays {verb}"
                    )
                    break
    needs_enforcing = not (default_allow and not exceptions)
    return writes, warnings, needs_enforcing


def set_devices(d, rules, jp, warn):
    writes, warnings, _ = device_plan(rules, jp)
    warn.extend(warnings)
    for name, line in writes:
        write(
            os.path.join(d, name), line, what="device rule", json_path=jp,
            hints={
                errno.EPERM: "the parent cgroup does not allow this device",
                errno.EINVAL: "the cgroup has child cgroups, or the rule is malformed",
            },
        )


# ---------------------------------------------------------------- memory

def _page_floor(n):
    page = os.sysconf("SC_PAGE_SIZE")
    return n // page * page


def _set_deprecated_limit(path, value, label, jp, warn):
    """kmem limits: deprecated, and from Linux 6.1 the kernel accepts and ignores them."""
    if not os.path.exists(path):
        warn.append(f"{jp}: {label} limit ignored: this kernel has no {os.path.basename(path)}")
        return
    err = _files.try_write(path, value)
    if err:
        warn.append(f"{jp}: {label} limit ignored: writing {value} to {path} failed: {os.strerror(err)}")
        return
    if value != -1 and read_int(path) != _page_floor(value):
        warn.append(f"{jp}: {label} limit ignored: this kernel accepts but no longer enforces {os.path.basename(path)}")


def set_memory(d, mem, jp, warn):
    f = lambda name: os.path.join(d, name)  # noqa: E731
    limit = opt_int(mem, "limit", jp, minimum=-1, zero_unset=True)
    swap = opt_int(mem, "swap", jp, minimum=-1, zero_unset=True)
    reservation = opt_int(mem, "reservation", jp, minimum=-1, zero_unset=True)
    kernel = opt_int(mem, "kernel", jp, minimum=-1, zero_unset=True)
    kernel_tcp = opt_int(mem, "kernelTCP", jp, minimum=-1, zero_unset=True)
    swappiness = opt_int(mem, "swappiness", jp, minimum=0, maximum=100)
    memsw = f("memory.memsw.limit_in_bytes")

    if limit == -1 and swap is None and os.path.exists(memsw):
        # Lifting the memory limit must lift memory+swap as well: the kernel
        # keeps memsw >= limit, so the old memsw would refuse "-1".
        swap = -1
    if swap is not None and not os.path.exists(memsw):
        raise OcirtError(
            "a swap limit needs swap accounting, and this kernel has no memory.memsw.limit_in_bytes "
            "(boot with swapaccount=1, or leave memory.swap out)", path=f"{jp}.swap")
    if limit not in (None, -1) and swap not in (None, -1) and swap < limit:
        raise OcirtError(f"memory+swap limit ({swap}) must not be lower than the memory limit ({limit})",
                         path=f"{jp}.swap")
    if mem.get("checkBeforeUpdate") and limit not in (None, -1):
        usage = read_int(f("memory.usage_in_bytes"), 0)
        if usage > limit:
            raise OcirtError(f"new memory limit {limit} is below the current usage {usage}",
                             path=f"{jp}.limit")

    busy = {errno.EBUSY: "the cgroup uses more memory than the new limit and the kernel could not reclaim enough"}
    w_limit = lambda: write(f("memory.limit_in_bytes"), limit, what="memory limit",  # noqa: E731
                            json_path=f"{jp}.limit", hints={**busy, errno.EINVAL:
                            "the memory limit may not exceed the memory+swap limit: set memory.swap too"})
    w_swap = lambda: write(memsw, swap, what="memory+swap limit", json_path=f"{jp}.swap",  # noqa: E731
                           hints={**busy, errno.EINVAL: "memory+swap must be at least the memory limit"})
    if limit is not None and swap is not None:
        # memsw >= limit must hold after every single write.
        current = read_int(f("memory.limit_in_bytes"), V1_UNLIMITED)
        if swap == -1 or swap >= current:
            w_swap()
            w_limit()
        else:
            w_limit()
            w_swap()
    elif limit is not None:
        w_limit()
    elif swap is not None:
        current = read_int(f("memory.limit_in_bytes"), V1_UNLIMITED)
        if swap != -1 and swap < current:
            raise OcirtError(f"memory+swap limit ({swap}) must not be lower than the current memory "
                             f"limit ({current}): set memory.limit as well", path=f"{jp}.swap")
        w_swap()

    if reservation is not None:
        write(f("memory.soft_limit_in_bytes"), reservation, what="memory reservation",
              json_path=f"{jp}.reservation")
    if kernel is not None:
        _set_deprecated_limit(f("memory.kmem.limit_in_bytes"), kernel, "kernel memory", f"{jp}.kernel", warn)
    if kernel_tcp is not None:
        _set_deprecated_limit(f("memory.kmem.tcp.limit_in_bytes"), kernel_tcp, "kernel TCP memory",
                              f"{jp}.kernelTCP", warn)
    if swappiness is not None:
        write(f("memory.swappiness"), swappiness, what="memory swappiness", json_path=f"{jp}.swappiness")
    if mem.get("disableOOMKiller") is not None:
        write(f("memory.oom_control"), 1 if mem["disableOOMKiller"] else 0,
              what="OOM killer setting", json_path=f"{jp}.disableOOMKiller")
    if mem.get("useHierarchy") is not None:
        value = 1 if mem["useHierarchy"] else 0
        if _files.try_write(f("memory.use_hierarchy"), value):
            if read_int(f("memory.use_hierarchy")) != value:
                # Linux 5.16+ is always hierarchical; only accounting differs.
                warn.append(f"{jp}.useHierarchy: ignored: this kernel always accounts memory hierarchically")


# ---------------------------------------------------------------- cpu

def _write_ordered(writes, jp):
    """Write (path, value, what, field) in order; if the kernel refuses, try the reverse order.

    CFS and RT bandwidth files validate against each other (quota vs
    period vs burst, runtime vs period), so whether raising or lowering
    works depends on the order; one of the two orders is always valid.
    """
    if not writes:
        return
    for path, value, _, _ in writes:
        if _files.try_write(path, value):
            break
    else:
        return
    for path, value, what, field in reversed(writes):
        write(path, value, what=what, json_path=f"{jp}.{field}", hints={
            errno.EINVAL: "the combination of quota, period and burst (or realtime runtime and period) "
                          "is invalid, or exceeds the parent cgroup's",
            errno.EBUSY: "the parent cgroup's real-time budget is too small",
        })


def set_cpu(d, cpu, jp, warn):
    f = lambda name: os.path.join(d, name)  # noqa: E731
    shares = opt_int(cpu, "shares", jp, minimum=0, zero_unset=True)
    quota = opt_int(cpu, "quota", jp, minimum=-1, zero_unset=True)
    period = opt_int(cpu, "period", jp, minimum=0, zero_unset=True)
    burst = opt_int(cpu, "burst", jp, minimum=0)
    rt_runtime = opt_int(cpu, "realtimeRuntime", jp, minimum=-1, zero_unset=True)
    rt_period = opt_int(cpu, "realtimePeriod", jp, minimum=0, zero_unset=True)
    idle = opt_int(cpu, "idle", jp, minimum=0, maximum=1)

    # idle first: the kernel resets the weight whenever idle changes (to the
    # minimum for 1, the default for 0) and refuses weights while idle is 1.
    if idle is not None:
        if not os.path.exists(f("cpu.idle")):
            raise OcirtError("cpu idle needs Linux 5.15 or later (this kernel has no cpu.idle)",
                             path=f"{jp}.idle")
        write(f("cpu.idle"), idle, what="cpu idle", json_path=f"{jp}.idle")
    if shares is not None and idle == 1:
        warn.append(IDLE_SHARES_WARNING.format(jp=jp))
    elif shares is not None:
        write(f("cpu.shares"), shares, what="cpu shares", json_path=f"{jp}.shares",
              hints={errno.EINVAL: IDLE_HINT} if read_int(f("cpu.idle")) == 1 else None)
        got = read_int(f("cpu.shares"))
        if got != shares:
            raise OcirtError(f"cpu shares {shares} is outside the range this kernel accepts "
                             f"(it stored {got}; v1 allows 2 to 262144)", path=f"{jp}.shares")
    if burst is not None and not os.path.exists(f("cpu.cfs_burst_us")):
        raise OcirtError("cpu burst needs Linux 5.14 or later (this kernel has no cpu.cfs_burst_us)",
                         path=f"{jp}.burst")
    bandwidth = []
    if period is not None:
        bandwidth.append((f("cpu.cfs_period_us"), period, "cpu period", "period"))
    if quota is not None:
        bandwidth.append((f("cpu.cfs_quota_us"), quota, "cpu quota", "quota"))
    if burst is not None:
        bandwidth.append((f("cpu.cfs_burst_us"), burst, "cpu burst", "burst"))
    _write_ordered(bandwidth, jp)

    if (rt_runtime is not None or rt_period is not None) and not os.path.exists(f("cpu.rt_runtime_us")):
        raise OcirtError("real-time cpu limits need a kernel built with CONFIG_RT_GROUP_SCHED "
                         "(this kernel has no cpu.rt_runtime_us)", path=f"{jp}.realtimeRuntime")
    realtime = []
    if rt_period is not None:
        realtime.append((f("cpu.rt_period_us"), rt_period, "real-time period", "realtimePeriod"))
    if rt_runtime is not None:
        realtime.append((f("cpu.rt_runtime_us"), rt_runtime, "real-time runtime", "realtimeRuntime"))
    _write_ordered(realtime, jp)


# The kernel gives an idle group (cpu.idle 1) the minimum weight and refuses
# weight changes while it stays idle (shared with v2).
IDLE_HINT = "the cgroup is idle (cpu.idle is 1), and an idle cgroup's weight cannot be changed: set idle to 0 too"
IDLE_SHARES_WARNING = ("{jp}.shares: ignored: cpu.idle 1 gives the cgroup the minimum weight "
                       "(leave shares out, or set idle to 0)")


def set_cpuset(d, cpu, jp, warn):
    parent = os.path.dirname(d)
    for key, name in (("cpus", "cpuset.cpus"), ("mems", "cpuset.mems")):
        value = cpu.get(key)
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            raise OcirtError(f"must be a string such as \"0-3,7\", not {value!r}", path=f"{jp}.{key}")
        allowed = read(os.path.join(parent, name), "?")
        hint = f"it must be a subset of the parent cgroup's {name} ({allowed})"
        write(os.path.join(d, name), value, what=f"cpuset {key}", json_path=f"{jp}.{key}",
              hints={errno.EINVAL: hint, errno.ERANGE: hint})


def fill_cpuset(mount, leaf):
    """A new v1 cpuset cgroup starts with empty cpus and mems, and no process can
    join it until both are set; copy them down from each parent, as runc does."""
    rel = os.path.relpath(leaf, mount)
    current = mount
    for part in rel.split("/"):
        if part in (".", ""):
            continue
        parent, current = current, os.path.join(current, part)
        for name in ("cpuset.cpus", "cpuset.mems"):
            path = os.path.join(current, name)
            if read(path, "").strip():
                continue
            write(path, read(os.path.join(parent, name), ""), what="inherited " + name)


# ---------------------------------------------------------------- pids, blkio, hugetlb, net, rdma

def set_pids(d, pids, jp, warn):
    limit = opt_int(pids, "limit", jp)
    if limit is None:
        return
    write(os.path.join(d, "pids.max"), "max" if limit <= 0 else limit, what="pids limit",
          json_path=f"{jp}.limit")


def bfq_devices():
    """Block devices whose active I/O scheduler is BFQ (the only one honouring weights now)."""
    out = []
    try:
        names = os.listdir("/sys/block")
    except OSError:
        return out
    for name in names:
        if "[bfq]" in read(f"/sys/block/{name}/queue/scheduler", ""):
            out.append(name)
    return out


def device_name(major, minor):
    try:
        return os.path.basename(os.readlink(f"/sys/dev/block/{major}:{minor}"))
    except OSError:
        return None


THROTTLES = {
    "throttleReadBpsDevice": ("read_bps_device", "rbps"),
    "throttleWriteBpsDevice": ("write_bps_device", "wbps"),
    "throttleReadIOPSDevice": ("read_iops_device", "riops"),
    "throttleWriteIOPSDevice": ("write_iops_device", "wiops"),
}


def block_entries(bio, key, jp, value_key):
    """The validated (major, minor, value, json path) of one per-device list."""
    entries = bio.get(key) or []
    if not isinstance(entries, list):
        raise OcirtError("must be a list", path=f"{jp}.{key}")
    out = []
    for i, entry in enumerate(entries):
        ejp = f"{jp}.{key}[{i}]"
        if not isinstance(entry, dict):
            raise OcirtError("must be an object with major, minor and " + value_key, path=ejp)
        major = opt_int(entry, "major", ejp, minimum=0)
        minor = opt_int(entry, "minor", ejp, minimum=0)
        if major is None or minor is None:
            raise OcirtError("needs both major and minor", path=ejp)
        out.append((major, minor, entry, ejp))
    return out


def _dev_hints(major, minor):
    name = device_name(major, minor)
    where = f"/sys/block/{name}/queue/scheduler" if name else "/sys/block/<dev>/queue/scheduler"
    return {
        errno.ENODEV: f"there is no block device {major}:{minor} on this host",
        errno.EOPNOTSUPP: f"device {major}:{minor} does not use the BFQ I/O scheduler, which per-device "
                          f"weights need (echo bfq > {where})",
        errno.EINVAL: f"the kernel rejected the value (is {major}:{minor} a whole disk, not a partition?)",
    }


def set_blkio(d, bio, jp, warn):
    f = lambda name: os.path.join(d, name)  # noqa: E731
    weight = opt_int(bio, "weight", jp, minimum=0, zero_unset=True)
    leaf_weight = opt_int(bio, "leafWeight", jp, minimum=0, zero_unset=True)
    if weight is not None:
        if os.path.exists(f("blkio.weight")):
            write(f("blkio.weight"), weight, what="blkio weight", json_path=f"{jp}.weight")
        elif os.path.exists(f("blkio.bfq.weight")):
            write(f("blkio.bfq.weight"), weight, what="blkio weight", json_path=f"{jp}.weight")
            if not bfq_devices():
                warn.append(f"{jp}.weight: written to blkio.bfq.weight, but no block device uses the BFQ "
                            "scheduler, so it has no effect until one does "
                            "(echo bfq > /sys/block/<dev>/queue/scheduler)")
        else:
            raise OcirtError("blkio weight needs a proportional I/O scheduler (CFQ or BFQ), and this "
                             "host's blkio cgroup has neither blkio.weight nor blkio.bfq.weight "
                             "(load the bfq module, or leave blockIO.weight out)", path=f"{jp}.weight")
    if leaf_weight is not None:
        if not os.path.exists(f("blkio.leaf_weight")):
            raise OcirtError("blkio leaf weight existed only with the CFQ scheduler (removed in Linux 5.0); "
                             "this host has no blkio.leaf_weight", path=f"{jp}.leafWeight")
        write(f("blkio.leaf_weight"), leaf_weight, what="blkio leaf weight", json_path=f"{jp}.leafWeight")
    for major, minor, entry, ejp in block_entries(bio, "weightDevice", jp, "weight"):
        w = opt_int(entry, "weight", ejp, minimum=0)
        lw = opt_int(entry, "leafWeight", ejp, minimum=0)
        if w is not None:
            name = "blkio.weight_device" if os.path.exists(f("blkio.weight_device")) else "blkio.bfq.weight_device"
            if not os.path.exists(f(name)):
                raise OcirtError("per-device blkio weights need the CFQ or BFQ scheduler, and this host's "
                                 "blkio cgroup has no weight_device file", path=f"{ejp}.weight")
            write(f(name), f"{major}:{minor} {w}", what="blkio device weight", json_path=f"{ejp}.weight",
                  hints=_dev_hints(major, minor))
        if lw is not None:
            if not os.path.exists(f("blkio.leaf_weight_device")):
                raise OcirtError("blkio leaf weights existed only with the CFQ scheduler (removed in "
                                 "Linux 5.0)", path=f"{ejp}.leafWeight")
            write(f("blkio.leaf_weight_device"), f"{major}:{minor} {lw}", what="blkio device leaf weight",
                  json_path=f"{ejp}.leafWeight", hints=_dev_hints(major, minor))
    for key, (suffix, _) in THROTTLES.items():
        for major, minor, entry, ejp in block_entries(bio, key, jp, "rate"):
            rate = opt_int(entry, "rate", ejp, minimum=0)
            if rate is None:
                raise OcirtError("needs a rate", path=ejp)
            # 0 removes the limit in v1.
            write(f("blkio.throttle." + suffix), f"{major}:{minor} {rate}", what="blkio throttle",
                  json_path=f"{ejp}.rate", hints=_dev_hints(major, minor))


def hugepage_sizes(d, suffix):
    """Page sizes ("2MB", "1GB") for which `d` has a hugetlb.<size><suffix> file."""
    try:
        names = os.listdir(d)
    except OSError:
        return []
    sizes = []
    for name in names:
        if name.startswith("hugetlb.") and name.endswith(suffix):
            size = name[len("hugetlb."):-len(suffix)]
            if "." not in size:
                sizes.append(size)
    return sorted(sizes)


def hugetlb_entries(limits, jp):
    if not isinstance(limits, list):
        raise OcirtError("must be a list", path=jp)
    out = []
    for i, entry in enumerate(limits):
        ejp = f"{jp}[{i}]"
        size = entry.get("pageSize") if isinstance(entry, dict) else None
        if not isinstance(size, str) or not size:
            raise OcirtError('needs "pageSize", e.g. "2MB"', path=ejp)
        limit = opt_int(entry, "limit", ejp, minimum=0)
        if limit is None:
            raise OcirtError('needs "limit" in bytes', path=ejp)
        out.append((size, limit, ejp))
    return out


def _set_hugetlb(d, limits, jp, limit_suffix, rsvd_suffix):
    for size, limit, ejp in hugetlb_entries(limits, jp):
        path = os.path.join(d, f"hugetlb.{size}{limit_suffix}")
        if not os.path.exists(path):
            have = ", ".join(hugepage_sizes(d, limit_suffix)) or "none"
            raise OcirtError(f"hugepage size {size} is not supported by this host (supported: {have})",
                             path=f"{ejp}.pageSize")
        write(path, limit, what=f"{size} hugepage limit", json_path=f"{ejp}.limit")
        # Also cap reservations where the kernel has them (5.7+), as runc
        # does, or a mapping can reserve pages it will later fault on.
        rsvd = os.path.join(d, f"hugetlb.{size}{rsvd_suffix}")
        if os.path.exists(rsvd):
            write(rsvd, limit, what=f"{size} hugepage reservation limit", json_path=f"{ejp}.limit")


def set_hugetlb(d, limits, jp, warn):
    _set_hugetlb(d, limits, jp, ".limit_in_bytes", ".rsvd.limit_in_bytes")


def set_net_cls(d, class_id, jp, warn):
    if not isinstance(class_id, int) or class_id < 0:
        raise OcirtError(f"must be a non-negative integer, not {class_id!r}", path=jp)
    write(os.path.join(d, "net_cls.classid"), class_id, what="network class id", json_path=jp)


def set_net_prio(d, priorities, jp, warn):
    for i, prio in enumerate(priorities or []):
        ejp = f"{jp}[{i}]"
        if not isinstance(prio, dict) or not isinstance(prio.get("name"), str):
            raise OcirtError('needs "name" and "priority"', path=ejp)
        value = opt_int(prio, "priority", ejp, minimum=0)
        # The kernel resolves the interface name in the writer's network namespace.
        write(os.path.join(d, "net_prio.ifpriomap"), f"{prio['name']} {value}", what="network priority",
              json_path=ejp,
              hints={errno.ENODEV: f"there is no interface {prio['name']!r} in ocirt's network namespace"})


def rdma_lines(rdma, jp):
    if not isinstance(rdma, dict):
        raise OcirtError("must map device names to limits", path=jp)
    lines = []
    for dev, limits in rdma.items():
        ejp = f"{jp}.{dev}"
        if not isinstance(limits, dict):
            raise OcirtError("must be an object with hcaHandles and/or hcaObjects", path=ejp)
        parts = [dev]
        handles = opt_int(limits, "hcaHandles", ejp, minimum=0)
        objects = opt_int(limits, "hcaObjects", ejp, minimum=0)
        if handles is not None:
            parts.append(f"hca_handle={handles}")
        if objects is not None:
            parts.append(f"hca_object={objects}")
        if len(parts) == 1:
            raise OcirtError("needs hcaHandles or hcaObjects", path=ejp)
        lines.append((" ".join(parts), ejp))
    return lines


def set_rdma(d, rdma, jp, warn):
    for line, ejp in rdma_lines(rdma, jp):
        write(os.path.join(d, "rdma.max"), line, what="rdma limit", json_path=ejp,
              hints={errno.EINVAL: "unknown RDMA device, or a malformed limit"})


# ---------------------------------------------------------------- freezer

def freeze(d, timeout=2.0):
    """Write FROZEN until the state reads FROZEN; tasks in uninterruptible
    sleep can keep a v1 cgroup in FREEZING, so retry, then give up and thaw."""
    path = os.path.join(d, "freezer.state")
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        write(path, "FROZEN", what="freezer state")
        state = read(path)
        if state == "FROZEN":
            return
        if time.monotonic() >= deadline:
            _files.try_write(path, "THAWED")
            raise OcirtError(f"could not freeze {d} within {timeout:g} s: it stays {state} "
                             "(a process may be stuck in uninterruptible sleep); try again")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def thaw(d):
    path = os.path.join(d, "freezer.state")
    write(path, "THAWED", what="freezer state")
    if read(path) != "THAWED":
        raise OcirtError(f"{d} stays frozen after THAWED was written: a parent cgroup is frozen")


def is_frozen(d):
    return read(os.path.join(d, "freezer.state"), "") == "FROZEN"


# ---------------------------------------------------------------- stats

def _blkio_entries(path):
    text = read(path)
    if text is None:
        return None
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0]:
            major, _, minor = parts[0].partition(":")
            out.append({"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])})
        elif len(parts) == 2 and ":" in parts[0]:  # sectors, io_time: no op column
            major, _, minor = parts[0].partition(":")
            out.append({"major": int(major), "minor": int(minor), "op": "", "value": int(parts[1])})
    return out


def _memory_entry(d, prefix):
    usage = read_int(os.path.join(d, prefix + "usage_in_bytes"))
    if usage is None:
        return None
    return {
        "limit": read_int(os.path.join(d, prefix + "limit_in_bytes"), 0),
        "usage": usage,
        "max": read_int(os.path.join(d, prefix + "max_usage_in_bytes"), 0),
        "failcnt": read_int(os.path.join(d, prefix + "failcnt"), 0),
    }


def stats(paths, out):
    """Fill runc's `events --stats` shape from the v1 hierarchies in `paths`."""
    cpu_dir, acct_dir = paths.get("cpu"), paths.get("cpuacct")
    if acct_dir and os.path.isdir(acct_dir):
        usage = out.setdefault("cpu", {}).setdefault("usage", {})
        total = read_int(os.path.join(acct_dir, "cpuacct.usage"))
        if total is not None:
            usage["total"] = total
        for key, name in (("percpu", "usage_percpu"), ("percpu_kernel", "usage_percpu_sys"),
                          ("percpu_user", "usage_percpu_user")):
            text = read(os.path.join(acct_dir, "cpuacct." + name))
            if text is not None:
                usage[key] = [int(v) for v in text.split()]
        ticks = read_keyed(os.path.join(acct_dir, "cpuacct.stat"))
        if ticks:
            # cpuacct.stat counts USER_HZ ticks; runc reports nanoseconds.
            ns = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
            usage["kernel"] = ticks.get("system", 0) * ns
            usage["user"] = ticks.get("user", 0) * ns
    if cpu_dir and os.path.isdir(cpu_dir):
        st = read_keyed(os.path.join(cpu_dir, "cpu.stat"))
        if st is not None:
            out.setdefault("cpu", {})["throttling"] = {
                "periods": st.get("nr_periods", 0),
                "throttledPeriods": st.get("nr_throttled", 0),
                "throttledTime": st.get("throttled_time", 0),
            }
    mem_dir = paths.get("memory")
    if mem_dir and os.path.isdir(mem_dir):
        mem = out.setdefault("memory", {})
        raw = read_keyed(os.path.join(mem_dir, "memory.stat")) or {}
        if raw:
            mem["raw"] = raw
            mem["cache"] = raw.get("cache", 0)  # what runc reports (not total_cache)
        for key, prefix in (("usage", "memory."), ("swap", "memory.memsw."), ("kernel", "memory.kmem."),
                            ("kernelTCP", "memory.kmem.tcp.")):
            entry = _memory_entry(mem_dir, prefix)
            if entry is not None:
                mem[key] = entry
    pids_dir = paths.get("pids")
    if pids_dir and os.path.isdir(pids_dir):
        current = read_int(os.path.join(pids_dir, "pids.current"))
        if current is not None:
            # runc reports "no limit" as 0.
            out["pids"] = {"current": current, "limit": read_int(os.path.join(pids_dir, "pids.max"), 0, 0)}
    blk_dir = paths.get("blkio")
    if blk_dir and os.path.isdir(blk_dir):
        blk = {}
        # CFQ's files when present, else BFQ's, else the throttle layer's (always there).
        for prefix in ("blkio.", "blkio.bfq.", "blkio.throttle."):
            sb = _blkio_entries(os.path.join(blk_dir, prefix + "io_service_bytes_recursive"))
            if sb is None:
                continue
            blk["ioServiceBytesRecursive"] = sb
            blk["ioServicedRecursive"] = _blkio_entries(os.path.join(blk_dir, prefix + "io_serviced_recursive")) or []
            if prefix == "blkio.":
                for key, name in (("ioQueueRecursive", "io_queued_recursive"),
                                  ("ioServiceTimeRecursive", "io_service_time_recursive"),
                                  ("ioWaitTimeRecursive", "io_wait_time_recursive"),
                                  ("ioMergedRecursive", "io_merged_recursive"),
                                  ("ioTimeRecursive", "time_recursive"),
                                  ("sectorsRecursive", "sectors_recursive")):
                    entries = _blkio_entries(os.path.join(blk_dir, prefix + name))
                    if entries is not None:
                        blk[key] = entries
            break
        out["blkio"] = blk
    huge_dir = paths.get("hugetlb")
    if huge_dir and os.path.isdir(huge_dir):
        huge = out.setdefault("hugetlb", {})
        for size in hugepage_sizes(huge_dir, ".limit_in_bytes"):
            p = os.path.join(huge_dir, f"hugetlb.{size}.")
            huge[size] = {"usage": read_int(p + "usage_in_bytes", 0),
                          "max": read_int(p + "max_usage_in_bytes", 0),
                          "failcnt": read_int(p + "failcnt", 0)}
