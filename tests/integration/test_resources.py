"""linux.resources on real containers, through the CLI.

Every limit is read back twice: from the kernel's files in the container's
cgroup directories on the host (found through `<root>/<id>/state.json`),
and as the container itself sees them under its /sys/fs/cgroup mount.
Then the kernel is made to enforce them (an OOM kill, a fork bomb, CPU
throttling, the freezer), and `update`, `ps` and `events` are driven on
live containers. Finally the memory floor: how little memory a container
start needs.
"""
import json
import os
import re
import subprocess
import time

import pytest

from conftest import OCIRT, new_id

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to manage cgroups"),
    # The files read back are cgroup v1's (a v1 or hybrid host, like this project's).
    pytest.mark.skipif(not os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
                       reason="no cgroup v1 memory hierarchy at /sys/fs/cgroup/memory"),
]

KB = 1 << 10
MB = 1 << 20
FIXTURES = "/work/shared/fixtures"
CGROUP_ROOT = "/sys/fs/cgroup"


# ---------------------------------------------------------------- host facts

def read(path):
    with open(path) as f:
        return f.read().strip()


def keyed(path):
    """A "key value" per line file (memory.oom_control, cpu.stat, pids.events) as a dict of ints."""
    return {k: int(v) for k, v in (line.split() for line in read(path).splitlines())}


def v1_mounted(controller):
    with open("/proc/self/mountinfo") as f:
        for line in f:
            _, _, right = line.partition(" - ")
            fields = right.split()
            if fields and fields[0] == "cgroup" and controller in fields[2].split(","):
                return True
    return False


def unified_offers(controller):
    for mount in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        path = os.path.join(mount, "cgroup.controllers")
        if os.path.exists(path):
            return controller in read(path).split()
    return False


def whole_disk():
    """(major, minor, name) of a real whole disk from /sys/block, or None."""
    for name in sorted(os.listdir("/sys/block")):
        if name.startswith(("loop", "ram", "zram", "dm-", "nbd", "md")):
            continue
        major, minor = read(f"/sys/block/{name}/dev").split(":")
        return int(major), int(minor), name
    return None


def hugepage_sizes():
    """The host's huge page sizes as the cgroup files name them: ["1GB", "2MB"]."""
    sizes = []
    for entry in sorted(os.listdir("/sys/kernel/mm/hugepages")):
        kb = int(entry[len("hugepages-"):-len("kB")])
        if kb >= 1 << 20:
            sizes.append((f"{kb >> 20}GB", kb * KB))
        elif kb >= 1 << 10:
            sizes.append((f"{kb >> 10}MB", kb * KB))
        else:
            sizes.append((f"{kb}KB", kb * KB))
    return sizes


# ---------------------------------------------------------------- containers

def with_resources(resources, mounts=(), **linux):
    """An `edit` for make_bundle: merge into linux.resources (keeping the bundle's device
    rules), set other linux keys, append mounts."""
    def edit(config):
        config["linux"].setdefault("resources", {}).update(json.loads(json.dumps(resources)))
        config["linux"].update(linux)
        config["mounts"].extend(mounts)
    return edit


def bind(host_dir, destination="/shared"):
    return {"destination": destination, "type": "bind", "source": str(host_dir), "options": ["rbind", "rw"]}


def run_detached(ocirt, make_bundle, resources=None, args=("sleep", "1000"), **kw):
    cid = new_id()
    bundle = make_bundle(list(args), edit=with_resources(resources or {}), **kw)
    ocirt("run", "-d", "--bundle", bundle, cid)
    return cid


def record(ocirt, cid):
    with open(os.path.join(ocirt.root, cid, "state.json")) as f:
        return json.load(f)


def cg_paths(ocirt, cid):
    """{hierarchy: the container's directory in it}, from state.json."""
    return record(ocirt, cid)["cgroups"]["paths"]


def host_files(ocirt, cid, names):
    """{"memory/memory.limit_in_bytes": contents} from the container's cgroup directories on the host."""
    paths = cg_paths(ocirt, cid)
    out = {}
    for name in names:
        hierarchy, _, file = name.partition("/")
        out[name] = read(os.path.join(paths[hierarchy], file))
    return out


def container_files(ocirt, cid, names):
    """The same files, as a process inside the container sees them under /sys/fs/cgroup."""
    script = 'for f; do echo "== $f"; cat "/sys/fs/cgroup/$f" || echo "(unreadable)"; done'
    out = ocirt("exec", cid, "sh", "-c", script, "sh", *names).stdout
    files = {}
    for chunk in out.split("== ")[1:]:
        name, _, body = chunk.partition("\n")
        files[name] = body.strip()
    return files


def both_views(ocirt, cid, names):
    """Host files; asserts the container sees exactly the same through its cgroup mount."""
    host = host_files(ocirt, cid, names)
    assert container_files(ocirt, cid, names) == host
    return host


def cgroup_dirs_named(cid):
    found = []
    for top, dirs, _ in os.walk(CGROUP_ROOT):
        found.extend(os.path.join(top, d) for d in dirs if cid in d)
    return found


def wait_for(predicate, timeout=5.0, interval=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def wait_status(ocirt, cid, status, timeout=10):
    assert wait_for(lambda: ocirt.state(cid)["status"] == status, timeout), \
        f"{cid} never reached {status}: {ocirt.state(cid)}"


# ---------------------------------------------------------------- every setting, read back

def test_init_is_in_every_hierarchy(ocirt, make_bundle):
    cid = run_detached(ocirt, make_bundle)
    pid = ocirt.state(cid)["pid"]
    paths = cg_paths(ocirt, cid)
    assert set(paths) >= {"memory", "cpu", "pids", "freezer", "devices", "unified"}
    for hierarchy, directory in paths.items():
        assert directory.endswith("/" + cid), hierarchy
        assert pid in map(int, read(os.path.join(directory, "cgroup.procs")).split()), hierarchy
    # Inside, with a cgroup namespace, the container's cgroup is the root of every hierarchy.
    inside = ocirt("exec", cid, "cat", "/proc/1/cgroup").stdout.splitlines()
    assert inside and all(line.endswith(":/") for line in inside), inside
    ocirt("delete", "--force", cid)
    assert cgroup_dirs_named(cid) == []


def test_absolute_cgroups_path(ocirt, make_bundle):
    cid = new_id()
    parent = new_id("parent")
    bundle = make_bundle(["sleep", "1000"], edit=with_resources({"pids": {"limit": 10}},
                                                                  cgroupsPath=f"/{parent}/{cid}"))
    ocirt("run", "-d", "--bundle", bundle, cid)
    paths = cg_paths(ocirt, cid)
    for hierarchy, directory in paths.items():
        mount = record(ocirt, cid)["cgroups"]["mounts"][hierarchy]
        assert directory == f"{mount}/{parent}/{cid}"
    assert read(os.path.join(paths["pids"], "pids.max")) == "10"
    ocirt("delete", "--force", cid)
    # the parent ocirt made for it goes too
    assert cgroup_dirs_named(parent) == []


def test_memory(ocirt, make_bundle):
    memory = {"limit": 64 * MB, "reservation": 32 * MB, "swap": 96 * MB, "swappiness": 20,
              "disableOOMKiller": True, "kernelTCP": 16 * MB}
    cid = run_detached(ocirt, make_bundle, {"memory": memory})
    files = both_views(ocirt, cid, [
        "memory/memory.limit_in_bytes", "memory/memory.soft_limit_in_bytes",
        "memory/memory.memsw.limit_in_bytes", "memory/memory.swappiness", "memory/memory.oom_control",
        "memory/memory.kmem.tcp.limit_in_bytes"])
    assert files["memory/memory.limit_in_bytes"] == str(64 * MB)
    assert files["memory/memory.soft_limit_in_bytes"] == str(32 * MB)
    assert files["memory/memory.memsw.limit_in_bytes"] == str(96 * MB)
    assert files["memory/memory.swappiness"] == "20"
    assert "oom_kill_disable 1" in files["memory/memory.oom_control"].splitlines()
    assert files["memory/memory.kmem.tcp.limit_in_bytes"] == str(16 * MB)
    ocirt("delete", "--force", cid)


def test_kernel_memory_limit_is_a_warning(ocirt, make_bundle):
    """memory.kernel: Linux 6.1+ accepts and ignores it; ocirt says so instead of failing."""
    out = ocirt("run", "--bundle", make_bundle(["true"], edit=with_resources({"memory": {"kernel": 48 * MB}})),
                new_id(), check=False)
    assert out.returncode == 0, out.stderr
    limit = os.path.join(CGROUP_ROOT, "memory", "memory.kmem.limit_in_bytes")
    if os.path.exists(limit):
        assert "linux.resources.memory.kernel" in out.stderr and "warning" in out.stderr


def test_memory_swap_below_limit_is_refused(ocirt, make_bundle):
    cid = new_id()
    bundle = make_bundle(["true"], edit=with_resources({"memory": {"limit": 64 * MB, "swap": 32 * MB}}))
    out = ocirt("create", "--bundle", bundle, cid, check=False)
    assert out.returncode != 0
    assert "linux.resources.memory.swap" in out.stderr
    assert os.listdir(ocirt.root) == [] and cgroup_dirs_named(cid) == []


def _cpuset_values():
    cpus = sorted(os.sched_getaffinity(0))
    mems = read(os.path.join(CGROUP_ROOT, "cpuset", "cpuset.mems")) if os.path.isdir(
        os.path.join(CGROUP_ROOT, "cpuset")) else "0"
    return str(cpus[-1]), re.split("[-,]", mems)[0]


def test_cpu(ocirt, make_bundle):
    cpus, mems = _cpuset_values()
    cpu = {"shares": 512, "quota": 20000, "period": 50000, "cpus": cpus, "mems": mems}
    names = ["cpu/cpu.shares", "cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us",
             "cpuset/cpuset.cpus", "cpuset/cpuset.mems"]
    if os.path.exists(os.path.join(CGROUP_ROOT, "cpu", "cpu.cfs_burst_us")):
        cpu["burst"] = 5000
        names.append("cpu/cpu.cfs_burst_us")
    cid = run_detached(ocirt, make_bundle, {"cpu": cpu})
    files = both_views(ocirt, cid, names)
    assert files["cpu/cpu.shares"] == "512"
    assert files["cpu/cpu.cfs_quota_us"] == "20000"
    assert files["cpu/cpu.cfs_period_us"] == "50000"
    assert files["cpuset/cpuset.cpus"] == cpus
    assert files["cpuset/cpuset.mems"] == mems
    if "burst" in cpu:
        assert files["cpu/cpu.cfs_burst_us"] == "5000"
    # and the scheduler holds the container to that cpu
    status = ocirt("exec", cid, "cat", "/proc/1/status").stdout
    assert re.search(r"^Cpus_allowed_list:\s*" + cpus + "$", status, re.M), status
    ocirt("delete", "--force", cid)


@pytest.mark.skipif(not os.path.exists(os.path.join(CGROUP_ROOT, "cpu", "cpu.rt_runtime_us")),
                    reason="kernel without CONFIG_RT_GROUP_SCHED")
def test_cpu_realtime(ocirt, make_bundle):
    cid = run_detached(ocirt, make_bundle, {"cpu": {"realtimeRuntime": 10000, "realtimePeriod": 100000}})
    files = both_views(ocirt, cid, ["cpu/cpu.rt_runtime_us", "cpu/cpu.rt_period_us"])
    assert files == {"cpu/cpu.rt_runtime_us": "10000", "cpu/cpu.rt_period_us": "100000"}
    ocirt("delete", "--force", cid)


@pytest.mark.skipif(not os.path.exists(os.path.join(CGROUP_ROOT, "cpu", "cpu.idle")),
                    reason="kernel without cpu.idle (Linux < 5.15)")
def test_cpu_idle(ocirt, make_bundle):
    cid = run_detached(ocirt, make_bundle, {"cpu": {"idle": 1}})
    files = both_views(ocirt, cid, ["cpu/cpu.idle", "cpu/cpu.shares"])
    assert files["cpu/cpu.idle"] == "1"
    # the kernel refuses weights while a group is idle, and resets the weight when idle changes
    out = ocirt("update", "--cpu-shares", "700", cid, check=False)
    assert out.returncode != 0 and "resources.cpu.shares" in out.stderr and "idle" in out.stderr
    ocirt("update", "-r", "-", cid, input=json.dumps({"cpu": {"idle": 0, "shares": 700}}))
    assert host_files(ocirt, cid, ["cpu/cpu.idle", "cpu/cpu.shares"]) == {"cpu/cpu.idle": "0",
                                                                          "cpu/cpu.shares": "700"}
    ocirt("delete", "--force", cid)


@pytest.mark.skipif(not os.path.exists(os.path.join(CGROUP_ROOT, "cpu", "cpu.idle")),
                    reason="kernel without cpu.idle (Linux < 5.15)")
def test_cpu_idle_overrides_shares_with_a_warning(ocirt, make_bundle):
    """An idle group has the minimum weight: shares given with idle 1 cannot take effect."""
    cid = new_id()
    bundle = make_bundle(["sleep", "1000"], edit=with_resources({"cpu": {"shares": 512, "idle": 1}}))
    out = ocirt("run", "-d", "--bundle", bundle, cid)
    assert "linux.resources.cpu.shares" in out.stderr and "idle" in out.stderr
    assert read(os.path.join(cg_paths(ocirt, cid)["cpu"], "cpu.idle")) == "1"
    ocirt("delete", "--force", cid)


def test_pids(ocirt, make_bundle):
    cid = run_detached(ocirt, make_bundle, {"pids": {"limit": 42}})
    assert both_views(ocirt, cid, ["pids/pids.max"]) == {"pids/pids.max": "42"}
    ocirt("delete", "--force", cid)


@pytest.mark.skipif(whole_disk() is None, reason="no whole block device on this host")
def test_block_io_throttles(ocirt, make_bundle):
    major, minor, _ = whole_disk()
    dev = lambda rate: [{"major": major, "minor": minor, "rate": rate}]  # noqa: E731
    cid = run_detached(ocirt, make_bundle, {"blockIO": {
        "throttleReadBpsDevice": dev(MB), "throttleWriteBpsDevice": dev(2 * MB),
        "throttleReadIOPSDevice": dev(100), "throttleWriteIOPSDevice": dev(200)}})
    files = both_views(ocirt, cid, [f"blkio/blkio.throttle.{name}_device" for name in
                                    ("read_bps", "write_bps", "read_iops", "write_iops")])
    assert files == {
        "blkio/blkio.throttle.read_bps_device": f"{major}:{minor} {MB}",
        "blkio/blkio.throttle.write_bps_device": f"{major}:{minor} {2 * MB}",
        "blkio/blkio.throttle.read_iops_device": f"{major}:{minor} 100",
        "blkio/blkio.throttle.write_iops_device": f"{major}:{minor} 200",
    }
    ocirt("delete", "--force", cid)


@pytest.mark.skipif(not hugepage_sizes() or not (v1_mounted("hugetlb") or unified_offers("hugetlb")),
                    reason="no huge pages or no hugetlb controller")
def test_hugepage_limits(ocirt, make_bundle):
    sizes = hugepage_sizes()
    limits = [{"pageSize": name, "limit": 2 * size} for name, size in sizes]
    cid = run_detached(ocirt, make_bundle, {"hugepageLimits": limits})
    if v1_mounted("hugetlb"):
        names = [f"hugetlb/hugetlb.{name}.limit_in_bytes" for name, _ in sizes]
    else:
        # hybrid host: hugetlb lives only in the unified hierarchy
        names = [f"unified/hugetlb.{name}.{kind}" for name, _ in sizes for kind in ("max", "rsvd.max")
                 if kind == "max" or os.path.exists(os.path.join(cg_paths(ocirt, cid)["unified"],
                                                                 f"hugetlb.{name}.rsvd.max"))]
    files = both_views(ocirt, cid, names)
    for name, size in sizes:
        for file, value in files.items():
            if f".{name}." in file:
                assert value == str(2 * size), file
    ocirt("delete", "--force", cid)


def test_devices(ocirt, make_bundle):
    rules = [{"allow": False, "access": "rwm"},
             {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "rwm"},   # /dev/zero
             {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"}]  # /dev/net/tun
    cid = new_id()
    bundle = make_bundle(["sleep", "1000"], edit=lambda c: c["linux"]["resources"].update(devices=rules))
    ocirt("run", "-d", "--bundle", bundle, cid)
    files = both_views(ocirt, cid, ["devices/devices.list"])
    allowed = files["devices/devices.list"].splitlines()
    assert "c 10:200 rwm" in allowed
    assert "c 1:3 rwm" in allowed  # /dev/null, one of the default devices
    assert not any(line.startswith(("a ", "c 1:5 ")) for line in allowed), allowed
    out = ocirt("exec", cid, "sh", "-c",
                "echo x >/dev/null && echo null-ok; head -c1 /dev/zero >/dev/null 2>&1 || echo zero-denied;"
                "head -c1 /dev/zero 2>&1 >/dev/null", check=False).stdout
    assert "null-ok" in out and "zero-denied" in out
    assert "Operation not permitted" in out
    ocirt("delete", "--force", cid)


def _unsupported_cases():
    cases = [({"blockIO": {"leafWeight": 300}}, "linux.resources.blockIO.leafWeight")]
    disk = whole_disk()
    if disk:
        major, minor, name = disk
        cases.append(({"blockIO": {"weightDevice": [{"major": major, "minor": minor, "leafWeight": 300}]}},
                      "linux.resources.blockIO.weightDevice[0].leafWeight"))
        if "[bfq]" not in read(f"/sys/block/{name}/queue/scheduler"):
            cases.append(({"blockIO": {"weightDevice": [{"major": major, "minor": minor, "weight": 300}]}},
                          "linux.resources.blockIO.weightDevice[0].weight"))
    if not v1_mounted("net_cls"):
        cases.append(({"network": {"classID": 0x100001}}, "linux.resources.network.classID"))
    if not v1_mounted("net_prio"):
        cases.append(({"network": {"priorities": [{"name": "lo", "priority": 2}]}},
                      "linux.resources.network.priorities"))
    if not v1_mounted("rdma") and not unified_offers("rdma"):
        cases.append(({"rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 1000}}}, "linux.resources.rdma"))
    cases.append(({"hugepageLimits": [{"pageSize": "3MB", "limit": 6 * MB}]},
                  "linux.resources.hugepageLimits[0].pageSize"))
    return cases


@pytest.mark.parametrize("resources,json_path", _unsupported_cases(),
                         ids=lambda v: v if isinstance(v, str) else None)
def test_what_the_host_cannot_do_fails_clearly(ocirt, make_bundle, resources, json_path):
    cid = new_id()
    # A memory limit that would be applied first: it must not survive either.
    bundle = make_bundle(["true"], edit=with_resources({"memory": {"limit": 64 * MB}, **resources}))
    for command in ("create", "run"):
        out = ocirt(command, "--bundle", bundle, cid, check=False)
        assert out.returncode != 0
        message = out.stderr.strip()
        assert message.startswith("ocirt: " + json_path + ":"), message
        assert "Traceback" not in message and len(message.splitlines()) == 1
        assert os.listdir(ocirt.root) == []
        assert cgroup_dirs_named(cid) == []


# ---------------------------------------------------------------- the kernel enforcing them

def test_oom_kill_under_memory_limit(ocirt, make_bundle):
    cid = new_id()
    # The shell keeps 50 MB of "x" in a variable: anonymous memory, far over the limit.
    hog = 'x=$(head -c 50000000 /dev/zero | tr "\\0" x); echo done'
    bundle = make_bundle(["sh", "-c", hog], edit=with_resources({"memory": {"limit": 16 * MB}}))
    out = ocirt("run", "--keep", "--bundle", bundle, cid, check=False)
    assert out.returncode == 137, out.stderr
    assert "done" not in out.stdout
    assert ocirt.state(cid)["status"] == "stopped"
    memory = cg_paths(ocirt, cid)["memory"]
    assert keyed(os.path.join(memory, "memory.oom_control"))["oom_kill"] >= 1
    assert int(read(os.path.join(memory, "memory.failcnt"))) > 0
    assert int(read(os.path.join(memory, "memory.max_usage_in_bytes"))) <= 16 * MB
    ocirt("delete", cid)


def test_pids_limit_stops_a_fork_bomb(ocirt, make_bundle, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    # A shell that cannot fork exits, so the bomb runs in a child shell and pid 1 survives it.
    script = ("sh -c 'for i in $(seq 100); do sleep 30 & done' 2>/shared/err; echo spawned >/shared/done;"
              "exec sleep 1000")
    cid = new_id()
    bundle = make_bundle(["sh", "-c", script], edit=with_resources({"pids": {"limit": 20}}, mounts=[bind(shared)]))
    ocirt("run", "-d", "--bundle", bundle, cid)
    assert wait_for(lambda: (shared / "done").exists(), 10)
    assert "can't fork" in (shared / "err").read_text()
    pids = json.loads(ocirt("ps", "--format", "json", cid).stdout)
    assert 10 <= len(pids) <= 20
    pids_dir = cg_paths(ocirt, cid)["pids"]
    assert int(read(os.path.join(pids_dir, "pids.current"))) <= 20
    if os.path.exists(os.path.join(pids_dir, "pids.events")):
        assert keyed(os.path.join(pids_dir, "pids.events"))["max"] > 0
    ocirt("delete", "--force", cid)
    assert not os.path.exists(os.path.join(ocirt.root, cid))
    assert cgroup_dirs_named(cid) == []
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or read(f"/proc/{pid}/stat").split(") ")[1][0] in "ZX"


def test_cpu_quota_throttles_a_busy_loop(ocirt, make_bundle):
    cid = run_detached(ocirt, make_bundle, {"cpu": {"quota": 10000, "period": 100000}},
                       args=["sh", "-c", "while :; do :; done"])
    paths = cg_paths(ocirt, cid)
    usage = os.path.join(paths["cpuacct"], "cpuacct.usage")
    start_usage, start = int(read(usage)), time.monotonic()
    time.sleep(0.6)
    used, elapsed = int(read(usage)) - start_usage, time.monotonic() - start
    stat = keyed(os.path.join(paths["cpu"], "cpu.stat"))
    assert stat["nr_throttled"] > 0 and stat["throttled_time"] > 0, stat
    # 10 % of one cpu, with room for the period boundaries
    assert used < 0.3 * elapsed * 1e9, (used, elapsed)
    data = json.loads(ocirt("events", "--stats", cid).stdout)["data"]
    assert data["cpu"]["throttling"]["throttledPeriods"] > 0
    ocirt("delete", "--force", cid)


def _counter_bundle(make_bundle, shared):
    # Appends, so that a shell frozen half way through a write never hides the last value.
    script = "i=0; while :; do i=$((i+1)); echo $i >>/shared/n; usleep 10000; done"
    return make_bundle(["sh", "-c", script], edit=with_resources({}, mounts=[bind(shared)]))


def _count(shared):
    """The last complete value the container wrote (waits for the first one)."""
    def value():
        try:
            text = (shared / "n").read_text()
        except FileNotFoundError:
            return None
        lines = text[:text.rfind("\n") + 1].split()
        return int(lines[-1]) if lines else None
    return wait_for(value, 5, 0.002)


def test_pause_resume_seen_by_a_counting_process(ocirt, make_bundle, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    cid = new_id()
    ocirt("run", "-d", "--bundle", _counter_bundle(make_bundle, shared), cid)
    first = _count(shared)
    assert wait_for(lambda: _count(shared) > first + 3), "the counter does not advance"
    ocirt("pause", cid)
    assert ocirt.state(cid)["status"] == "paused"
    assert read(os.path.join(cg_paths(ocirt, cid)["freezer"], "freezer.state")) == "FROZEN"
    frozen = _count(shared)
    time.sleep(0.3)  # 30 ticks
    assert _count(shared) == frozen
    ocirt("resume", cid)
    assert ocirt.state(cid)["status"] == "running"
    assert wait_for(lambda: _count(shared) > frozen + 3), "the counter does not advance after resume"
    # pausing twice, resuming a running container: refused
    assert ocirt("resume", cid, check=False).returncode != 0
    ocirt("pause", cid)
    assert ocirt("pause", cid, check=False).returncode != 0
    ocirt("delete", "--force", cid)
    assert cgroup_dirs_named(cid) == []


def test_kill_a_paused_container(ocirt, make_bundle, tmp_path):
    """SIGKILL reaches a paused container (runc thaws it for SIGKILL, since v1 delivers nothing while frozen)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    cid = new_id()
    ocirt("run", "-d", "--bundle", _counter_bundle(make_bundle, shared), cid)
    _count(shared)
    ocirt("pause", cid)
    ocirt("kill", cid, "KILL")
    wait_status(ocirt, cid, "stopped", timeout=3)
    ocirt("delete", cid)


def test_kill_all_a_paused_container(ocirt, make_bundle, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    cid = new_id()
    ocirt("run", "-d", "--bundle", _counter_bundle(make_bundle, shared), cid)
    _count(shared)
    ocirt("pause", cid)
    ocirt("kill", "--all", cid, "KILL")
    wait_status(ocirt, cid, "stopped")
    ocirt("delete", cid)


# ---------------------------------------------------------------- update

UPDATE_FILES = ["memory/memory.limit_in_bytes", "memory/memory.memsw.limit_in_bytes", "cpu/cpu.shares",
                "cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us"]


def test_update_flags(ocirt, make_bundle):
    cid = run_detached(ocirt, make_bundle, {"memory": {"limit": 32 * MB}, "cpu": {"quota": 20000}})
    ocirt("update", "--memory", "64m", "--cpu-quota", "50000", cid)
    files = both_views(ocirt, cid, UPDATE_FILES)
    assert files["memory/memory.limit_in_bytes"] == str(64 * MB)
    assert files["cpu/cpu.cfs_quota_us"] == "50000"
    assert files["cpu/cpu.cfs_period_us"] == "100000"  # untouched
    ocirt("update", "--pids-limit", "50", "--cpu-shares", "300", "--memory-reservation", "16M", cid)
    assert host_files(ocirt, cid, ["pids/pids.max", "cpu/cpu.shares", "memory/memory.soft_limit_in_bytes"]) == {
        "pids/pids.max": "50", "cpu/cpu.shares": "300", "memory/memory.soft_limit_in_bytes": str(16 * MB)}
    ocirt("delete", "--force", cid)


def test_update_resources_on_stdin_from_containerd(ocirt, make_bundle):
    with open(os.path.join(FIXTURES, "containerd-cri-update-resources.json")) as f:
        fixture = f.read()
    cid = run_detached(ocirt, make_bundle, {"memory": {"limit": 32 * MB}})
    devices_before = host_files(ocirt, cid, ["devices/devices.list"])
    ocirt("update", "--resources", "-", cid, input=fixture)
    expected = json.loads(fixture)
    files = both_views(ocirt, cid, UPDATE_FILES)
    assert files == {
        "memory/memory.limit_in_bytes": str(expected["memory"]["limit"]),
        "memory/memory.memsw.limit_in_bytes": str(expected["memory"]["swap"]),
        "cpu/cpu.shares": str(expected["cpu"]["shares"]),
        "cpu/cpu.cfs_quota_us": str(expected["cpu"]["quota"]),
        "cpu/cpu.cfs_period_us": str(expected["cpu"]["period"]),
    }
    # its deny-all device rule is not applied to the running container (as runc)
    assert host_files(ocirt, cid, ["devices/devices.list"]) == devices_before
    assert ocirt("exec", cid, "sh", "-c", "echo x >/dev/null && echo ok").stdout == "ok\n"
    ocirt("delete", "--force", cid)


def test_update_resources_file_from_podman(ocirt, make_bundle):
    path = os.path.join(FIXTURES, "podman-update-resources.json")
    with open(path) as f:
        expected = json.load(f)
    # from above the new limits: memory+swap must come down after memory
    cid = run_detached(ocirt, make_bundle, {"memory": {"limit": 256 * MB, "swap": 512 * MB}})
    ocirt("update", f"--resources={path}", cid)
    files = both_views(ocirt, cid, UPDATE_FILES)
    assert files["memory/memory.limit_in_bytes"] == str(expected["memory"]["limit"])
    assert files["memory/memory.memsw.limit_in_bytes"] == str(expected["memory"]["swap"])
    assert files["cpu/cpu.cfs_quota_us"] == str(expected["cpu"]["quota"])
    assert files["cpu/cpu.cfs_period_us"] == str(expected["cpu"]["period"])
    ocirt("delete", "--force", cid)


def test_update_bad_values_change_nothing(ocirt, make_bundle, tmp_path):
    cid = run_detached(ocirt, make_bundle, {"memory": {"limit": 32 * MB}, "cpu": {"shares": 512}})
    names = UPDATE_FILES + ["pids/pids.max"]
    before = host_files(ocirt, cid, names)

    out = ocirt("update", "--memory", "lots", "--cpu-shares", "300", cid, check=False)
    assert out.returncode != 0
    assert "--memory" in out.stderr and "lots" in out.stderr and "Traceback" not in out.stderr

    out = ocirt("update", "--cpu-quota", "some", cid, check=False)
    assert out.returncode != 0 and "--cpu-quota" in out.stderr

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"memory": {"limit": 48 * MB}, "cpu": {"shares": "many"}}))
    out = ocirt("update", "--resources", bad, cid, check=False)
    assert out.returncode != 0
    assert "cpu.shares" in out.stderr and "Traceback" not in out.stderr

    bad.write_text("{not json")
    out = ocirt("update", "-r", bad, cid, check=False)
    assert out.returncode != 0 and "JSON" in out.stderr

    out = ocirt("update", "--resources", "-", cid, input="[1, 2]", check=False)
    assert out.returncode != 0 and "object" in out.stderr

    # a value the kernel refuses, after a good one in the same request
    bad.write_text(json.dumps({"pids": {"limit": 77}, "memory": {"limit": 64 * MB, "swap": 16 * MB}}))
    out = ocirt("update", "--resources", bad, cid, check=False)
    assert out.returncode != 0 and "memory.swap" in out.stderr

    assert host_files(ocirt, cid, names) == before
    assert ocirt.state(cid)["status"] == "running"
    ocirt("delete", "--force", cid)


def unlimited(value):
    """v2 hugetlb shows a fresh 1GB limit as a number, and the same number written back as "max"."""
    return "max" if value == "9223372036854771712" else value


def test_update_refused_part_way_puts_back_what_it_wrote(ocirt, make_bundle):
    """The kernel refuses a value after others were written: those are restored, then the error."""
    disk = whole_disk()
    cid = run_detached(ocirt, make_bundle, {"memory": {"limit": 32 * MB}, "cpu": {"shares": 512}})
    names = ["memory/memory.limit_in_bytes", "memory/memory.oom_control", "cpu/cpu.shares",
             "cpu/cpu.cfs_quota_us", "pids/pids.max"]
    change = {"memory": {"limit": 64 * MB, "disableOOMKiller": True}, "cpu": {"quota": 30000}, "pids": {"limit": 9}}
    if disk:
        names.append("blkio/blkio.throttle.read_bps_device")
        change["blockIO"] = {"throttleReadBpsDevice": [{"major": disk[0], "minor": disk[1], "rate": MB}]}
    if os.path.exists(os.path.join(cg_paths(ocirt, cid)["cpu"], "cpu.idle")):
        names.append("cpu/cpu.idle")  # idle resets the weight: it must come back as 512
        change["cpu"]["idle"] = 1
    before = host_files(ocirt, cid, names)

    # v1 stores shares below 2 as 2, which ocirt refuses after the write
    out = ocirt("update", "--memory", "64m", "--cpu-quota", "30000", "--cpu-shares", "1", cid, check=False)
    assert out.returncode != 0 and "resources.cpu.shares" in out.stderr and "put back" in out.stderr
    assert host_files(ocirt, cid, names) == before

    if hugepage_sizes() and (v1_mounted("hugetlb") or unified_offers("hugetlb")):
        # everything above is written before the hugepage limits; the second size does not exist
        size, page = hugepage_sizes()[0]
        change["hugepageLimits"] = [{"pageSize": size, "limit": 2 * page}, {"pageSize": "3MB", "limit": 6 * MB}]
        huge = f"hugetlb/hugetlb.{size}.limit_in_bytes" if v1_mounted("hugetlb") else f"unified/hugetlb.{size}.max"
        before[huge] = unlimited(host_files(ocirt, cid, [huge])[huge])
        names.append(huge)
        out = ocirt("update", "-r", "-", cid, input=json.dumps(change), check=False)
        assert out.returncode != 0, out.stderr
        assert "resources.hugepageLimits[1].pageSize" in out.stderr and "put back" in out.stderr
        assert {k: unlimited(v) for k, v in host_files(ocirt, cid, names).items()} == before
    change.pop("hugepageLimits", None)
    ocirt("update", "-r", "-", cid, input=json.dumps(change))  # and all of it works on its own
    assert host_files(ocirt, cid, names) != before
    ocirt("delete", "--force", cid)


def test_update_a_stopped_container_is_refused(ocirt, make_bundle):
    cid = run_detached(ocirt, make_bundle, args=["true"])
    wait_status(ocirt, cid, "stopped")
    out = ocirt("update", "--memory", "64m", cid, check=False)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    ocirt("delete", cid)


# ---------------------------------------------------------------- ps, events

def test_ps_lists_init_and_exec(ocirt, make_bundle):
    cid = run_detached(ocirt, make_bundle)
    init = ocirt.state(cid)["pid"]
    ocirt("exec", "-d", cid, "sleep", "100")
    pids = wait_for(lambda: (lambda p: p if len(p) == 2 else None)(
        json.loads(ocirt("ps", "--format", "json", cid).stdout)))
    assert pids and init in pids, pids
    other = next(p for p in pids if p != init)
    with open(f"/proc/{other}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:2] == [b"sleep", b"100"]
    table = ocirt("ps", cid).stdout.splitlines()
    assert "PID" in table[0].split() and "CMD" in table[0].split()
    listed = {int(line.split()[1]) for line in table[1:]}
    assert listed == set(pids)
    assert any("sleep 100" in line for line in table[1:])
    # The exec'd process was re-parented to us (the subreaper), as to a shim: once killed,
    # it must be reaped before the container's init (pid 1 of its namespace) can finish exiting.
    ocirt("kill", "--all", cid, "KILL")
    os.waitpid(other, 0)
    wait_status(ocirt, cid, "stopped")
    ocirt("delete", cid)


def test_events_stats(ocirt, make_bundle):
    cid = run_detached(ocirt, make_bundle, {"memory": {"limit": 64 * MB}, "pids": {"limit": 30}},
                       args=["sh", "-c", "sleep 1000 & sleep 1000 & wait"])
    assert wait_for(lambda: len(json.loads(ocirt("ps", "--format", "json", cid).stdout)) == 3)
    lines = ocirt("events", "--stats", cid).stdout.splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["type"] == "stats" and event["id"] == cid
    data = event["data"]
    assert 0 < data["cpu"]["usage"]["total"] < 60 * 10 ** 9
    assert data["memory"]["usage"]["limit"] == 64 * MB
    assert 0 < data["memory"]["usage"]["usage"] <= 64 * MB
    assert data["pids"] == {"current": 3, "limit": 30}
    ocirt("delete", "--force", cid)


def test_events_interval_streams_until_the_container_stops(ocirt, make_bundle):
    cid = run_detached(ocirt, make_bundle, args=["sleep", "1"])
    start = time.monotonic()
    out = ocirt("events", "--interval", "100ms", cid, timeout=15)
    elapsed = time.monotonic() - start
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(events) >= 4, out.stdout
    assert all(e["type"] == "stats" and e["id"] == cid for e in events)
    assert elapsed < 5
    assert ocirt.state(cid)["status"] == "stopped"
    ocirt("delete", cid)


def events_of(out):
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_events_reports_an_oom_kill(ocirt, make_bundle):
    """The init waits until `events` is watching, then outgrows its limit and is
    OOM-killed: the stream has stats, then the oom event, then ends."""
    cid = new_id()
    hog = 'sleep 2; x=$(head -c 50000000 /dev/zero | tr "\\0" x); echo done'
    bundle = make_bundle(["sh", "-c", hog], edit=with_resources({"memory": {"limit": 16 * MB}}))
    ocirt("run", "-d", "--bundle", bundle, cid)
    events = events_of(ocirt("events", "--interval", "500ms", cid, timeout=30))
    types = [e["type"] for e in events]
    assert types[0] == "stats" and "oom" in types, types
    assert {"type": "oom", "id": cid} in events
    assert ocirt.state(cid)["status"] == "stopped"
    memory = cg_paths(ocirt, cid)["memory"]
    assert keyed(os.path.join(memory, "memory.oom_control"))["oom_kill"] >= 1
    ocirt("delete", cid)


def test_events_of_a_container_deleted_meanwhile_reports_no_oom(ocirt, make_bundle):
    """Removing the memory cgroup also wakes the v1 OOM eventfd: not an OOM."""
    cid = run_detached(ocirt, make_bundle, {"memory": {"limit": 64 * MB}})
    argv = [OCIRT, "--root", ocirt.root, "events", "--interval", "200ms", cid]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as events:
        time.sleep(0.7)
        ocirt("delete", "--force", cid)
        out, err = events.communicate(timeout=10)
    types = [json.loads(line)["type"] for line in out.splitlines()]
    assert types and set(types) == {"stats"}, (types, err)


# ---------------------------------------------------------------- the memory floor

def run_true_under(ocirt, make_bundle, limit):
    """Foreground `run` of busybox true with memory limit and memory+swap both `limit`; the exit code."""
    bundle = make_bundle(["true"], edit=with_resources({"memory": {"limit": limit, "swap": limit}}))
    return ocirt("run", "--bundle", bundle, new_id("floor"), check=False).returncode




def test_true_runs_under_512k(ocirt, make_bundle):
    assert run_true_under(ocirt, make_bundle, 512 * KB) == 0
