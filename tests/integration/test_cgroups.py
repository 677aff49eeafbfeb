"""The cgroup manager against the real kernel (root only).

Every cgroup made here has "ocirt-test" in its name; fixtures kill what
the tests started and remove every such cgroup even when a test fails, and
an autouse check fails the test that left one behind.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import reap_zombie_children
from ocirt.errors import OcirtError
from ocirt.linux.cgroups import UNIFIED, Cgroups, cgroup_mounts, detect_layout, parse_proc_cgroup

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to manage cgroups")

MOUNTS = cgroup_mounts(open("/proc/self/mountinfo").read())
V1 = {k for k in MOUNTS if k != UNIFIED}
HAS_UNIFIED = UNIFIED in MOUNTS
MB = 1 << 20
_counter = [0]


def new_id(tag="c"):
    _counter[0] += 1
    return f"ocirt-test-{tag}-{os.getpid()}-{_counter[0]}"


def read(path):
    with open(path) as f:
        return f.read().strip()


def wait_for(predicate, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def v2_offers(name):
    return HAS_UNIFIED and name in read(os.path.join(MOUNTS[UNIFIED][0], "cgroup.controllers")).split()


def whole_disk():
    """(major, minor) of a real whole disk, for blkio rules; None if the host has none."""
    for name in sorted(os.listdir("/sys/block")):
        if name.startswith(("loop", "ram", "zram", "dm-", "nbd")):
            continue
        major, minor = read(f"/sys/block/{name}/dev").split(":")
        return int(major), int(minor), name
    return None


# ---------------------------------------------------------------- cleanup machinery

def _test_cgroups():
    found = []
    for mount, _ in set(MOUNTS.values()):
        for root, dirs, _ in os.walk(mount):
            found.extend(os.path.join(root, d) for d in dirs if "ocirt-test" in d and f"-{os.getpid()}-" in d)
    return found


def _force_remove(paths):
    """Last resort after a failed test: thaw, kill, then rmdir deepest first."""
    trees = [[root for root, _, _ in os.walk(top)] for top in paths]
    for tree in trees:
        for d in tree:  # top-down: a child cannot thaw under a frozen parent
            for name, value in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
                try:
                    with open(os.path.join(d, name), "w") as f:
                        f.write(value)
                except OSError:
                    pass
    for tree in trees:
        for d in tree:
            try:
                for pid in read(os.path.join(d, "cgroup.procs")).split():
                    os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
    deadline = time.monotonic() + 3
    for tree in trees:
        for d in reversed(tree):
            while True:
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.02)


@pytest.fixture(scope="module", autouse=True)
def restore_unified_root():
    """Tests may enable controllers (hugetlb) in the unified root; put it back as found."""
    if not HAS_UNIFIED:
        yield
        return
    path = os.path.join(MOUNTS[UNIFIED][0], "cgroup.subtree_control")
    before = set(read(path).split())
    yield
    for name in set(read(path).split()) - before:
        try:
            with open(path, "w") as f:
                f.write("-" + name)
        except OSError:
            pass


@pytest.fixture(autouse=True)
def no_leftovers():
    yield
    left = _test_cgroups()
    if left:
        _force_remove(left)
        pytest.fail(f"cgroups left behind: {left}")


@pytest.fixture
def procs():
    """Start processes; every one is killed and reaped at the end."""
    started = []

    def start(args, cg=None, **kw):
        """With `cg`, the child joins it before exec, so nothing it forks escapes."""
        if cg is not None:
            fds = cg.join_fds()
            kw["preexec_fn"] = lambda: [os.write(fd, b"0") for fd in fds]
        try:
            p = subprocess.Popen(args, **kw)
        finally:
            if cg is not None:
                for fd in fds:
                    os.close(fd)
        started.append(p)
        return p
    yield start
    for p in started:
        if p.poll() is None:
            p.kill()
        try:
            p.wait(5)  # bounded: a process left frozen would never die
        except subprocess.TimeoutExpired:
            pass


def live_children():
    """Our children that are not zombies (orphans re-parented to us included)."""
    out = []
    for pid in open(f"/proc/self/task/{os.getpid()}/children").read().split():
        try:
            state = read(f"/proc/{pid}/status").split("State:")[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            out.append(int(pid))
    return out


@pytest.fixture
def orphans(subreaper):
    """Orphans of forking tests come to the test process, a child subreaper for the
    whole session (tests/conftest.py `subreaper`, never turned off): kill and reap them."""
    yield
    for pid in live_children():  # only after a failed test
        os.kill(pid, signal.SIGKILL)
    reap_zombie_children()


@pytest.fixture
def make_cg(procs, orphans):
    """Cgroups.for_container with a test name; thawed, killed and destroyed afterwards.

    It depends on procs and orphans so that it is torn down first: their
    processes must be thawed before a SIGKILL can end them.
    """
    made = []

    def make(cgroups_path=None, container_id=None, **kw):
        cg = Cgroups.for_container(container_id or new_id(), cgroups_path, **kw)
        made.append(cg)
        return cg
    yield make
    leftovers = []
    for cg in reversed(made):
        try:
            if cg.is_frozen():
                cg.thaw()
            cg.kill_all(signal.SIGKILL)
            cg.destroy()
        except OcirtError:
            leftovers.extend(cg.directories())
    _force_remove([d for d in leftovers if os.path.isdir(d)])


# ---------------------------------------------------------------- placement and record

def test_layout_matches_the_mounts():
    expected = {(True, True): "hybrid", (True, False): "v1", (False, True): "v2"}[(bool(V1), HAS_UNIFIED)]
    assert detect_layout() == expected


def test_record_round_trips_and_create_is_remembered(make_cg):
    cg = make_cg(f"/{new_id('rec')}/inner")
    record = cg.to_record()
    assert record["created"] == []
    assert not cg.exists()  # for_container touches nothing
    back = Cgroups.from_record(json.loads(json.dumps(record)))
    assert back.paths == cg.paths and back.layout == cg.layout == detect_layout()
    cg.create()
    record = json.loads(json.dumps(cg.to_record()))
    assert all(os.path.isdir(d) for d in cg.directories())
    # Both the parent and the leaf were made by create(), in every hierarchy.
    assert len(record["created"]) == 2 * len(cg.directories())
    Cgroups.from_record(record).destroy()
    assert not cg.exists()
    assert not any(os.path.exists(d) for d in record["created"])


def test_absolute_path_lands_under_each_mount(make_cg):
    name = new_id("abs")
    cg = make_cg("/" + name)
    cg.create()
    for key, (mount, _) in MOUNTS.items():
        assert cg.paths[key] == f"{mount}/{name}"
        assert os.path.isdir(cg.paths[key])


def test_relative_path_lands_under_own_cgroup(make_cg):
    parent = new_id("rel")
    cg = make_cg(f"{parent}/inner")
    own = parse_proc_cgroup(open("/proc/self/cgroup").read())
    for key, (mount, root) in MOUNTS.items():
        base = os.path.join(mount, own[key].strip("/")) if own[key] != "/" else mount
        assert cg.paths[key] == f"{base}/{parent}/inner"
    if "memory" in MOUNTS and own["memory"] != "/":
        assert own["memory"].strip("/") in cg.paths["memory"]  # this shell's /process_api/... cgroup
    cg.create()
    assert all(os.path.isdir(d) for d in cg.directories())
    cg.destroy()
    assert not any(os.path.exists(os.path.dirname(d)) for d in cg.directories())


def test_missing_path_uses_the_id(make_cg):
    cid = new_id("noid")
    cg = make_cg(None, container_id=cid)
    assert all(d.endswith("/" + cid) for d in cg.directories())


def test_shared_parent_is_kept_while_in_use(make_cg):
    parent = new_id("shared")
    a, b = make_cg(f"/{parent}/a"), make_cg(f"/{parent}/b")
    a.create()
    b.create()
    assert all(not c.endswith(parent) for c in b.created)  # b found the parent there
    a.destroy()
    assert os.path.isdir(os.path.dirname(b.paths["pids" if "pids" in V1 else UNIFIED]))
    b.destroy()
    # a made the parent but it was busy then; b did not make it: it stays (runc leaves all parents).
    leftover = [os.path.dirname(d) for d in b.directories() if os.path.isdir(os.path.dirname(d))]
    assert leftover
    for d in leftover:
        os.rmdir(d)


def test_systemd_forms_are_refused(make_cg):
    with pytest.raises(OcirtError, match="needs the systemd cgroup driver"):
        make_cg("system.slice:ocirt-test:x")
    if os.path.isdir("/run/systemd/system"):
        pytest.skip("systemd runs here")
    with pytest.raises(OcirtError) as err:
        make_cg("system.slice:ocirt-test:x", systemd=True)
    assert err.value.message == "systemd cgroup driver requested but systemd is not running on this host"


# ---------------------------------------------------------------- resources

@pytest.mark.skipif(not {"memory", "cpu", "cpuset", "pids", "devices", "blkio"} <= V1,
                    reason="needs the v1 controllers of this host")
def test_apply_every_supported_resource(make_cg):
    cg = make_cg("/" + new_id("res"))
    cg.create()
    disk = whole_disk()
    resources = {
        "devices": [{"allow": False, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rw"}],
        "memory": {"limit": 64 * MB, "swap": 128 * MB, "reservation": 32 * MB, "swappiness": 10,
                   "disableOOMKiller": True, "kernel": 32 * MB, "kernelTCP": 16 * MB, "useHierarchy": True,
                   "checkBeforeUpdate": True},
        "cpu": {"shares": 512, "quota": 25000, "period": 50000, "burst": 1000, "realtimePeriod": 1000000,
                "realtimeRuntime": 10000, "cpus": "0", "mems": "0", "idle": 0},
        "pids": {"limit": 20},
    }
    if disk:
        resources["blockIO"] = {"throttleReadBpsDevice": [{"major": disk[0], "minor": disk[1], "rate": MB}],
                                "throttleWriteIOPSDevice": [{"major": disk[0], "minor": disk[1], "rate": 100}]}
    if "hugetlb" in V1 or v2_offers("hugetlb"):
        resources["hugepageLimits"] = [{"pageSize": "2MB", "limit": 4 * MB}]
    if v2_offers("hugetlb"):
        resources["unified"] = {"hugetlb.1GB.max": str(1 << 30)}
    warnings = cg.apply(resources)

    mem = lambda name: read(os.path.join(cg.paths["memory"], name))  # noqa: E731
    assert mem("memory.limit_in_bytes") == str(64 * MB)
    assert mem("memory.memsw.limit_in_bytes") == str(128 * MB)
    assert mem("memory.soft_limit_in_bytes") == str(32 * MB)
    assert mem("memory.swappiness") == "10"
    assert "oom_kill_disable 1" in mem("memory.oom_control")
    assert mem("memory.kmem.tcp.limit_in_bytes") == str(16 * MB)
    assert mem("memory.use_hierarchy") == "1"
    if mem("memory.kmem.limit_in_bytes") != str(32 * MB):
        assert any("kernel memory limit ignored" in w for w in warnings)

    cpu = lambda name: read(os.path.join(cg.paths["cpu"], name))  # noqa: E731
    assert cpu("cpu.shares") == "512"
    assert cpu("cpu.cfs_quota_us") == "25000"
    assert cpu("cpu.cfs_period_us") == "50000"
    assert cpu("cpu.cfs_burst_us") == "1000"
    assert cpu("cpu.rt_period_us") == "1000000"
    assert cpu("cpu.rt_runtime_us") == "10000"
    assert cpu("cpu.idle") == "0"
    assert read(os.path.join(cg.paths["cpuset"], "cpuset.cpus")) == "0"
    assert read(os.path.join(cg.paths["cpuset"], "cpuset.mems")) == "0"
    assert read(os.path.join(cg.paths["pids"], "pids.max")) == "20"
    assert set(read(os.path.join(cg.paths["devices"], "devices.list")).splitlines()) == {"c 1:3 rwm", "c 1:5 rw"}
    if disk:
        blk = lambda name: read(os.path.join(cg.paths["blkio"], "blkio.throttle." + name))  # noqa: E731
        assert blk("read_bps_device") == f"{disk[0]}:{disk[1]} {MB}"
        assert blk("write_iops_device") == f"{disk[0]}:{disk[1]} 100"
    if "hugepageLimits" in resources:
        d = cg.paths.get("hugetlb") or cg.unified
        suffix = ".limit_in_bytes" if "hugetlb" in cg.paths else ".max"
        assert read(os.path.join(d, "hugetlb.2MB" + suffix)) == str(4 * MB)
    if "unified" in resources:
        assert read(os.path.join(cg.unified, "hugetlb.1GB.max")) == str(1 << 30)
    assert not [w for w in warnings if "kernel memory" not in w], warnings


@pytest.mark.skipif("memory" not in V1 or "cpu" not in V1, reason="v1 memory and cpu")
def test_update_orders_dependent_writes(make_cg):
    cg = make_cg("/" + new_id("upd"))
    cg.create()
    mem = lambda name: int(read(os.path.join(cg.paths["memory"], name)))  # noqa: E731
    cg.apply({"memory": {"limit": 64 * MB, "swap": 128 * MB}})
    # Raising both above the current memory+swap needs memsw first ...
    cg.update({"memory": {"limit": 256 * MB, "swap": 512 * MB}})
    assert (mem("memory.limit_in_bytes"), mem("memory.memsw.limit_in_bytes")) == (256 * MB, 512 * MB)
    # ... lowering both needs the limit first.
    cg.update({"memory": {"limit": 32 * MB, "swap": 48 * MB}})
    assert (mem("memory.limit_in_bytes"), mem("memory.memsw.limit_in_bytes")) == (32 * MB, 48 * MB)
    # -1 lifts memory+swap with it.
    cg.update({"memory": {"limit": -1}})
    assert mem("memory.limit_in_bytes") == mem("memory.memsw.limit_in_bytes") > 1 << 60
    with pytest.raises(OcirtError, match="must not be lower than the current memory limit"):
        cg.update({"memory": {"swap": 16 * MB}})

    cpu = lambda name: int(read(os.path.join(cg.paths["cpu"], name)))  # noqa: E731
    cg.apply({"cpu": {"quota": 20000, "period": 50000, "burst": 10000}})
    # Lowering the quota below the current burst only works burst-first.
    cg.update({"cpu": {"quota": 5000, "burst": 1000}})
    assert (cpu("cpu.cfs_quota_us"), cpu("cpu.cfs_burst_us")) == (5000, 1000)
    cg.update({"cpu": {"period": 1000000, "quota": 2000000}})
    assert (cpu("cpu.cfs_period_us"), cpu("cpu.cfs_quota_us")) == (1000000, 2000000)
    cg.update({"cpu": {"idle": 1}})
    assert cpu("cpu.idle") == 1
    cg.update({"pids": {"limit": -1}})
    assert read(os.path.join(cg.paths["pids"], "pids.max")) == "max"


def test_unsupported_resources_fail_clearly(make_cg):
    cg = make_cg("/" + new_id("unsup"))
    cg.create()
    if "net_cls" not in V1:
        with pytest.raises(OcirtError, match="net_cls controller is not mounted") as err:
            cg.apply({"network": {"classID": 0x100001}})
        assert err.value.path == "linux.resources.network.classID"
    if "net_prio" not in V1:
        with pytest.raises(OcirtError, match="net_prio"):
            cg.apply({"network": {"priorities": [{"name": "lo", "priority": 1}]}})
    if "rdma" not in V1 and not v2_offers("rdma"):
        with pytest.raises(OcirtError, match="rdma"):
            cg.apply({"rdma": {"mlx5_0": {"hcaHandles": 1}}})
    if "memory" in V1:
        # Checked before anything is written: the memory limit stays as it was.
        before = read(os.path.join(cg.paths["memory"], "memory.limit_in_bytes"))
        with pytest.raises(OcirtError, match="net_cls|rdma"):
            cg.apply({"memory": {"limit": 8 * MB}, "network": {"classID": 1}, "rdma": {"x": {"hcaHandles": 1}}})
        assert read(os.path.join(cg.paths["memory"], "memory.limit_in_bytes")) == before
        if HAS_UNIFIED and not v2_offers("memory"):
            with pytest.raises(OcirtError, match="mounted as cgroup v1"):
                cg.apply({"unified": {"memory.max": "1G"}})
    if "cpuset" in V1:
        with pytest.raises(OcirtError, match="subset of the parent"):
            cg.apply({"cpu": {"cpus": f"{os.cpu_count() + 5}"}})
    if "hugetlb" not in V1:
        v1_only = Cgroups("v1", {k: v for k, v in cg.paths.items() if k != UNIFIED},
                          {k: v for k, v in cg.mounts.items() if k != UNIFIED})
        with pytest.raises(OcirtError, match="hugetlb controller is not mounted"):
            v1_only.apply({"hugepageLimits": [{"pageSize": "2MB", "limit": MB}]})
    if v2_offers("hugetlb") or "hugetlb" in V1:
        with pytest.raises(OcirtError, match="hugepage size 3MB is not supported"):
            cg.apply({"hugepageLimits": [{"pageSize": "3MB", "limit": MB}]})


@pytest.mark.skipif("blkio" not in V1, reason="v1 blkio")
def test_blkio_weights_need_a_proportional_scheduler(make_cg):
    from ocirt.linux.cgroups.v1 import bfq_devices
    cg = make_cg("/" + new_id("blk"))
    cg.create()
    d = cg.paths["blkio"]
    if os.path.exists(os.path.join(d, "blkio.weight")):
        assert cg.apply({"blockIO": {"weight": 300}}) == []
    elif os.path.exists(os.path.join(d, "blkio.bfq.weight")):
        warnings = cg.apply({"blockIO": {"weight": 300}})
        assert read(os.path.join(d, "blkio.bfq.weight")) == "300"
        if not bfq_devices():
            assert len(warnings) == 1 and "no block device uses the BFQ scheduler" in warnings[0]
    else:
        with pytest.raises(OcirtError, match="proportional I/O scheduler"):
            cg.apply({"blockIO": {"weight": 300}})
    if not os.path.exists(os.path.join(d, "blkio.leaf_weight")):
        with pytest.raises(OcirtError, match="CFQ"):
            cg.apply({"blockIO": {"leafWeight": 300}})
    disk = whole_disk()
    if disk and not bfq_devices() and not os.path.exists(os.path.join(d, "blkio.weight_device")):
        with pytest.raises(OcirtError, match="does not use the BFQ I/O scheduler") as err:
            cg.apply({"blockIO": {"weightDevice": [{"major": disk[0], "minor": disk[1], "weight": 200}]}})
        assert err.value.path == "linux.resources.blockIO.weightDevice[0].weight"


# ---------------------------------------------------------------- processes

SLEEP = ["sleep", "100"]


def test_process_pids_freeze_thaw(make_cg, procs, tmp_path):
    cg = make_cg("/" + new_id("frz"))
    cg.create()
    ticks = tmp_path / "ticks"
    p = procs(["sh", "-c", f"while :; do echo x >> {ticks}; sleep 0.01; done"], cg)
    assert p.pid in cg.pids()
    own = parse_proc_cgroup(open(f"/proc/{p.pid}/cgroup").read())
    for key, (mount, _) in MOUNTS.items():
        assert os.path.join(mount, own[key].lstrip("/")) == cg.paths[key]
    assert wait_for(lambda: ticks.exists() and ticks.stat().st_size > 0)

    cg.freeze()
    assert cg.is_frozen()
    if "freezer" in cg.paths:
        assert read(os.path.join(cg.paths["freezer"], "freezer.state")) == "FROZEN"
        # The v1 freezer parks tasks in TASK_FROZEN, which /proc shows as D.
        assert read(f"/proc/{p.pid}/status").split("State:")[1].split()[0] == "D"
    size = ticks.stat().st_size
    time.sleep(0.2)
    assert ticks.stat().st_size == size  # nothing runs

    cg.thaw()
    assert not cg.is_frozen()
    assert wait_for(lambda: ticks.stat().st_size > size)
    cg.kill_all(signal.SIGKILL)
    assert p.wait(5) == -signal.SIGKILL


FORKER = "while :; do sleep 100 & sleep 0.002; done"


def test_kill_all_stops_a_forking_process(make_cg, procs, orphans):
    cg = make_cg("/" + new_id("fork"))
    cg.create()
    if "pids" in V1:
        cg.apply({"pids": {"limit": 400}})  # a bound in case kill_all fails
    p = procs(["sh", "-c", FORKER], cg)
    assert wait_for(lambda: len(cg.pids()) > 20)
    assert cg.can_freeze()
    cg.kill_all(signal.SIGKILL)
    assert p.wait(5) == -signal.SIGKILL
    assert wait_for(lambda: cg.pids() == [])
    assert wait_for(lambda: live_children() == [])  # no orphan escaped
    cg.destroy()
    assert not cg.exists()


@pytest.mark.skipif("pids" not in V1, reason="uses the v1 pids hierarchy without a freezer")
def test_kill_all_without_a_freezer(make_cg, procs, orphans):
    cg = make_cg("/" + new_id("nofrz"))
    cg.create()
    cg.apply({"pids": {"limit": 400}})
    p = procs(["sh", "-c", FORKER], cg)
    assert wait_for(lambda: len(cg.pids()) > 20)
    keep = {"pids": cg.paths["pids"]}
    bare = Cgroups("v1", keep, {"pids": cg.mounts["pids"]})
    assert not bare.can_freeze()
    bare.kill_all(signal.SIGKILL)
    assert p.wait(5) == -signal.SIGKILL
    assert wait_for(lambda: cg.pids() == [])
    assert wait_for(lambda: live_children() == [])


def test_kill_all_keeps_a_paused_container_paused(make_cg, procs):
    cg = make_cg("/" + new_id("pause"))
    cg.create()
    p = procs(SLEEP)
    cg.add_process(p.pid)
    cg.freeze()
    cg.kill_all(signal.SIGTERM)
    assert cg.is_frozen() and p.poll() is None  # delivered, but the process cannot run yet
    cg.thaw()
    assert p.wait(5) == -signal.SIGTERM


def test_join_fds_and_check_before_update(make_cg, procs):
    cg = make_cg("/" + new_id("join"))
    cg.create()
    fds = cg.join_fds()
    try:
        child = ("import os, sys, time\n"
                 "for fd in sys.argv[1:]: os.write(int(fd), b'0')\n"
                 "buf = bytearray(40 << 20)\n"   # charged to the container's memory cgroup
                 "print(open('/proc/self/cgroup').read(), flush=True)\n"
                 "time.sleep(100)\n")
        p = procs([sys.executable, "-c", child] + [str(fd) for fd in fds], pass_fds=fds,
                  stdout=subprocess.PIPE, text=True)
    finally:
        for fd in fds:
            os.close(fd)
    lines = []
    while True:
        line = p.stdout.readline()
        if not line.strip():
            break
        lines.append(line)
    own = parse_proc_cgroup("".join(lines))
    for key, (mount, _) in MOUNTS.items():
        assert os.path.join(mount, own[key].lstrip("/")) == cg.paths[key]
    assert cg.pids() == [p.pid]

    stats = json.loads(json.dumps(cg.stats()))
    if "memory" in V1 or v2_offers("memory"):
        assert stats["memory"]["usage"]["usage"] >= 40 * MB
        with pytest.raises(OcirtError, match="below the current usage"):
            cg.update({"memory": {"limit": 10 * MB, "checkBeforeUpdate": True}})
    if "pids" in V1 or v2_offers("pids"):
        assert stats["pids"]["current"] == 1
    assert stats["cpu"]["usage"]["total"] > 0
    if "hugetlb" in V1 or v2_offers("hugetlb"):
        cg.apply({"hugepageLimits": [{"pageSize": "2MB", "limit": 2 * MB}]})
        assert cg.stats()["hugetlb"]["2MB"]["usage"] == 0


def test_destroy_waits_then_names_the_busy_cgroup(make_cg, procs):
    cg = make_cg("/" + new_id("busy"))
    cg.create()
    p = procs(SLEEP)
    cg.add_process(p.pid)
    with pytest.raises(OcirtError, match=f"processes {p.pid} are still in it"):
        cg.destroy(timeout=0.2)
    cg.kill_all(signal.SIGKILL)
    p.wait(5)
    cg.destroy()
    assert not cg.exists()
    cg.destroy()  # twice is fine
    Cgroups.from_record(cg.to_record()).destroy()


def test_destroy_removes_child_cgroups_and_half_made_state(make_cg):
    cg = make_cg("/" + new_id("tree"))
    cg.create()
    for d in cg.directories():
        os.makedirs(os.path.join(d, "sub", "subsub"))
    # As after a crash half way: some hierarchies already gone.
    os.rmdir(os.path.join(cg.directories()[0], "sub", "subsub"))
    os.rmdir(os.path.join(cg.directories()[0], "sub"))
    os.rmdir(cg.directories()[0])
    cg.destroy()
    assert not cg.exists()


# ---------------------------------------------------------------- the v2 code on the unified mount

@pytest.mark.skipif(not HAS_UNIFIED, reason="no cgroup2 mount")
def test_v2_manager_on_the_unified_mount(procs):
    mount = MOUNTS[UNIFIED][0]
    cg = Cgroups("v2", {UNIFIED: f"{mount}/{new_id('v2')}"}, {UNIFIED: mount})
    try:
        cg.create()
        assert os.path.isdir(cg.unified)
        if v2_offers("hugetlb"):
            cg.apply({"hugepageLimits": [{"pageSize": "2MB", "limit": 8 * MB}]})
            assert read(os.path.join(cg.unified, "hugetlb.2MB.max")) == str(8 * MB)
            assert read(os.path.join(cg.unified, "hugetlb.2MB.rsvd.max")) == str(8 * MB)
        if not v2_offers("pids"):
            with pytest.raises(OcirtError, match="does not offer the pids controller"):
                cg.apply({"pids": {"limit": 10}})
        if not v2_offers("memory"):
            with pytest.raises(OcirtError, match="does not offer the memory controller"):
                cg.apply({"memory": {"limit": 10 * MB}})
        with pytest.raises(OcirtError, match="no net_cls or net_prio"):
            cg.apply({"network": {"classID": 1}})

        p, q = procs(SLEEP), procs(SLEEP)
        cg.add_process(p.pid)
        cg.add_process(q.pid)
        assert sorted(cg.pids()) == sorted([p.pid, q.pid])
        cg.freeze()
        assert cg.is_frozen()
        assert "frozen 1" in read(os.path.join(cg.unified, "cgroup.events"))
        cg.thaw()
        assert not cg.is_frozen()
        assert cg.stats()["cpu"]["usage"]["total"] >= 0

        cg.kill_all(signal.SIGTERM)  # freeze, signal, thaw
        assert p.wait(5) == -signal.SIGTERM and q.wait(5) == -signal.SIGTERM
        r = procs(SLEEP)
        cg.add_process(r.pid)
        cg.kill_all(signal.SIGKILL)  # cgroup.kill
        assert r.wait(5) == -signal.SIGKILL
        assert wait_for(lambda: cg.pids() == [])
    finally:
        if os.path.isdir(cg.unified):
            try:
                cg.kill_all(signal.SIGKILL)
            except OcirtError:
                pass
        cg.destroy()
    assert not os.path.exists(cg.unified)


OPEN_PROBE = """
import os, sys
for path, flag in (("/dev/null", os.O_RDWR), ("/dev/zero", os.O_RDONLY), ("/dev/zero", os.O_WRONLY),
                   ("/dev/full", os.O_RDONLY)):
    try:
        os.close(os.open(path, flag))
        print(path, flag, "ok")
    except OSError as exc:
        print(path, flag, exc.strerror)
"""


@pytest.mark.skipif(not HAS_UNIFIED, reason="no cgroup2 mount")
@pytest.mark.parametrize("layout", ["v2", "hybrid"])
def test_device_rules_on_cgroup2_are_an_ebpf_program(procs, layout):
    """On cgroup2 (layout v2, or hybrid without a v1 devices hierarchy) the rules
    become an eBPF program: a process in the cgroup may open only what they allow.
    The v1 devices hierarchy of this host is not used (the process stays in its
    root there), so what is refused here is refused by the program alone."""
    mount = MOUNTS[UNIFIED][0]
    cg = Cgroups(layout, {UNIFIED: f"{mount}/{new_id('bpf')}"}, {UNIFIED: mount})
    rules = [{"allow": False, "access": "rwm"},
             {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},  # /dev/null
             {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rw"},   # /dev/zero
             {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "w"}]   # ... but not for writing
    try:
        cg.create()
        assert cg.apply({"devices": rules}) == []
        probe = procs([sys.executable, "-c", OPEN_PROBE], cg=cg, stdout=subprocess.PIPE, text=True)
        out = probe.communicate(timeout=30)[0].splitlines()
        assert out == [f"/dev/null {os.O_RDWR} ok", f"/dev/zero {os.O_RDONLY} ok",
                       f"/dev/zero {os.O_WRONLY} Operation not permitted",
                       f"/dev/full {os.O_RDONLY} Operation not permitted"]
        # The program is the cgroup's: a process outside it is unaffected.
        os.close(os.open("/dev/full", os.O_RDONLY))
    finally:
        cg.destroy()
    assert not os.path.exists(cg.unified)


def test_add_process_of_a_dead_pid_is_clear(make_cg, procs):
    cg = make_cg("/" + new_id("dead"))
    cg.create()
    p = procs(["true"])
    p.wait()
    with pytest.raises(OcirtError, match="the process has exited"):
        cg.add_process(p.pid)
