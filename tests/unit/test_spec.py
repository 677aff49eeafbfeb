"""ocirt.spec: loading config.json and process files, and the exact one-line errors."""
import copy
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ocirt import spec
from ocirt.errors import OcirtError

REPO = Path(__file__).resolve().parents[2]
# shared/ sits beside the checkout (in CI too)
SHARED = next((p for p in (REPO.parent / "shared", Path("/work/shared")) if p.is_dir()), REPO.parent / "shared")
FIXTURES = SHARED / "fixtures"

GOOD = {
    "ociVersion": "1.3.0",
    "root": {"path": "rootfs"},
    "process": {
        "args": ["sh"],
        "cwd": "/",
        "user": {"uid": 0, "gid": 0},
        "capabilities": {
            "bounding": ["CAP_CHOWN", "CAP_KILL"],
            "effective": ["CAP_KILL"],
            "ambient": [],
        },
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096}],
    },
    "hooks": {"poststop": [{"path": "/bin/true"}]},
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
    "linux": {
        "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "network", "path": "/proc/1/ns/net"}],
        "sysctl": {"net.ipv4.ip_forward": "1"},
    },
}

DELETE = object()


def mutate(obj, path, value):
    """A deep copy of `obj` with the item at `path` set to `value` (or deleted)."""
    obj = copy.deepcopy(obj)
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    if value is DELETE:
        del parent[path[-1]]
    elif isinstance(parent, list) and path[-1] == len(parent):
        parent.append(value)
    else:
        parent[path[-1]] = value
    return obj


def error_of(fn, *args):
    with pytest.raises(OcirtError) as info:
        fn(*args)
    text = str(info.value)
    assert "\n" not in text
    return text


def write_bundle(tmp_path, text):
    (tmp_path / "config.json").write_text(text)
    return str(tmp_path)


def test_load_config_returns_the_parsed_dict(tmp_path):
    assert spec.load_config(write_bundle(tmp_path, json.dumps(GOOD))) == GOOD


def test_validate_config_returns_its_argument():
    config = copy.deepcopy(GOOD)
    assert spec.validate_config(config) is config


def test_missing_config_names_the_path(tmp_path):
    missing = tmp_path / "nowhere"
    assert error_of(spec.load_config, str(missing)) == \
        f"cannot read {missing}/config.json: No such file or directory"


@pytest.mark.parametrize("text, message", [
    ('{\n  "ociVersion": "1.0.0"\n  "root": {}\n}',
     "config.json: invalid JSON at line 3 column 3: Expecting ',' delimiter"),
    ("{]", "config.json: invalid JSON at line 1 column 2: Expecting property name enclosed in double quotes"),
    ("", "config.json: invalid JSON at line 1 column 1: Expecting value"),
])
def test_malformed_json_gives_line_and_column(tmp_path, text, message):
    assert error_of(spec.load_config, write_bundle(tmp_path, text)) == message


def test_non_utf8_config(tmp_path):
    (tmp_path / "config.json").write_bytes(b'{"ociVersion": "\xff"}')
    assert error_of(spec.load_config, str(tmp_path)) == "config.json: invalid JSON: the file is not UTF-8 text"


# (where, new value, expected message); every message is the whole str() of the error
REJECTED = [
    # schema pass
    (("process", "args"), [], "config.json: process.args: [] should be non-empty"),
    (("process", "cwd"), DELETE, "config.json: process: 'cwd' is a required property"),
    (("process", "args"), DELETE, "config.json: process: 'args' is a required property"),
    (("root", "path"), DELETE, "config.json: root: 'path' is a required property"),
    (("ociVersion",), DELETE, "config.json: 'ociVersion' is a required property"),
    (("process", "user", "uid"), -1, "config.json: process.user.uid: -1 is less than the minimum of 0"),
    (("process", "user", "uid"), 1.0, "config.json: process.user.uid: 1.0 is not of type 'integer'"),
    (("process", "user", "gid"), True, "config.json: process.user.gid: True is not of type 'integer'"),
    (("linux", "namespaces", 1, "type"), "net",
     "config.json: linux.namespaces[1].type: 'net' is not one of "
     "['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time']"),
    (("linux", "devices"), [{"path": "/dev/x", "type": "x", "major": 1, "minor": 1}],
     "config.json: linux.devices[0].type: 'x' is not one of ['c', 'b', 'u', 'p']"),
    (("linux", "devices"), [{"path": "/dev/x", "type": "c"}],
     "config.json: linux.devices[0]: 'major' is a required property"),
    (("linux", "sysctl", "net.core.somaxconn"), 256,
     "config.json: linux.sysctl[\"net.core.somaxconn\"]: 256 is not of type 'string'"),
    (("linux", "resources"), {"blockIO": {"weightDevice": [{"major": 8, "minor": 0}]}},
     "config.json: linux.resources.blockIO.weightDevice[0]: at least one of 'weight', 'leafWeight' is required"),
    (("linux", "resources"), {"memory": {"limit": "x" * 1000}},
     "config.json: linux.resources.memory.limit: 'xxxxxxxxxxxx...xxxxxxxxxxxxx' is not of type 'integer'"),
    (("hooks", "poststop", 0, "timeout"), 0,
     "config.json: hooks.poststop[0].timeout: 0 is less than the minimum of 1"),
    # semantic pass
    (("process",), DELETE, "config.json: 'process' is a required property to create a container"),
    (("root",), DELETE, "config.json: 'root' is a required property on Linux"),
    (("ociVersion",), "2.0.0", "config.json: ociVersion: '2.0.0' is not supported: ocirt implements runtime-spec 1.x"),
    (("ociVersion",), "1", "config.json: ociVersion: '1' is not supported: ocirt implements runtime-spec 1.x"),
    (("process", "cwd"), "tmp", "config.json: process.cwd: 'tmp' is not an absolute path"),
    (("process", "capabilities", "bounding", 1), "CAP_FOO",
     "config.json: process.capabilities.bounding[1]: unknown capability 'CAP_FOO'"),
    (("process", "capabilities", "ambient", 0), "chown",
     "config.json: process.capabilities.ambient[0]: unknown capability 'chown'"),
    (("process", "rlimits", 0, "type"), "RLIMIT_FOO",
     "config.json: process.rlimits[0].type: unknown rlimit 'RLIMIT_FOO' (known: RLIMIT_AS, RLIMIT_CORE, "
     "RLIMIT_CPU, RLIMIT_DATA, RLIMIT_FSIZE, RLIMIT_LOCKS, RLIMIT_MEMLOCK, RLIMIT_MSGQUEUE, RLIMIT_NICE, "
     "RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_RSS, RLIMIT_RTPRIO, RLIMIT_RTTIME, RLIMIT_SIGPENDING, RLIMIT_STACK)"),
    (("process", "rlimits", 0, "soft"), 8192,
     "config.json: process.rlimits[0]: soft limit 8192 is greater than hard limit 4096"),
    (("process", "rlimits", 1), {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1},
     "config.json: process.rlimits[1].type: duplicate rlimit 'RLIMIT_NOFILE' (also at process.rlimits[0])"),
    (("linux", "namespaces", 3), {"type": "pid"},
     "config.json: linux.namespaces[3].type: duplicate namespace 'pid' (also at linux.namespaces[0])"),
    (("linux", "namespaces", 2, "path"), "proc/1/ns/net",
     "config.json: linux.namespaces[2].path: 'proc/1/ns/net' is not an absolute path"),
    (("hooks", "poststop", 0, "path"), "true", "config.json: hooks.poststop[0].path: 'true' is not an absolute path"),
    (("linux", "uidMappings"), [{"containerID": 0, "hostID": 1000, "size": 1}],
     'config.json: linux.uidMappings: set without a user namespace: add {"type": "user"} to linux.namespaces'),
    (("linux", "gidMappings"), [{"containerID": 0, "hostID": 1000, "size": 1}],
     'config.json: linux.gidMappings: set without a user namespace: add {"type": "user"} to linux.namespaces'),
]


@pytest.mark.parametrize("where, value, message", REJECTED, ids=[m.split(": ", 1)[1] for _, _, m in REJECTED])
def test_rejected_config_message(tmp_path, where, value, message):
    assert error_of(spec.load_config, write_bundle(tmp_path, json.dumps(mutate(GOOD, where, value)))) == message


def test_error_carries_path_and_source():
    with pytest.raises(OcirtError) as info:
        spec.validate_config(mutate(GOOD, ("process", "args"), []), source="other.json")
    assert (info.value.source, info.value.path) == ("other.json", "process.args")
    assert info.value.message == "[] should be non-empty"


def test_top_level_not_an_object():
    assert error_of(spec.validate_config, []) == "config.json: [] is not of type 'object'"


ACCEPTED = [
    (("ociVersion",), "1.0.2-dev"),                          # what containerd and podman send
    (("mounts", 0, "destination"), "proc"),                  # relative: runc resolves it against /
    (("linux", "namespaces", 3), {"type": "user"}),          # a user namespace without mappings
    (("x-unknown",), {"anything": [1, 2]}),                  # unknown properties are ignored
    (("linux", "rootfsPropagation"), "rprivate"),            # runc and crun take the recursive forms
    (("linux", "devices"), [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 8630}]),
    (("linux", "devices"), [{"path": "/dev/fifo", "type": "p"}]),
    (("linux", "resources"), {"memory": {"limit": -1}, "pids": {"limit": -1}, "cpu": {"quota": -1}}),
]


@pytest.mark.parametrize("where, value", ACCEPTED, ids=[str(w) for w, _ in ACCEPTED])
def test_accepted_config(where, value):
    spec.validate_config(mutate(GOOD, where, value))


def test_mappings_with_a_user_namespace():
    config = mutate(GOOD, ("linux", "namespaces", 3), {"type": "user"})
    config["linux"]["uidMappings"] = config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
    spec.validate_config(config)


# -- exec --process files

def write_process(tmp_path, obj, name="proc.json"):
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return str(path)


def test_load_process_returns_the_parsed_dict(tmp_path):
    assert spec.load_process(write_process(tmp_path, GOOD["process"])) == GOOD["process"]


@pytest.mark.parametrize("where, value, message", [
    (("args",), [], "proc.json: args: [] should be non-empty"),
    (("args",), DELETE, "proc.json: 'args' is a required property"),
    (("cwd",), DELETE, "proc.json: 'cwd' is a required property"),
    (("cwd",), "rel", "proc.json: cwd: 'rel' is not an absolute path"),
    (("terminal",), "yes", "proc.json: terminal: 'yes' is not of type 'boolean'"),
    (("capabilities", "bounding", 1), "CAP_FOO", "proc.json: capabilities.bounding[1]: unknown capability 'CAP_FOO'"),
    (("rlimits", 0, "hard"), 10, "proc.json: rlimits[0]: soft limit 1024 is greater than hard limit 10"),
])
def test_rejected_process_message(tmp_path, where, value, message):
    path = write_process(tmp_path, mutate(GOOD["process"], where, value))
    assert error_of(spec.load_process, path) == message


def test_process_file_malformed_and_missing(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"args": ["sh"],}')
    assert error_of(spec.load_process, str(path)) == \
        "p.json: invalid JSON at line 1 column 17: Expecting property name enclosed in double quotes"
    assert error_of(spec.load_process, str(tmp_path / "none.json")) == \
        f"cannot read {tmp_path}/none.json: No such file or directory"


# -- what real callers send

def fixture_files(pattern):
    return sorted(FIXTURES.glob(pattern)) or [pytest.param(None, marks=pytest.mark.skip(f"no fixtures in {FIXTURES}"))]


@pytest.mark.parametrize("path", fixture_files("*config*.json"), ids=lambda p: getattr(p, "name", "none"))
def test_caller_configs_load(path):
    spec.validate_config(json.loads(path.read_text()))


@pytest.mark.parametrize("path", fixture_files("*process*.json"), ids=lambda p: getattr(p, "name", "none"))
def test_caller_process_files_load(path):
    spec.load_process(str(path))


def test_every_captured_invocation_loads():
    capture = FIXTURES / "invocations.jsonl.gz"
    if not capture.exists():
        pytest.skip(f"{capture} is absent")
    counts = {"config_json": 0, "process_json": 0}
    with gzip.open(capture, "rt") as f:
        for line in f:
            record = json.loads(line)
            if "config_json" in record:
                spec.validate_config(record["config_json"])
            if "process_json" in record:
                spec.validate_process(record["process_json"])
            for key in counts:
                counts[key] += key in record
    assert counts["config_json"] and counts["process_json"]


# -- module plumbing

def test_json_path():
    assert spec.json_path(["linux", "namespaces", 2, "type"]) == "linux.namespaces[2].type"
    assert spec.json_path([3, "a"]) == "[3].a"
    assert spec.json_path(["annotations", "com.example.key", ""]) == 'annotations["com.example.key"][""]'
    assert spec.json_path([]) == ""


def test_schema_dir_holds_the_schemas():
    assert os.path.isfile(os.path.join(spec.SCHEMA_DIR, "config.json"))
    assert spec.SCHEMA_DIR in (str(REPO / "schemas"), os.path.join(os.path.dirname(spec.__file__), "schemas"))


def test_validator_is_built_once():
    assert spec.schema_validator(spec.CONFIG_SCHEMA) is spec.schema_validator(spec.CONFIG_SCHEMA)


def test_import_does_not_load_json_or_jsonschema():
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); import ocirt.spec; "
            "print('jsonschema' in sys.modules, 'json' in sys.modules)")
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
