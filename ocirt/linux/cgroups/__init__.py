"""A container's cgroups: where they go, making them, limits, freezing, killing, removing.

Usage:
    cg = Cgroups.for_container(container_id, cgroups_path, systemd=False)  # paths only
    state["cgroup"] = cg.to_record()        # record first (so delete can undo a crash)
    cg.create(); state["cgroup"] = cg.to_record()   # again: now it knows what it made
    warnings = cg.apply(resources)          # before add_process (rt, cpuset, devices)
    cg.add_process(pid)
    ... later, without the config:
    cg = Cgroups.from_record(state["cgroup"]); cg.kill_all(9); cg.destroy()

Layout (detect_layout, from /proc/self/mountinfo; only real cgroup mounts
count, never a plain directory under /sys/fs/cgroup):
  "v1"      cgroup v1 hierarchies only;
  "v2"      only the unified (cgroup2) hierarchy;
  "hybrid"  v1 hierarchies plus a cgroup2 mount (usually /sys/fs/cgroup/unified).

Placement (the rules of runc's cgroupfs driver; the README repeats them):
  * The container gets one directory in every mounted v1 hierarchy whose
    controllers ocirt knows (cpu, cpuacct, cpuset, memory, devices, freezer,
    blkio, pids, hugetlb, net_cls, net_prio, perf_event, rdma, misc) and in
    name=systemd, plus, on "v2" and "hybrid", one in the cgroup2 hierarchy.
    In hybrid mode the cgroup2 directory holds the controllers that only v2
    offers (hugetlb on a host without a v1 hugetlb mount) and
    `linux.resources.unified`.
  * An absolute cgroupsPath "/a/b" is used as given below each hierarchy's
    mount point: /sys/fs/cgroup/memory/a/b, /sys/fs/cgroup/unified/a/b.
  * A relative cgroupsPath "a/b" nests below ocirt's *own* cgroup in each
    hierarchy, as /proc/self/cgroup lists it (so it differs per hierarchy
    when the caller's cgroups differ): /sys/fs/cgroup/memory/<own>/a/b.
  * No cgroupsPath means the relative path "<container id>".
  * Paths are cleaned lexically first: "." and ".." cannot climb above the
    mount point (absolute) or ocirt's own cgroup (relative), and a path
    that names the mount point or ocirt's own cgroup itself is refused
    (deleting the container would remove it).
  * The systemd form "slice:prefix:name" is only for the systemd driver
    (systemd=True, runc's --systemd-cgroup) and is refused without it; the
    systemd driver needs /run/systemd/system, and is not implemented yet,
    so on a systemd host it is refused with a message saying so.

Removal: destroy() removes the container's directory in every hierarchy
with all child cgroups, deepest first, waiting up to ~2 s for exiting
processes. Parents that create() made itself (listed under "created" in the
record) are removed too when no other cgroup uses them; parents that
already existed are never touched (runc leaves all parents behind). Enabled
v2 controllers in parents' cgroup.subtree_control are left as they are.
"""

import errno
import os
import time

from ocirt.errors import OcirtError

from . import _files
from ocirt.linux.mountinfo import unescape

UNIFIED = "unified"  # the record's key for the cgroup2 directory

# v1 controllers ocirt places containers in; other named hierarchies belong to someone else.
KNOWN_V1 = frozenset({"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "hugetlb",
                      "net_cls", "net_prio", "perf_event", "rdma", "misc", "name=systemd"})

# v1 controller -> its name in v2 (only where they differ).
_V2_NAME = {"blkio": "io"}

RECORD_VERSION = 1

SIGKILL = 9  # signal.SIGKILL, without importing signal for every command


# ---------------------------------------------------------------- parsing (pure)

def cgroup_mounts(mountinfo_text):
    """{controller: (mount point, mount root)} for v1, plus UNIFIED for the cgroup2 mount.

    The first mount of a hierarchy wins (later ones are usually bind mounts
    inside containers); co-mounted controllers ("cpu,cpuacct") share one entry.
    """
    mounts = {}
    for line in mountinfo_text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        fstype, options = tail[0], tail[2]
        entry = (unescape(fields[4]), unescape(fields[3]))
        if fstype == "cgroup2":
            mounts.setdefault(UNIFIED, entry)
        elif fstype == "cgroup":
            for opt in options.split(","):
                if opt in KNOWN_V1:
                    mounts.setdefault(opt, entry)
    return mounts


def parse_proc_cgroup(text):
    """/proc/<pid>/cgroup as {controller: path}, with UNIFIED for the "0::" line."""
    own = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hid, controllers, path = parts
        if hid == "0" and controllers == "":
            own[UNIFIED] = path
            continue
        for c in controllers.split(","):
            own[c] = path
    return own


def layout_of(mounts):
    has_v1 = any(k != UNIFIED for k in mounts)
    has_v2 = UNIFIED in mounts
    if has_v1 and has_v2:
        return "hybrid"
    if has_v2:
        return "v2"
    if has_v1:
        return "v1"
    raise OcirtError("no cgroup filesystem is mounted (nothing of type cgroup or cgroup2 in /proc/self/mountinfo); "
                     "mount cgroup2 on /sys/fs/cgroup")


def _read_text(path):
    with open(path) as f:
        return f.read()


def detect_layout():
    """"v1", "v2" or "hybrid", from this process's /proc/self/mountinfo (read each time)."""
    return layout_of(cgroup_mounts(_read_text("/proc/self/mountinfo")))


def clean_path(path):
    """Lexically clean a cgroupsPath; ".." never climbs above where it starts."""
    parts = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if parts:
                parts.pop()
            continue
        parts.append(seg)
    return ("/" if path.startswith("/") else "") + "/".join(parts)


def is_systemd_path(path):
    """The systemd driver's "slice:prefix:name" form (no slashes, exactly three parts)."""
    return "/" not in path and path.count(":") == 2


def plan(container_id, cgroups_path, mountinfo_text, proc_cgroup_text, *, systemd=False, systemd_running=False):
    """Compute (layout, paths, mounts) from mountinfo and /proc/self/cgroup text. Pure; see the module doc."""
    if systemd:
        if not systemd_running:
            raise OcirtError("systemd cgroup driver requested but systemd is not running on this host",
                             path="linux.cgroupsPath")
        if cgroups_path and not is_systemd_path(cgroups_path):
            raise OcirtError(f'expected cgroupsPath to be of format "slice:prefix:name" for systemd cgroups, '
                             f"got {cgroups_path!r} instead", path="linux.cgroupsPath")
        raise OcirtError("the systemd cgroup driver is not implemented in ocirt yet (it needs transient units "
                         "created over D-Bus); run without --systemd-cgroup", path="linux.cgroupsPath")
    if cgroups_path and is_systemd_path(cgroups_path):
        raise OcirtError(f'cgroupsPath {cgroups_path!r} is in the systemd "slice:prefix:name" form, which needs '
                         f'the systemd cgroup driver (--systemd-cgroup); use a path such as "/ocirt/{container_id}" '
                         "for the cgroupfs driver", path="linux.cgroupsPath")
    inner = clean_path(cgroups_path or container_id)
    if inner in ("", "/"):
        raise OcirtError(f"cgroupsPath {cgroups_path!r} names the root of the hierarchy or ocirt's own cgroup; "
                         "give the container a cgroup of its own", path="linux.cgroupsPath")
    mounts = cgroup_mounts(mountinfo_text)
    layout = layout_of(mounts)
    own = parse_proc_cgroup(proc_cgroup_text) if not inner.startswith("/") else {}
    paths = {}
    for key, (mountpoint, root) in mounts.items():
        if inner.startswith("/"):
            paths[key] = mountpoint.rstrip("/") + inner
            continue
        mine = own.get(key)
        if mine is None:
            raise OcirtError(f"/proc/self/cgroup does not list ocirt's own cgroup in the {key} hierarchy, "
                             "so a relative cgroupsPath cannot be placed; use an absolute one")
        if root != "/":
            # The mount shows only part of the hierarchy (a container's view).
            if mine != root and not mine.startswith(root.rstrip("/") + "/"):
                raise OcirtError(f"ocirt's own {key} cgroup {mine} is outside the part of the hierarchy mounted "
                                 f"at {mountpoint} ({root}); use an absolute cgroupsPath")
            mine = mine[len(root.rstrip("/")):]
        paths[key] = os.path.join(mountpoint, mine.strip("/"), inner) if mine.strip("/") else \
            os.path.join(mountpoint, inner)
    return layout, paths, {k: m for k, (m, _) in mounts.items()}


# ---------------------------------------------------------------- the manager

class Cgroups:
    """The cgroup directories of one container, across every hierarchy.

    paths: {controller: directory} for v1 (co-mounted controllers share a
    directory) plus UNIFIED for the cgroup2 one; mounts: the same keys to
    each hierarchy's mount point; created: directories create() made.
    """

    def __init__(self, layout, paths, mounts, created=()):
        if layout not in ("v1", "v2", "hybrid"):
            raise OcirtError(f"unknown cgroup layout {layout!r}")
        self.layout = layout
        self.paths = dict(paths)
        self.mounts = dict(mounts)
        self.created = list(created)

    # -- construction and record

    @classmethod
    def for_container(cls, container_id, cgroups_path=None, systemd=False):
        """Compute the paths for a container (touches nothing); see the module doc for the rules."""
        mountinfo = _read_text("/proc/self/mountinfo")
        proc_cgroup = _read_text("/proc/self/cgroup")
        layout, paths, mounts = plan(container_id, cgroups_path, mountinfo, proc_cgroup, systemd=systemd,
                                     systemd_running=os.path.isdir("/run/systemd/system"))
        return cls(layout, paths, mounts)

    def to_record(self):
        """A JSON-serialisable dict for state.json; from_record() takes it back."""
        return {"version": RECORD_VERSION, "layout": self.layout, "paths": dict(self.paths),
                "mounts": dict(self.mounts), "created": list(self.created)}

    @classmethod
    def from_record(cls, record):
        try:
            if record.get("version") != RECORD_VERSION:
                raise ValueError("version")
            paths, mounts = record["paths"], record["mounts"]
            for d in (paths, mounts):
                if not all(isinstance(k, str) and isinstance(v, str) and v.startswith("/") for k, v in d.items()):
                    raise ValueError("paths")
            if set(paths) - set(mounts):
                raise ValueError("mounts")
            created = record.get("created", [])
            if not all(isinstance(c, str) and c.startswith("/") for c in created):
                raise ValueError("created")
            return cls(record["layout"], paths, mounts, created)
        except (AttributeError, KeyError, TypeError, ValueError):
            raise OcirtError("the container's state has a malformed cgroup record; remove the cgroup "
                             "directories by hand and then the state directory") from None

    def __repr__(self):
        return f"Cgroups({self.layout!r}, {self.paths!r})"

    # -- directories

    @property
    def unified(self):
        """The cgroup2 directory, or None on a v1-only host."""
        return self.paths.get(UNIFIED)

    def directories(self):
        """Every distinct directory (one per hierarchy), v1 first, cgroup2 last."""
        seen = []
        for key in sorted(self.paths, key=lambda k: (k == UNIFIED, k)):
            if self.paths[key] not in seen:
                seen.append(self.paths[key])
        return seen

    def _mount_of(self, directory):
        for key, d in self.paths.items():
            if d == directory:
                return self.mounts[key]
        raise KeyError(directory)

    def _v1(self, controller):
        return self.paths.get(controller) if controller != UNIFIED else None

    def exists(self):
        return any(os.path.isdir(d) for d in self.directories())

    # -- create

    def create(self):
        """mkdir every directory, parents too, remembering which ones it made."""
        for d in self.directories():
            mount = self._mount_of(d)
            if not os.path.exists(os.path.join(mount, "cgroup.procs")):
                raise OcirtError(f"{mount} is not a mounted cgroup hierarchy (it has no cgroup.procs)")
            self._mkdirs(mount, d)
        if "cpuset" in self.paths:
            from . import v1
            v1.fill_cpuset(self.mounts["cpuset"], self.paths["cpuset"])
        if self.layout == "v2":
            from . import v2
            v2.enable_all(self.mounts[UNIFIED], self.unified)

    def _mkdirs(self, mount, leaf):
        rel = os.path.relpath(leaf, mount)
        if rel.startswith(".."):
            raise OcirtError(f"cgroup {leaf} is not below its hierarchy's mount point {mount}")
        for _ in range(5):  # a concurrent destroy may remove a shared parent under us
            current = mount
            try:
                for part in rel.split("/"):
                    current = os.path.join(current, part)
                    try:
                        os.mkdir(current, 0o755)
                    except FileExistsError:
                        continue
                    self.created.append(current)
                return
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise OcirtError(f"cannot create cgroup {current}: {_files.describe_oserror(exc)}") from None
        raise OcirtError(f"cannot create cgroup {leaf}: its parents keep disappearing")

    # -- resources

    def _v2_available(self):
        from . import v2
        return v2.available(self.mounts[UNIFIED]) if self.unified else set()

    def _where(self, controller):
        """("v1"|"v2", directory) of the hierarchy that carries `controller`, or None."""
        if controller in self.paths and controller != UNIFIED:
            return "v1", self.paths[controller]
        if self.unified and _V2_NAME.get(controller, controller) in self._v2_available():
            return "v2", self.unified
        return None

    def _missing(self, controller, what, jp):
        v2name = _V2_NAME.get(controller, controller)
        if self.layout == "v2":
            if controller in ("net_cls", "net_prio"):
                why = "cgroup v2 has no net_cls or net_prio controller (classify traffic with eBPF or nftables instead)"
            else:
                why = f"the unified hierarchy does not offer the {v2name} controller (see cgroup.controllers)"
        else:
            why = f"the {controller} controller is not mounted as cgroup v1"
            if self.unified:
                why += f", and the unified hierarchy does not offer {v2name} either"
        return OcirtError(f"{what} cannot be applied on this host: {why}", path=jp)

    def apply(self, resources, json_path="linux.resources"):
        """Apply linux.resources; returns warnings (settings the kernel ignores).

        Whether the host has a controller for every requested setting is
        checked before the first write, so an unsupported setting fails
        without half-applying the rest (a value the kernel rejects can still
        stop part way: the error names it). Only keys present are written,
        so this serves `update` too. Call it before add_process: real-time
        budgets, cpuset and device rules must be in place before a process joins.
        """
        from . import v1, v2
        resources = resources or {}
        if not isinstance(resources, dict):
            raise OcirtError("must be an object", path=json_path)
        for d in self.directories():
            if not os.path.isdir(d):
                raise OcirtError(f"cgroup {d} does not exist (the container's cgroup was removed or never created)")
        jp = lambda key: f"{json_path}.{key}"  # noqa: E731
        steps = []  # ((version, dir), controller, value, json path, setter name)

        def need(controller, what, value, path, setter):
            where = self._where(controller)
            if where is None:
                raise self._missing(controller, what, path)
            steps.append((where, controller, value, path, setter))

        def present(obj, keys):
            return isinstance(obj, dict) and any(obj.get(k) is not None for k in keys)

        cpu = resources.get("cpu") or {}
        if isinstance(cpu, dict) and (cpu.get("cpus") or cpu.get("mems")):
            need("cpuset", "cpu.cpus/cpu.mems", cpu, jp("cpu"), "set_cpuset")
        devices = resources.get("devices")
        if devices is not None:
            where = self._where("devices")
            if where is not None and where[0] == "v1":
                steps.append((where, "devices", devices, jp("devices"), "set_devices"))
            elif self.unified:  # cgroup2 has no devices controller: an eBPF program on the cgroup
                steps.append((("v2", self.unified), None, devices, jp("devices"), "set_devices"))
            elif v1.device_plan(devices, jp("devices"))[2]:
                raise self._missing("devices", "devices", jp("devices"))
        memory = resources.get("memory")
        if present(memory, ("limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness",
                            "disableOOMKiller", "useHierarchy")):
            need("memory", "memory", memory, jp("memory"), "set_memory")
        if present(cpu, ("shares", "quota", "period", "burst", "realtimeRuntime", "realtimePeriod", "idle")):
            need("cpu", "cpu", cpu, jp("cpu"), "set_cpu")
        pids = resources.get("pids")
        if present(pids, ("limit",)):
            need("pids", "pids", pids, jp("pids"), "set_pids")
        blkio = resources.get("blockIO")
        if present(blkio, ("weight", "leafWeight", "weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice",
                           "throttleReadIOPSDevice", "throttleWriteIOPSDevice")):
            need("blkio", "blockIO", blkio, jp("blockIO"), "set_blkio")
        huge = resources.get("hugepageLimits")
        if huge:
            need("hugetlb", "hugepageLimits", huge, jp("hugepageLimits"), "set_hugetlb")
        network = resources.get("network") or {}
        if network.get("classID") is not None:
            need("net_cls", "network.classID", network["classID"], jp("network.classID"), "set_net_cls")
        if network.get("priorities"):
            need("net_prio", "network.priorities", network["priorities"], jp("network.priorities"), "set_net_prio")
        rdma = resources.get("rdma")
        if rdma:
            need("rdma", "rdma", rdma, jp("rdma"), "set_rdma")
        unified = resources.get("unified")
        if unified:
            if not self.unified:
                raise OcirtError("unified settings need cgroup v2, and this host has only cgroup v1",
                                 path=jp("unified"))
            offered = self._v2_available()
            for controller in sorted(v2.unified_controllers(unified, jp("unified"))):
                if controller not in offered:
                    bound = " (it is mounted as cgroup v1 here: use its linux.resources field)" \
                        if controller in self.paths or controller == "io" and "blkio" in self.paths else ""
                    raise OcirtError(f"the {controller} controller is not available in the unified hierarchy"
                                     f"{bound}", path=jp("unified"))
                steps.append((("v2", self.unified), controller, None, jp("unified"), None))
            steps.append((("v2", self.unified), None, unified, jp("unified"), "set_unified"))

        warnings = []
        for (version, d), controller, value, path, setter in steps:
            if version == "v2" and controller is not None:
                v2.enable_controller(self.mounts[UNIFIED], d, _V2_NAME.get(controller, controller), path)
            if setter is None:
                continue
            module = v1 if version == "v1" else v2
            if version == "v2" and setter == "set_blkio":
                setter = "set_io"
            if not hasattr(module, setter):
                raise OcirtError(f"{path} is not supported on cgroup v2", path=path)
            getattr(module, setter)(d, value, path, warnings)
        return warnings

    def update(self, resources, json_path="linux.resources"):
        """Live changes (`ocirt update`): apply() on a running container, all or nothing.

        If the kernel refuses a value part way, the values already written
        are put back (newest first) before the error is raised, so a failed
        update leaves the limits as they were; the error says so, or names
        the files it could not restore.

        Note that device rules restart from deny-all, so a running container
        briefly loses access to its devices while they are rewritten.
        """
        with _files.Journal() as journal:
            try:
                return self.apply(resources, json_path)
            except OcirtError as exc:
                failed = journal.undo()
                if not journal.entries and not failed:
                    raise
                note = "the settings written before it were put back" if not failed else \
                    f"and the earlier settings of this update could not all be put back: {', '.join(failed)}"
                raise OcirtError(f"{exc.message} ({note})", path=exc.path, source=exc.source,
                                 exit_code=exc.exit_code) from None

    # -- processes

    def add_process(self, pid):
        """Move `pid` into the container's cgroup in every hierarchy."""
        for d in self.directories():
            _files.write(os.path.join(d, "cgroup.procs"), pid, what=f"the cgroup of process {pid}", hints={
                errno.ESRCH: "the process has exited",
                errno.ENOSPC: "the cpuset cgroup has no cpus or mems",
                errno.EBUSY: "the cgroup has controllers enabled for child cgroups "
                             "(cgroup v2 no-internal-processes rule)",
                errno.EOPNOTSUPP: "the cgroup is threaded or invalid for processes",
            })

    def join_fds(self):
        """cgroup.procs of every hierarchy, opened O_WRONLY|O_CLOEXEC; writing b"0" to
        each moves the writer. The caller closes them."""
        fds = []
        try:
            for d in self.directories():
                fds.append(os.open(os.path.join(d, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC))
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            raise OcirtError(f"cannot open {d}/cgroup.procs: {_files.describe_oserror(exc)}") from None
        return fds

    def _procs_dir(self):
        # The hierarchy whose tree we list and signal: freezer (the one we freeze) when there is one.
        if self.layout == "v2":
            return self.unified
        for key in ("freezer", "pids", "memory", "devices", "cpu", "name=systemd"):
            if key in self.paths:
                return self.paths[key]
        return self.directories()[0]

    def _tree(self):
        """The container's cgroup and every child cgroup under it."""
        top = self._procs_dir()
        if not os.path.isdir(top):
            return []
        return [root for root, _, _ in os.walk(top)]

    def pids(self):
        """Every pid in the container's cgroup and its child cgroups."""
        out = []
        for d in self._tree():
            out.extend(_files.read_procs(d))
        return out

    # -- freezer

    def _freezer(self):
        from . import v1, v2
        if "freezer" in self.paths:
            return v1, self.paths["freezer"]
        if self.unified and v2.can_freeze(self.unified):
            return v2, self.unified
        return None

    def can_freeze(self):
        return self._freezer() is not None

    def freeze(self, timeout=2.0):
        fz = self._freezer()
        if fz is None:
            raise OcirtError("cannot pause: this host has no cgroup freezer (no v1 freezer mount and no "
                             "cgroup v2 cgroup.freeze)")
        fz[0].freeze(fz[1], timeout)

    def thaw(self):
        fz = self._freezer()
        if fz is None:
            raise OcirtError("cannot resume: this host has no cgroup freezer")
        fz[0].thaw(fz[1])

    def is_frozen(self):
        fz = self._freezer()
        return fz is not None and os.path.isdir(fz[1]) and fz[0].is_frozen(fz[1])

    # -- signals

    def _signal_pass(self, signum, skip):
        """Signal every process in the tree not in `skip`; return the pids signalled.

        A pid read from cgroup.procs may exit and be reused before kill(); so
        pin each with a pidfd, then read cgroup.procs again and signal only
        those still listed: a pinned pid still listed is our process.
        """
        import _signal as signal  # the C module: `signal` itself imports enum (~4 ms)
        sent = set()
        for d in self._tree():
            fds = {}
            try:
                for pid in _files.read_procs(d):
                    if pid in skip:
                        continue
                    try:
                        fds[pid] = os.pidfd_open(pid)
                    except ProcessLookupError:
                        pass
                    except OSError as exc:
                        if exc.errno != errno.ENOSYS:
                            raise
                        fds[pid] = None  # pre-5.3 kernel: plain kill
                still = set(_files.read_procs(d))
                for pid, fd in fds.items():
                    if pid not in still:
                        continue
                    try:
                        if fd is None:
                            os.kill(pid, signum)
                        else:
                            signal.pidfd_send_signal(fd, signum)
                    except ProcessLookupError:
                        continue
                    sent.add(pid)
            finally:
                for fd in fds.values():
                    if fd is not None:
                        os.close(fd)
        return sent

    def kill_all(self, signum, timeout=2.0):
        """Send `signum` to every process of the container without racing forks.

        With a freezer: freeze, signal everything, thaw (a cgroup that was
        already paused stays paused, except for SIGKILL, which v1 only
        delivers once thawed). On pure v2, SIGKILL is cgroup.kill. Without
        a freezer (or if freezing fails), signal in rounds until a round
        finds no process it has not signalled yet.
        """
        from . import v2
        if not os.path.isdir(self._procs_dir()):
            return
        if signum == SIGKILL and self.layout == "v2" and v2.kill(self.unified):
            return
        fz = self._freezer()
        if fz is not None:
            module, d = fz
            was_frozen = module.is_frozen(d)
            try:
                if not was_frozen:
                    module.freeze(d, timeout)
            except OcirtError:
                fz = None  # cannot stop forks this way; fall back to rounds
            else:
                try:
                    self._signal_pass(signum, ())
                finally:
                    if not was_frozen or signum == SIGKILL:
                        module.thaw(d)
                return
        signalled = set()
        deadline = time.monotonic() + timeout
        while True:
            # SIGKILL is resent to everyone each round (harmless); others once per pid.
            new = self._signal_pass(signum, () if signum == SIGKILL else signalled) - signalled
            if not new:
                return
            signalled |= new
            if time.monotonic() >= deadline:
                raise OcirtError(f"processes in {self._procs_dir()} keep forking faster than they can be "
                                 "signalled, and there is no freezer to stop them; try SIGKILL")
            time.sleep(0.001)

    # -- destroy

    def destroy(self, timeout=2.0):
        """Remove the container's cgroups, deepest first; idempotent.

        Retries while the kernel says EBUSY (processes still exiting) for
        up to `timeout` seconds, then fails naming what is left.
        """
        leaves = self.directories()
        pending = []
        for leaf in leaves:
            if not os.path.isdir(leaf):
                continue
            if not os.path.exists(os.path.join(leaf, "cgroup.procs")):
                raise OcirtError(f"refusing to remove {leaf}: it is not a cgroup (no cgroup.procs)")
            pending.extend(root for root, _, _ in os.walk(leaf, topdown=False))
        deadline = time.monotonic() + timeout
        delay = 0.001
        while pending:
            left = []
            for d in pending:
                try:
                    os.rmdir(d)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    if exc.errno not in (errno.EBUSY, errno.ENOTEMPTY):
                        raise OcirtError(f"cannot remove cgroup {d}: {_files.describe_oserror(exc)}") from None
                    left.append(d)
            pending = left
            if not pending:
                break
            if time.monotonic() >= deadline:
                busy = pending[-1]
                pids = _files.read_procs(busy)
                who = f"processes {', '.join(map(str, pids[:10]))} are still in it" if pids else \
                    "it still has child cgroups or exiting processes"
                raise OcirtError(f"cannot remove cgroup {busy} after {timeout:g} s: {who}; kill them "
                                 "(ocirt kill --all <id> KILL) and delete again")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        # Parents create() made for this container alone; EBUSY means another cgroup uses them: keep.
        for d in sorted(set(self.created) - set(leaves), key=lambda p: p.count("/"), reverse=True):
            try:
                os.rmdir(d)
            except OSError:
                pass

    # -- stats and events

    def oom_watcher(self):
        """An oom.OomWatcher on the memory cgroup, or None when the container has none."""
        from .oom import OomWatcher
        where = self._where("memory")
        if where is None or not os.path.isdir(where[1]):
            return None
        return OomWatcher.open(*where)

    def stats(self):
        """runc's `events --stats` "data" (cpu, memory, pids, blkio, hugetlb) as far as the host has the files.

        Numbers are as runc reports them (nanoseconds for cpu, bytes for
        memory; v2 swap as memory+swap). Parts whose files are missing are left out.
        """
        from . import v1, v2
        out = {}
        v1_paths = {k: v for k, v in self.paths.items() if k != UNIFIED}
        if v1_paths:
            v1.stats(v1_paths, out)
        if self.unified and os.path.isdir(self.unified):
            if self.layout == "v2":
                v2.stats(self.unified, out)
            else:
                only_v2 = {c for c in self._v2_available() if c not in v1_paths and
                           not (c == "io" and "blkio" in v1_paths)}
                v2.stats(self.unified, out, only_v2)
        return out
