"""schemas/ against the official runtime-spec v1.3.0 schemas, used as a test oracle.

Both must give the same valid/invalid verdict on the spec's own test
configs, on what real callers sent, and on hand-made mutations of a good
config. Where ocirt departs from the official schema on purpose, the case is
listed in a KNOWN_* table with the reason, and the test checks that each
side still gives the verdict the table says.
"""
import copy
import json
from pathlib import Path

import pytest

from ocirt import spec
from ocirt.errors import OcirtError

REPO = Path(__file__).resolve().parents[2]
# shared/ sits beside the checkout (in CI too)
SHARED = next((p for p in (REPO.parent / "shared", Path("/work/shared")) if p.is_dir()), REPO.parent / "shared")
OFFICIAL = SHARED / "reference" / "runtime-spec-v1.3.0"
FIXTURES = SHARED / "fixtures"

# file name -> (ocirt's verdict, official verdict, why they differ)
KNOWN_FILES = {
    "freebsd-vnet-disable.json": (True, False, "the error is in the freebsd section, which ocirt does not describe"),
    "podman-privileged-config.json": (True, False, "official fileMode stops at 511; podman sends the type bits "
                                                   "too (8576 = S_IFCHR|0600) and the spec says uint32"),
}


@pytest.fixture(scope="module")
def official():
    """Official validators by target, loaded from shared/reference with a local registry."""
    if not OFFICIAL.is_dir():
        pytest.skip(f"official schemas not found at {OFFICIAL}")
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    registry = Registry().with_resources(
        (path.name, Resource.from_contents(json.loads(path.read_text()), default_specification=DRAFT4))
        for path in OFFICIAL.glob("*.json"))

    def validator(target):
        return jsonschema.Draft4Validator({"$ref": target}, registry=registry)

    return {
        "config": validator("config-schema.json"),
        "process": validator("config-schema.json#/properties/process"),
        "state": validator("state-schema.json"),
        "features": validator("features-schema.json"),
    }


MINE = {
    "config": spec.CONFIG_SCHEMA,
    "process": spec.PROCESS_SCHEMA,
    "state": spec.STATE_SCHEMA,
    "features": spec.FEATURES_SCHEMA,
}


def mine(kind, instance):
    return spec.schema_validator(MINE[kind]).is_valid(instance)


def assert_agree(official, kind, instance, expected=None):
    """Both schemas give the same verdict (and it is `expected` when given)."""
    verdicts = (mine(kind, instance), official[kind].is_valid(instance))
    assert verdicts[0] == verdicts[1], f"ocirt says {verdicts[0]}, official says {verdicts[1]}"
    if expected is not None:
        assert verdicts[0] == expected


def assert_known_difference(official, kind, instance, ours, theirs):
    assert (mine(kind, instance), official[kind].is_valid(instance)) == (ours, theirs)


# -- the schema files themselves

@pytest.mark.parametrize("path", sorted((REPO / "schemas").glob("*.json")), ids=lambda p: p.name)
def test_schema_file_is_a_draft7_schema_without_duplicate_keys(path):
    import jsonschema

    def no_duplicates(pairs):
        keys = [key for key, _ in pairs]
        assert len(keys) == len(set(keys)), f"duplicate keys in {path.name}: {keys}"
        return dict(pairs)

    jsonschema.Draft7Validator.check_schema(json.loads(path.read_text(), object_pairs_hook=no_duplicates))


def all_refs(node):
    if isinstance(node, dict):
        yield from ([node["$ref"]] if isinstance(node.get("$ref"), str) else [])
        node = list(node.values())
    if isinstance(node, list):
        for item in node:
            yield from all_refs(item)


@pytest.mark.parametrize("path", sorted((REPO / "schemas").glob("*.json")), ids=lambda p: p.name)
def test_every_ref_resolves_locally(path):
    for ref in all_refs(json.loads(path.read_text())):
        # all files share one folder, so a ref is either "#..." in this file or "file.json#..."
        target = path.name + ref if ref.startswith("#") else ref
        spec.schema_validator(target).is_valid({})  # raises if the $ref cannot be resolved


# -- the spec's test configs and what callers sent

def reference_configs():
    paths = sorted(OFFICIAL.glob("test/config/*/*.json"))
    return paths or [pytest.param(None, marks=pytest.mark.skip(f"no reference tests in {OFFICIAL}"))]


@pytest.mark.parametrize("path", reference_configs(), ids=lambda p: f"{p.parent.name}/{p.name}" if p else "none")
def test_reference_config(official, path, tmp_path):
    expected = path.parent.name == "good"
    try:
        instance = json.loads(path.read_text())
    except json.JSONDecodeError:
        # a parse failure: ocirt must report it as one before any schema
        assert not expected
        (tmp_path / "config.json").write_text(path.read_text())
        with pytest.raises(OcirtError, match=r"^config.json: invalid JSON at line \d+ column \d+: "):
            spec.load_config(str(tmp_path))
        return
    assert official["config"].is_valid(instance) == expected  # the oracle agrees with its own labels
    if path.name in KNOWN_FILES:
        ours, theirs, _why = KNOWN_FILES[path.name]
        assert_known_difference(official, "config", instance, ours, theirs)
    else:
        assert_agree(official, "config", instance, expected)


def caller_files(pattern):
    return sorted(FIXTURES.glob(pattern)) or [pytest.param(None, marks=pytest.mark.skip(f"no fixtures in {FIXTURES}"))]


@pytest.mark.parametrize("path", caller_files("*config*.json"), ids=lambda p: getattr(p, "name", "none"))
def test_caller_config_is_valid(official, path):
    instance = json.loads(path.read_text())
    ours, theirs, _why = KNOWN_FILES.get(path.name, (True, True, ""))
    assert_known_difference(official, "config", instance, ours, theirs)


@pytest.mark.parametrize("path", caller_files("*process*.json"), ids=lambda p: getattr(p, "name", "none"))
def test_caller_process_file_is_valid(official, path):
    assert_agree(official, "process", json.loads(path.read_text()), True)


# -- mutations of a good config

# Touches every part of the Linux config, so that each mutation below hits a real schema branch.
RICH = {
    "ociVersion": "1.3.0",
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "box",
    "domainname": "example.test",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/data", "source": "/srv/data", "options": ["rbind", "idmap"],
         "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}],
         "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}]},
    ],
    "process": {
        "terminal": True,
        "consoleSize": {"height": 25, "width": 80},
        "user": {"uid": 1, "gid": 1, "umask": 18, "additionalGids": [5, 6]},
        "args": ["sh"],
        "env": ["PATH=/bin"],
        "cwd": "/",
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"],
                         "inheritable": [], "ambient": []},
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1024}],
        "noNewPrivileges": True,
        "apparmorProfile": "p",
        "selinuxLabel": "l",
        "oomScoreAdj": 100,
        "scheduler": {"policy": "SCHED_OTHER", "nice": 1, "flags": ["SCHED_FLAG_RESET_ON_FORK"], "runtime": 1},
        "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4},
        "execCPUAffinity": {"initial": "7", "final": "0-3,7"},
    },
    "hooks": {
        "prestart": [{"path": "/usr/bin/fix", "args": ["fix", "a"], "env": ["k=v"]}],
        "createRuntime": [{"path": "/usr/bin/net"}],
        "poststart": [{"path": "/usr/bin/notify", "timeout": 5}],
    },
    "annotations": {"com.example.key1": "value1"},
    "linux": {
        "namespaces": [{"type": "pid"}, {"type": "network", "path": "/var/run/netns/a"}, {"type": "mount"},
                       {"type": "ipc"}, {"type": "uts"}, {"type": "user"}, {"type": "cgroup"}, {"type": "time"}],
        "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 32000}],
        "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 32000}],
        "timeOffsets": {"monotonic": {"secs": 172800, "nanosecs": 0}, "boottime": {"secs": -1}},
        "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0}],
        "netDevices": {"eth0": {"name": "ctr0"}},
        "cgroupsPath": "/my/container",
        "resources": {
            "devices": [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 10, "minor": 229,
                                                           "access": "rw"}],
            "memory": {"limit": 536870912, "reservation": -1, "swap": 536870912, "swappiness": 0,
                       "disableOOMKiller": False},
            "cpu": {"shares": 1024, "quota": 100000, "burst": 1000, "period": 100000, "realtimeRuntime": 950000,
                    "realtimePeriod": 1000000, "cpus": "2-3", "mems": "0-7", "idle": 0},
            "blockIO": {"weight": 10, "leafWeight": 10,
                        "weightDevice": [{"major": 8, "minor": 0, "weight": 500, "leafWeight": 300}],
                        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 600}]},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 209715200}],
            "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 500}]},
            "pids": {"limit": 32771},
            "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}},
            "unified": {"io.max": "259:0 rbps=2097152"},
        },
        "intelRdt": {"closID": "guaranteed", "memBwSchema": "MB:0=20", "schemata": ["L3:0=7f0"],
                     "enableMonitoring": True},
        "memoryPolicy": {"mode": "MPOL_INTERLEAVE", "nodes": "2-3", "flags": ["MPOL_F_STATIC_NODES"]},
        "sysctl": {"net.ipv4.ip_forward": "1"},
        "seccomp": {
            "defaultAction": "SCMP_ACT_ALLOW",
            "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                          "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}],
        },
        "rootfsPropagation": "slave",
        "maskedPaths": ["/proc/kcore"],
        "readonlyPaths": ["/proc/sys"],
        "mountLabel": "label",
        "personality": {"domain": "LINUX"},
    },
}

DELETE = object()


def mutate(obj, path, value):
    obj = copy.deepcopy(obj)
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return obj


L, R, P = ("linux",), ("linux", "resources"), ("process",)

# (where, value); both schemas must reject each
BAD_MUTATIONS = [
    # wrong types
    (("hostname",), 5), (("mounts",), {}), (P + ("terminal",), "yes"), (P + ("env",), "PATH=/bin"),
    (("annotations", "com.example.key1"), 1), (L + ("sysctl", "net.ipv4.ip_forward"), 1),
    (L + ("maskedPaths",), "/proc/kcore"), (L + ("netDevices", "eth0", "name"), 23),
    (R + ("pids", "limit"), "max"), (R + ("unified", "io.max"), 1), (L + ("cgroupsPath",), 1),
    (L + ("intelRdt", "enableMonitoring"), "yes"),
    (R + ("memory", "limit"), 1.5), (P + ("user", "uid"), 1.0),
    # missing required fields
    (("ociVersion",), DELETE), (("root", "path"), DELETE), (("mounts", 0, "destination"), DELETE),
    (P + ("cwd",), DELETE), (P + ("rlimits", 0, "soft"), DELETE), (P + ("consoleSize", "width"), DELETE),
    (P + ("scheduler", "policy"), DELETE), (P + ("ioPriority", "class"), DELETE),
    (("hooks", "prestart", 0, "path"), DELETE), (L + ("namespaces", 0, "type"), DELETE),
    (L + ("uidMappings", 0, "hostID"), DELETE), (L + ("devices", 0, "path"), DELETE),
    (R + ("devices", 0, "allow"), DELETE), (R + ("hugepageLimits", 0, "limit"), DELETE),
    (R + ("blockIO", "weightDevice", 0, "major"), DELETE), (R + ("network", "priorities", 0, "name"), DELETE),
    (L + ("seccomp", "defaultAction"), DELETE), (L + ("seccomp", "syscalls", 0, "names"), DELETE),
    (L + ("seccomp", "syscalls", 0, "args", 0, "op"), DELETE),
    # bad enum values
    (L + ("namespaces", 0, "type"), "net"), (L + ("devices", 0, "type"), "x"), (L + ("devices", 0, "type"), "cc"),
    (L + ("rootfsPropagation",), "bogus"), (L + ("seccomp", "defaultAction"), "SCMP_ACT_NOPE"),
    (L + ("seccomp", "architectures", 0), "SCMP_ARCH_Z80"), (L + ("seccomp", "flags", 0), "TSYNC"),
    (L + ("seccomp", "syscalls", 0, "args", 0, "op"), "SCMP_CMP_LIKE"),
    (P + ("ioPriority", "class"), "IOPRIO_CLASS_NONE"), (P + ("scheduler", "policy"), "SCHED_FAST"),
    (P + ("scheduler", "flags", 0), "SCHED_FLAG_NONE"), (L + ("memoryPolicy", "mode"), "MPOL_X"),
    (L + ("memoryPolicy", "flags", 0), "MPOL_F_X"), (L + ("personality", "domain"), "BSD"),
    (R + ("hugepageLimits", 0, "pageSize"), "64kB"), (R + ("hugepageLimits", 0, "pageSize"), "02MB"),
    (L + ("intelRdt", "memBwSchema"), "L3:0=7f"), (P + ("execCPUAffinity", "initial"), "all"),
    # negative where the minimum is 0, and integer ranges
    (P + ("user", "uid"), -1), (P + ("user", "gid"), 2**32), (P + ("user", "additionalGids", 0), -5),
    (P + ("consoleSize", "height"), -1), (P + ("rlimits", 0, "hard"), -1), (P + ("rlimits", 0, "soft"), 2**64),
    (P + ("scheduler", "nice"), 2**31), (P + ("scheduler", "runtime"), -1),
    (("hooks", "poststart", 0, "timeout"), 0),
    (L + ("uidMappings", 0, "size"), 2**32), (L + ("gidMappings", 0, "containerID"), -1),
    (("mounts", 1, "uidMappings", 0, "hostID"), -1),
    (L + ("timeOffsets", "monotonic", "nanosecs"), -1), (L + ("timeOffsets", "boottime", "secs"), 2**63),
    (L + ("devices", 0, "major"), 2**63), (L + ("devices", 0, "uid"), -1),
    (R + ("memory", "limit"), 2**63), (R + ("memory", "swap"), -2**63 - 1), (R + ("cpu", "shares"), -1),
    (R + ("cpu", "period"), 2**64), (R + ("cpu", "burst"), -1), (R + ("pids", "limit"), 2**63),
    (R + ("blockIO", "weight"), 65536), (R + ("blockIO", "weightDevice", 0, "leafWeight"), -1),
    (R + ("blockIO", "throttleReadBpsDevice", 0, "rate"), -1), (R + ("hugepageLimits", 0, "limit"), -1),
    (R + ("network", "classID"), 2**32), (R + ("network", "priorities", 0, "priority"), -1),
    (R + ("rdma", "mlx5_1", "hcaHandles"), -1), (R + ("rdma", "mlx5_1", "hcaObjects"), "not a uint32"),
    (L + ("seccomp", "defaultErrnoRet"), -1), (L + ("seccomp", "syscalls", 0, "errnoRet"), 2**32),
    (L + ("seccomp", "syscalls", 0, "args", 0, "value"), 2**64),
    (L + ("seccomp", "syscalls", 0, "args", 0, "index"), -1), (L + ("seccomp", "syscalls", 0, "names"), []),
    # a hex string where a number belongs
    (R + ("network", "classID"), "0x100001"), (L + ("devices", 0, "fileMode"), "0666"),
]

# (where, value); both schemas must accept each
GOOD_MUTATIONS = [
    (("x-vendor",), {"anything": True}), (L + ("x-vendor",), 1),
    (("mounts", 0, "destination"), "proc"),
    (R + ("memory", "limit"), -1), (R + ("pids", "limit"), -1), (R + ("cpu", "quota"), -1),
    (R + ("devices", 0, "major"), -1),
    (P + ("user", "uid"), 2**32 - 1), (R + ("memory", "limit"), 2**63 - 1), (R + ("cpu", "period"), 2**64 - 1),
    (P + ("oomScoreAdj",), -998), (("annotations",), {}), (L + ("namespaces",), []),
]


@pytest.mark.parametrize("where, value", BAD_MUTATIONS, ids=[f"{w}={v!r}"[:80] for w, v in BAD_MUTATIONS])
def test_both_reject(official, where, value):
    instance = mutate(RICH, where, value)
    assert_agree(official, "config", instance, False)
    # and for that reason, not another one
    for validator in (spec.schema_validator(spec.CONFIG_SCHEMA), official["config"]):
        assert {tuple(e.absolute_path) for e in validator.iter_errors(instance)} <= {where, where[:-1]}


@pytest.mark.parametrize("where, value", GOOD_MUTATIONS, ids=[f"{w}={v!r}"[:80] for w, v in GOOD_MUTATIONS])
def test_both_accept(official, where, value):
    assert_agree(official, "config", mutate(RICH, where, value), True)


def test_rich_config_is_valid_for_both(official):
    assert_agree(official, "config", RICH, True)
    spec.validate_config(copy.deepcopy(RICH))  # and passes ocirt's own checks


# Stricter or looser than the official schema on purpose: (where, value, ocirt, official, why).
KNOWN_MUTATIONS = [
    (P + ("args",), [], False, True, "spec: at least one entry is REQUIRED (non-Windows)"),
    (P + ("args",), DELETE, False, True, "spec: args is REQUIRED on POSIX"),
    (P + ("user", "uid"), DELETE, False, True, "spec: POSIX uid and gid are REQUIRED"),
    (P + ("ioPriority", "priority"), DELETE, False, True, "spec: priority is REQUIRED"),
    (P + ("ioPriority", "priority"), 8, False, True, "spec: priority ranges 0 (highest) to 7 (lowest)"),
    (P + ("oomScoreAdj",), 1001, False, True, "the kernel accepts -1000..1000 only"),
    (L + ("devices", 0, "minor"), DELETE, False, True, "spec: major, minor REQUIRED unless type is p"),
    (L + ("devices", 0, "fileMode"), 8630, True, False, "spec: uint32; podman sets the type bits"),
    (R + ("devices", 0, "type"), "x", False, True, "spec: a, c or b"),
    (R + ("devices", 0, "access"), "rwx", False, True, "spec: a composition of r, w and m"),
    (R + ("memory", "swappiness"), 101, False, True, "spec: values from 0 to 100"),
    (R + ("blockIO", "weightDevice", 0), {"major": 8, "minor": 0}, False, True,
     "spec: MUST specify at least one of weight or leafWeight"),
    (R + ("blockIO", "throttleReadBpsDevice", 0, "rate"), DELETE, False, True, "spec: rate is REQUIRED"),
    (R + ("rdma", "mlx5_1"), {}, False, True, "spec: MUST specify at least one of hcaHandles or hcaObjects"),
    (R + ("pids",), {}, True, False, "spec: pids.limit is OPTIONAL; the official schema requires it"),
    (L + ("rootfsPropagation",), "rprivate", True, False, "runc and crun take the recursive forms"),
    (L + ("timeOffsets", "realtime"), {"secs": 1}, False, True, "time namespaces offset monotonic and boottime only"),
    (L + ("personality",), {"flags": []}, False, True, "spec: domain is REQUIRED"),
    (L + ("memoryPolicy",), {"nodes": "0"}, False, True, "spec: mode is REQUIRED"),
    (L + ("intelRdt", "schemata", 0), "L3:0=f\nMB:0=1", False, True, "spec: MUST NOT contain newlines"),
    (L + ("seccomp", "listenerMetadata"), "m", False, True, "spec: MUST NOT be set without listenerPath"),
    (("mounts", 1, "gidMappings"), DELETE, False, True, "spec: uidMappings MUST come with gidMappings"),
    (("annotations", ""), "v", False, True, "spec: keys MUST NOT be empty (the official pattern skips \"\")"),
]


@pytest.mark.parametrize("where, value, ours, theirs, why", KNOWN_MUTATIONS, ids=[k[4] for k in KNOWN_MUTATIONS])
def test_known_difference(official, where, value, ours, theirs, why):
    assert_known_difference(official, "config", mutate(RICH, where, value), ours, theirs)


# -- state and features

STATE = {
    "ociVersion": "1.3.0", "id": "c1", "status": "running", "pid": 4242, "bundle": "/run/bundles/c1",
    "annotations": {"com.example.k": "v"},
    # what ocirt prints besides the spec's fields, as runc does
    "rootfs": "/run/bundles/c1/rootfs", "created": "2026-01-02T03:04:05.123456789Z", "owner": "",
}


@pytest.mark.parametrize("change, expected", [
    ({}, True),
    ({"status": "stopped", "pid": 0}, True),
    ({"status": "creating", "pid": DELETE}, True),
    ({"annotations": DELETE, "rootfs": DELETE, "created": DELETE, "owner": DELETE}, True),
    ({"status": "bogus"}, False),
    ({"pid": -1}, False),
    ({"bundle": DELETE}, False),
    ({"id": 5}, False),
    ({"annotations": {"k": 1}}, False),
])
def test_state_both(official, change, expected):
    state = copy.deepcopy(STATE)
    for key, value in change.items():
        state = mutate(state, (key,), value)
    assert_agree(official, "state", state, expected)


@pytest.mark.parametrize("change, ours, theirs", [
    ({"status": "paused"}, True, False),               # runc reports it; the spec allows runtime-defined values
    ({"status": "created", "pid": DELETE}, False, True),  # spec: pid REQUIRED when created or running on Linux
    ({"bundle": "relative/dir"}, False, True),         # spec: the absolute path to the bundle
])
def test_state_known_difference(official, change, ours, theirs):
    state = copy.deepcopy(STATE)
    for key, value in change.items():
        state = mutate(state, (key,), value)
    assert_known_difference(official, "state", state, ours, theirs)


FEATURES = {
    "ociVersionMin": "1.0.0",
    "ociVersionMax": "1.3.0",
    "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
    "mountOptions": ["bind", "rbind", "ro"],
    "potentiallyUnsafeConfigAnnotations": ["org.systemd.property."],
    "annotations": {"org.opencontainers.runtime.ocirt.version": "0.1.0"},
    "linux": {
        "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time"],
        "capabilities": ["CAP_CHOWN", "CAP_CHECKPOINT_RESTORE"],
        "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False, "rdma": False},
        "seccomp": {"enabled": True, "actions": ["SCMP_ACT_ALLOW"], "operators": ["SCMP_CMP_EQ"],
                    "archs": ["SCMP_ARCH_X86_64"], "knownFlags": ["SECCOMP_FILTER_FLAG_LOG"],
                    "supportedFlags": ["SECCOMP_FILTER_FLAG_LOG"]},
        "apparmor": {"enabled": False},
        "selinux": {"enabled": False},
        "intelRdt": {"enabled": False, "schemata": False, "monitoring": False},
        "memoryPolicy": {"modes": ["MPOL_DEFAULT"], "flags": ["MPOL_F_STATIC_NODES"]},
        "mountExtensions": {"idmap": {"enabled": False}},
        "netDevices": {"enabled": False},
    },
}


@pytest.mark.parametrize("where, value, expected", [
    ((), None, True),
    (("ociVersionMax",), DELETE, False),
    (("linux", "namespaces", 0), "net", False),
    (("linux", "capabilities", 0), "chown", False),
    (("linux", "seccomp", "actions", 0), "SCMP_ACT_NOPE", False),
    (("linux", "cgroup", "v2"), "yes", False),
    (("hooks",), "prestart", False),
])
def test_features_both(official, where, value, expected):
    features = mutate(FEATURES, where, value) if where else FEATURES
    assert_agree(official, "features", features, expected)


@pytest.mark.parametrize("where, value, ours, theirs", [
    (("hooks",), None, True, False),                   # spec: any property but the versions may be null
    (("linux", "seccomp"), None, True, False),
    (("linux", "intelRdt", "enabled"), None, True, False),
    (("x-extra",), 1, False, True),                    # spec: MUST NOT contain undefined properties
    (("hooks", 0), "preStart", False, True),           # hooks names the config's hook properties
])
def test_features_known_difference(official, where, value, ours, theirs):
    assert_known_difference(official, "features", mutate(FEATURES, where, value), ours, theirs)


@pytest.mark.parametrize("kind", ["state", "features"])
def test_reference_state_and_features(official, kind):
    paths = sorted(OFFICIAL.glob(f"test/{kind}/*/*.json"))
    assert paths
    for path in paths:
        expected = path.parent.name == "good"
        try:
            instance = json.loads(path.read_text())
        except json.JSONDecodeError:
            assert not expected
            continue
        assert_agree(official, kind, instance, expected)
