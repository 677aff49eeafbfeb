"""Pure cgroup logic: placement, layout detection, value translation, device rules.

No kernel needed: mountinfo and /proc/self/cgroup are given as text, and the
apply() routing tests run against plain files in a temporary directory.
"""

import os

import pytest

from ocirt.errors import OcirtError
from ocirt.linux.cgroups import (
    UNIFIED, Cgroups, cgroup_mounts, clean_path, is_systemd_path, layout_of, parse_proc_cgroup, plan,
)
from ocirt.linux.cgroups import v1, v2

HYBRID_MOUNTINFO = """\
22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""

HYBRID_SELF = """\
9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/a8ce
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
"""

V2_MOUNTINFO = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"

COMOUNTED_MOUNTINFO = """\
30 23 0:26 / /sys/fs/cgroup ro - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
32 30 0:28 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio
33 30 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
34 30 0:30 / /sys/fs/cgroup/my\\040stuff rw - cgroup cgroup rw,name=mytool
35 30 0:31 / /run/other-memory rw - cgroup cgroup rw,memory
"""


# ---------------------------------------------------------------- mounts and layout

def test_hybrid_mounts_and_layout():
    mounts = cgroup_mounts(HYBRID_MOUNTINFO)
    assert mounts["memory"] == ("/sys/fs/cgroup/memory", "/")
    assert mounts["name=systemd"] == ("/sys/fs/cgroup/systemd", "/")
    assert mounts[UNIFIED] == ("/sys/fs/cgroup/unified", "/")
    assert "hugetlb" not in mounts and "net_cls" not in mounts
    assert layout_of(mounts) == "hybrid"


def test_plain_directories_are_not_hierarchies():
    # /sys/fs/cgroup itself is a tmpfs: only cgroup/cgroup2 mounts count.
    assert "tmpfs" not in {k for k in cgroup_mounts(HYBRID_MOUNTINFO)}
    assert all(m.startswith("/sys/fs/cgroup/") for m, _ in cgroup_mounts(HYBRID_MOUNTINFO).values())


def test_v2_and_v1_layouts():
    assert layout_of(cgroup_mounts(V2_MOUNTINFO)) == "v2"
    assert layout_of(cgroup_mounts(COMOUNTED_MOUNTINFO)) == "v1"
    with pytest.raises(OcirtError, match="no cgroup filesystem is mounted"):
        layout_of(cgroup_mounts("22 28 0:21 / /sys rw - sysfs sysfs rw\n"))


def test_comounted_unknown_named_and_duplicate_mounts():
    mounts = cgroup_mounts(COMOUNTED_MOUNTINFO)
    assert mounts["cpu"] == mounts["cpuacct"] == ("/sys/fs/cgroup/cpu,cpuacct", "/")
    assert mounts["net_cls"] == mounts["net_prio"]
    assert "name=mytool" not in mounts  # someone else's named hierarchy
    assert mounts["memory"] == ("/sys/fs/cgroup/memory", "/")  # the first mount wins


def test_mountinfo_escapes_are_decoded():
    text = "34 30 0:30 / /sys/fs/cgroup/my\\040dir rw - cgroup cgroup rw,pids\n"
    assert cgroup_mounts(text)["pids"] == ("/sys/fs/cgroup/my dir", "/")


def test_parse_proc_cgroup():
    own = parse_proc_cgroup(HYBRID_SELF + "10:cpu,cpuacct:/x\n")
    assert own["memory"] == "/process_api/a8ce"
    assert own["name=systemd"] == "/"
    assert own[UNIFIED] == "/"
    assert own["cpuacct"] == "/x"


# ---------------------------------------------------------------- placement

def _plan(cgroups_path, container_id="c1", mountinfo=HYBRID_MOUNTINFO, self_text=HYBRID_SELF, **kw):
    return plan(container_id, cgroups_path, mountinfo, self_text, **kw)


def test_absolute_path_is_used_as_given_under_each_mount():
    layout, paths, mounts = _plan("/ocirt/c1")
    assert layout == "hybrid"
    assert paths["memory"] == "/sys/fs/cgroup/memory/ocirt/c1"  # not under the own /process_api cgroup
    assert paths["cpu"] == "/sys/fs/cgroup/cpu/ocirt/c1"
    assert paths["name=systemd"] == "/sys/fs/cgroup/systemd/ocirt/c1"
    assert paths[UNIFIED] == "/sys/fs/cgroup/unified/ocirt/c1"
    assert mounts["memory"] == "/sys/fs/cgroup/memory"


def test_relative_path_nests_under_own_cgroup_per_hierarchy():
    _, paths, _ = _plan("pods/c1")
    assert paths["memory"] == "/sys/fs/cgroup/memory/process_api/a8ce/pods/c1"
    assert paths["cpu"] == "/sys/fs/cgroup/cpu/pods/c1"
    assert paths[UNIFIED] == "/sys/fs/cgroup/unified/pods/c1"


def test_missing_path_uses_the_container_id_relative():
    for missing in (None, ""):
        _, paths, _ = _plan(missing, container_id="abc")
        assert paths["memory"] == "/sys/fs/cgroup/memory/process_api/a8ce/abc"
        assert paths["pids"] == "/sys/fs/cgroup/pids/abc"


def test_pure_v2_placement():
    layout, paths, mounts = _plan("rel", mountinfo=V2_MOUNTINFO, self_text="0::/user.slice/session-1.scope\n")
    assert layout == "v2"
    assert paths == {UNIFIED: "/sys/fs/cgroup/user.slice/session-1.scope/rel"}
    assert mounts == {UNIFIED: "/sys/fs/cgroup"}


def test_comounted_controllers_share_a_directory():
    _, paths, mounts = _plan("/x", mountinfo=COMOUNTED_MOUNTINFO)
    assert paths["cpu"] == paths["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct/x"
    cg = Cgroups("v1", paths, mounts)
    assert len(cg.directories()) == len(set(paths.values())) == 3


def test_mount_root_of_a_partial_view_is_subtracted():
    mountinfo = "40 31 0:38 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
    _, paths, _ = _plan("child", mountinfo=mountinfo, self_text="0::/docker/abc/init\n")
    assert paths[UNIFIED] == "/sys/fs/cgroup/init/child"
    with pytest.raises(OcirtError, match="outside the part of the hierarchy"):
        _plan("child", mountinfo=mountinfo, self_text="0::/elsewhere\n")


def test_own_cgroup_missing_for_a_hierarchy():
    with pytest.raises(OcirtError, match="does not list ocirt's own cgroup in the memory hierarchy"):
        _plan("rel", mountinfo=COMOUNTED_MOUNTINFO, self_text="0::/\n2:cpu,cpuacct:/\n3:net_cls,net_prio:/\n")


@pytest.mark.parametrize("given, cleaned", [
    ("/a/b", "/a/b"), ("a//b/./c", "a/b/c"), ("/../../etc", "/etc"), ("../../x", "x"),
    ("a/../../b", "b"), ("/", "/"), (".", ""), ("a/..", ""),
])
def test_clean_path(given, cleaned):
    assert clean_path(given) == cleaned


def test_dotdot_cannot_leave_the_mount():
    _, paths, _ = _plan("/../../../etc/ocirt")
    assert paths["pids"] == "/sys/fs/cgroup/pids/etc/ocirt"
    _, paths, _ = _plan("../../x")
    assert paths["memory"] == "/sys/fs/cgroup/memory/process_api/a8ce/x"


@pytest.mark.parametrize("path", ["/", ".", "a/..", "/x/.."])
def test_paths_naming_the_root_or_own_cgroup_are_refused(path):
    with pytest.raises(OcirtError, match="cgroup of its own"):
        _plan(path)


def test_systemd_form_needs_the_systemd_driver():
    assert is_systemd_path("system.slice:docker:abc")
    assert not is_systemd_path("/a:b:c") and not is_systemd_path("a:b")
    with pytest.raises(OcirtError, match="needs the systemd cgroup driver") as err:
        _plan("system.slice:docker:abc")
    assert err.value.path == "linux.cgroupsPath"


def test_systemd_driver_without_systemd():
    with pytest.raises(OcirtError) as err:
        _plan("system.slice:docker:abc", systemd=True, systemd_running=False)
    assert err.value.message == "systemd cgroup driver requested but systemd is not running on this host"
    with pytest.raises(OcirtError, match="not running"):
        _plan(None, systemd=True)


def test_systemd_driver_with_systemd():
    with pytest.raises(OcirtError, match='format "slice:prefix:name"'):
        _plan("/not/systemd", systemd=True, systemd_running=True)
    with pytest.raises(OcirtError, match="not implemented"):
        _plan("system.slice:docker:abc", systemd=True, systemd_running=True)


# ---------------------------------------------------------------- record

def test_record_round_trip_through_json():
    import json
    layout, paths, mounts = _plan("/ocirt/c1")
    cg = Cgroups(layout, paths, mounts, created=["/sys/fs/cgroup/pids/ocirt"])
    back = Cgroups.from_record(json.loads(json.dumps(cg.to_record())))
    assert back.to_record() == cg.to_record()
    assert back.unified == "/sys/fs/cgroup/unified/ocirt/c1"


@pytest.mark.parametrize("record", [
    None, {}, {"version": 99}, {"version": 1, "layout": "v1", "paths": {"pids": "relative"}, "mounts": {"pids": "/m"}},
    {"version": 1, "layout": "v1", "paths": {"pids": "/a"}, "mounts": {}},
    {"version": 1, "layout": "v3", "paths": {}, "mounts": {}},
])
def test_malformed_records(record):
    with pytest.raises(OcirtError, match="malformed cgroup record|unknown cgroup layout"):
        Cgroups.from_record(record)


# ---------------------------------------------------------------- device rules

def test_device_rules_start_from_deny_all_in_order():
    writes, warnings, enforce = v1.device_plan([
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": True, "type": "c", "major": 136, "access": "rw"},
        {"allow": True, "type": "b", "major": 8, "minor": -1, "access": "mr"},
        {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "w"},
    ])
    assert writes == [
        ("devices.deny", "a"), ("devices.deny", "a"),
        ("devices.allow", "c 1:3 rwm"), ("devices.allow", "c 136:* rw"), ("devices.allow", "b 8:* rm"),
        ("devices.deny", "c 1:3 w"),
    ]
    assert warnings == [] and enforce


def test_partial_all_device_rule_is_spelled_per_type():
    writes, _, _ = v1.device_plan([{"allow": True, "type": "a", "access": "m"}])
    assert writes[1:] == [("devices.allow", "c *:* m"), ("devices.allow", "b *:* m")]
    writes, _, _ = v1.device_plan([{"allow": True}])  # type a, all access: the reset
    assert writes == [("devices.deny", "a"), ("devices.allow", "a")]


def test_allow_all_needs_no_enforcement():
    assert v1.device_plan([])[2] is True
    assert v1.device_plan([{"allow": True, "access": "rwm"}])[2] is False
    assert v1.device_plan([{"allow": True}, {"allow": False, "type": "c", "major": 1, "minor": 1}])[2] is True


def test_hole_in_an_earlier_wildcard_is_warned_about():
    _, warnings, _ = v1.device_plan([
        {"allow": True, "type": "c", "access": "m"},
        {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "m"},
    ], "linux.resources.devices")
    assert len(warnings) == 1
    assert warnings[0].startswith('linux.resources.devices[1]: "c 1:3 m" does not fully take effect')
    assert "stays allowed" in warnings[0]
    # Removing an exactly matching earlier rule is fine.
    _, warnings, _ = v1.device_plan([
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
    ])
    assert warnings == []


@pytest.mark.parametrize("rule, where", [
    ({"type": "c"}, "devices[0]"),
    ({"allow": True, "type": "x"}, "devices[0].type"),
    ({"allow": True, "access": "rwx"}, "devices[0].access"),
    ({"allow": True, "access": ""}, "devices[0].access"),
    ({"allow": True, "major": "1"}, "devices[0].major"),
])
def test_bad_device_rules(rule, where):
    with pytest.raises(OcirtError) as err:
        v1.device_plan([rule], "devices")
    assert err.value.path == where


# ---------------------------------------------------------------- v2 translations

@pytest.mark.parametrize("shares, weight", [(0, None), (None, None), (2, 1), (1024, 39), (262144, 10000),
                                            (1, 1), (10 ** 9, 10000)])
def test_cpu_weight_from_shares(shares, weight):
    assert v2.cpu_weight_from_shares(shares) == weight


@pytest.mark.parametrize("quota, period, current, line", [
    (50000, 100000, "max 100000", "50000 100000"),
    (-1, None, "20000 100000", "max 100000"),
    (None, 250000, "20000 100000", "20000 250000"),   # update the period alone: keep the quota
    (30000, None, "max 50000", "30000 50000"),
    (None, None, "max 100000", None),
    (1000, None, None, "1000 100000"),
])
def test_cpu_max_value(quota, period, current, line):
    assert v2.cpu_max_value(quota, period, current) == line


def test_memory_swap_max():
    assert v2.memory_swap_max(None, 100) is None
    assert v2.memory_swap_max(-1, 100) == "max"
    assert v2.memory_swap_max(300, 100) == "200"
    assert v2.memory_swap_max(100, 100) == "0"          # no swap at all
    assert v2.memory_swap_max(300, None, 200) == "100"  # swap alone: against memory.max in force
    with pytest.raises(OcirtError, match="must not be lower"):
        v2.memory_swap_max(50, 100)
    with pytest.raises(OcirtError, match="needs a memory limit"):
        v2.memory_swap_max(300, None, None)
    with pytest.raises(OcirtError, match="needs a memory limit"):
        v2.memory_swap_max(300, -1)


@pytest.mark.parametrize("weight, io", [(10, 1), (1000, 10000), (500, 4950), (0, None)])
def test_io_weight_from_blkio(weight, io):
    assert v2.io_weight_from_blkio(weight) == io


def test_io_weight_out_of_range():
    with pytest.raises(OcirtError, match="between 10 and 1000"):
        v2.io_weight_from_blkio(5)


def test_io_max_line_and_limit_value():
    assert v2.io_max_line(8, 0, "rbps", 1048576) == "8:0 rbps=1048576"
    assert v2.io_max_line(8, 0, "wiops", 0) == "8:0 wiops=max"
    assert v2.limit_value(-1) == "max" and v2.limit_value(42) == "42"


def test_rdma_lines():
    lines = v1.rdma_lines({"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}, "mlx4": {"hcaObjects": 5}}, "r")
    assert lines == [("mlx5_1 hca_handle=3 hca_object=10000", "r.mlx5_1"), ("mlx4 hca_object=5", "r.mlx4")]
    with pytest.raises(OcirtError, match="needs hcaHandles or hcaObjects"):
        v1.rdma_lines({"mlx": {}}, "r")


def test_unified_keys():
    assert v2.unified_controllers({"memory.high": "1G", "cgroup.max.depth": "3", "io.max": "8:0 rbps=1"}, "u") == \
        {"memory", "io"}
    for bad in ({"cgroup.procs": "1"}, {"../x": "1"}, {"nodot": "1"}, {"memory.high": 5}):
        with pytest.raises(OcirtError):
            v2.unified_controllers(bad, "u")


def test_integers_are_checked_with_their_json_path():
    with pytest.raises(OcirtError) as err:
        v1.opt_int({"limit": True}, "limit", "linux.resources.memory")
    assert err.value.path == "linux.resources.memory.limit"
    assert v1.opt_int({"limit": 0}, "limit", "m", zero_unset=True) is None


# ---------------------------------------------------------------- apply() against plain files

def _files(directory, contents):
    os.makedirs(directory, exist_ok=True)
    for name, value in contents.items():
        with open(os.path.join(directory, name), "w") as f:
            f.write(value)


def _read(directory, name):
    with open(os.path.join(directory, name)) as f:
        return f.read()


def test_v2_apply_translates_into_files(tmp_path):
    mount, leaf = str(tmp_path), str(tmp_path / "ctr")
    ctrl = "cpu cpuset memory pids io hugetlb"
    _files(mount, {"cgroup.controllers": ctrl, "cgroup.subtree_control": ctrl, "cgroup.procs": ""})
    _files(leaf, {n: "" for n in ("cgroup.procs", "cpu.weight", "cpuset.cpus", "cpuset.mems", "memory.low",
                                  "memory.swap.max", "pids.max", "io.weight", "io.max", "hugetlb.2MB.max",
                                  "hugetlb.2MB.rsvd.max", "memory.high")})
    _files(leaf, {"memory.max": "max", "cpu.max": "max 100000"})
    cg = Cgroups("v2", {UNIFIED: leaf}, {UNIFIED: mount})
    warnings = cg.apply({
        "memory": {"limit": 1 << 30, "swap": 3 << 30, "reservation": 1 << 20, "swappiness": 10, "kernel": 1 << 20},
        "cpu": {"shares": 1024, "quota": 50000, "period": 200000, "cpus": "0-1", "mems": "0"},
        "pids": {"limit": 0},
        "blockIO": {"weight": 1000, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 10}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}],
        "unified": {"memory.high": "512M"},
    })
    assert _read(leaf, "memory.max") == "1073741824"
    assert _read(leaf, "memory.swap.max") == str(2 << 30)
    assert _read(leaf, "memory.low") == "1048576"
    assert _read(leaf, "cpu.weight") == "39"
    assert _read(leaf, "cpu.max") == "50000 200000"
    assert _read(leaf, "cpuset.cpus") == "0-1"
    assert _read(leaf, "pids.max") == "max"
    assert _read(leaf, "io.weight") == "default 10000"
    assert _read(leaf, "io.max") == "8:0 rbps=10"
    assert _read(leaf, "hugetlb.2MB.max") == _read(leaf, "hugetlb.2MB.rsvd.max") == "2097152"
    assert _read(leaf, "memory.high") == "512M"
    assert any("swappiness" in w for w in warnings) and any(".kernel" in w for w in warnings)


def test_v2_apply_refuses_what_v2_lacks(tmp_path):
    mount, leaf = str(tmp_path), str(tmp_path / "ctr")
    _files(mount, {"cgroup.controllers": "cpu", "cgroup.subtree_control": "cpu", "cgroup.procs": ""})
    _files(leaf, {"cgroup.procs": "", "cpu.max": "max 100000", "cpu.weight": ""})
    cg = Cgroups("v2", {UNIFIED: leaf}, {UNIFIED: mount})
    with pytest.raises(OcirtError, match="no net_cls or net_prio") as err:
        cg.apply({"network": {"classID": 1}})
    assert err.value.path == "linux.resources.network.classID"
    with pytest.raises(OcirtError, match="does not offer the memory controller"):
        cg.apply({"memory": {"limit": 1 << 20}})
    with pytest.raises(OcirtError, match="no real-time"):
        cg.apply({"cpu": {"realtimeRuntime": 1000}})
    with pytest.raises(OcirtError, match="unified hierarchy"):
        cg.apply({"unified": {"memory.max": "1G"}})


def test_apply_checks_everything_before_writing(tmp_path):
    mount, leaf = str(tmp_path), str(tmp_path / "ctr")
    _files(mount, {"cgroup.procs": ""})
    _files(leaf, {"cgroup.procs": "", "memory.limit_in_bytes": "unchanged"})
    cg = Cgroups("v1", {"memory": leaf}, {"memory": mount})
    with pytest.raises(OcirtError, match="net_cls controller is not mounted") as err:
        cg.apply({"memory": {"limit": 1 << 20}, "network": {"classID": 7}})
    assert err.value.path == "linux.resources.network.classID"
    assert _read(leaf, "memory.limit_in_bytes") == "unchanged"
    with pytest.raises(OcirtError, match="only cgroup v1"):
        cg.apply({"unified": {"memory.high": "1"}})
    with pytest.raises(OcirtError, match="devices controller is not mounted"):
        cg.apply({"devices": [{"allow": False}]})
    assert cg.apply({"devices": [{"allow": True}]}) == []  # nothing to enforce


def test_apply_needs_the_directories(tmp_path):
    cg = Cgroups("v1", {"memory": str(tmp_path / "gone")}, {"memory": str(tmp_path)})
    with pytest.raises(OcirtError, match="does not exist"):
        cg.apply({"memory": {"limit": 1}})
