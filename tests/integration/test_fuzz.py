"""Bad input, generated: configs from ocirt's own JSON schema (hypothesis-jsonschema)
and mutations that break them, each run through `ocirt create`.

Every case must end in one of two ways:
  * a container, which is then started (the start may fail, with one line) and
    deleted with `delete --force`; or
  * exactly one line on stderr ("ocirt: ..."), a non-zero exit, nothing on stdout;
never a Python traceback, never a hang. After every batch of cases nothing may be
left: no state dir, cgroup, process, mount, or file written outside the rootfs.

A hypothesis example is a batch: one config generated from the schema (whole, or
one section of a valid config replaced by a generated one) plus cheap seeded
mutations of valid configs (wrong types, missing fields, huge values, odd
unicode, paths with `..` and symlinks, missing rootfs, invalid ids, malformed
JSON, odd bundle layouts). Cases of a batch run in parallel against one --root;
the leak checks run per batch.

OCIRT_FUZZ_CASES sets how many cases (default 2000); OCIRT_FUZZ_WORKERS how many
run at once. The figures are printed at the end (run pytest with -s to see them)
and written as JSON to $OCIRT_FUZZ_REPORT if that is set.

Generated configs are made safe for the host before they run (see `make_safe`):
they can only use a rootfs under the test's tmp dir, always get a private mount
namespace when they mount anything, never join namespaces by path, run hooks,
write sysctls that exist on the host or move network devices, and their cgroups
are named after their ids. Everything else is as generated.
"""
import copy
import json
import os
import random
import shutil
import subprocess
import tempfile
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import BUSYBOX_CONFIG, OCIRT, REPO

hypothesis = pytest.importorskip("hypothesis")
hypothesis_jsonschema = pytest.importorskip("hypothesis_jsonschema")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

CASES = int(os.environ.get("OCIRT_FUZZ_CASES", "2000"))
WORKERS = int(os.environ.get("OCIRT_FUZZ_WORKERS", "4"))
PER_EXAMPLE = 10  # one generated from the schema, the rest mutations
TIMEOUT = 30  # seconds for one ocirt command: longer is a hang
# Unique to this run: the leak checks look for every id with the prefix on the
# whole host, and other test runs may be going on at the same time.
ID_PREFIX = f"ocirt-test-fz{uuid.uuid4().hex[:6]}-"

# Inputs that crash or hang ocirt today, each with a strict xfail test below
# that reproduces it. The generator leaves them out until they are fixed;
# when a fix lands, the xfail test fails (XPASS): remove its entry here.
KNOWN_BUGS = {
}


# ---------------------------------------------------------------- the schema, as one document

def merged_schema():
    """schemas/config.json with every $ref (across files) made local, for hypothesis-jsonschema."""
    schema_dir = os.path.join(REPO, "schemas")
    files = {n: json.load(open(os.path.join(schema_dir, n))) for n in os.listdir(schema_dir)
             if n.endswith(".json")}
    definitions = {}

    def rewrite(node, current):
        if isinstance(node, list):
            return [rewrite(item, current) for item in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key == "$ref":
                target, _, fragment = value.partition("#")
                target = target or current
                name = target[:-5] + "__" + (fragment.rsplit("/", 1)[-1] if fragment else "ROOT")
                if name not in definitions:
                    definitions[name] = None  # placeholder while recursing
                    body = files[target]
                    for part in fragment.strip("/").split("/") if fragment else ():
                        body = body[part]
                    definitions[name] = rewrite(body, target)
                out["$ref"] = "#/definitions/" + name
            elif key not in ("definitions", "$comment", "title"):
                out[key] = rewrite(value, current)
        return out

    root = rewrite(files["config.json"], "config.json")
    root["definitions"] = definitions
    return root


SCHEMA = merged_schema()


def sub_schema(name, array=False):
    ref = {"$ref": "#/definitions/" + name}
    body = {"type": "array", "items": ref, "maxItems": 4} if array else ref
    return dict(body, definitions=SCHEMA["definitions"])


def generated_strategies():
    """(label, strategy of (label, config-or-section)) pairs; built once."""
    from hypothesis_jsonschema import from_schema

    sections = [
        ("whole", None, SCHEMA),
        ("process", ("process",), sub_schema("defs__process")),
        ("linux", ("linux",), sub_schema("config-linux__ROOT")),
        ("resources", ("linux", "resources"), sub_schema("defs-linux__resources")),
        ("mounts", ("mounts",), sub_schema("defs__mount", array=True)),
        ("root", ("root",), sub_schema("defs__root")),
        ("seccomp", ("linux", "seccomp"), sub_schema("defs-linux__seccomp")),
    ]
    return st.one_of([from_schema(schema).map(lambda value, label=label, where=where: (label, where, value))
                      for label, where, schema in sections])


# ---------------------------------------------------------------- the world a batch runs in

class World:
    """A rootfs of our own (symlink traps planted), a sentinel directory that
    escapes would land in, bind sources, and the base config."""

    def __init__(self, tmp_path):
        self.tmp = str(tmp_path)
        self.rootfs = os.path.join(self.tmp, "fuzz-rootfs")
        subprocess.run(["sh", os.path.join(REPO, "bundles", "busybox", "make-rootfs"), self.rootfs],
                       check=True, capture_output=True)
        self.sentinel = os.path.join(self.tmp, "sentinel")
        os.mkdir(self.sentinel)
        self.host_src = os.path.join(self.tmp, "host-src")
        os.mkdir(self.host_src)
        with open(os.path.join(self.host_src, "file"), "w") as f:
            f.write("host\n")
        self.a_file = os.path.join(self.tmp, "a-file")
        with open(self.a_file, "w") as f:
            f.write("not a directory\n")
        # Traps inside the rootfs: a resolver that follows them on the host escapes.
        os.symlink(self.sentinel, os.path.join(self.rootfs, "escape"))
        os.symlink("../../../../../../../../../../.." + self.sentinel, os.path.join(self.rootfs, "up"))
        os.symlink("loop", os.path.join(self.rootfs, "loop"))
        os.symlink("/nonexistent/target", os.path.join(self.rootfs, "dangling"))
        self.bundles = os.path.join(self.tmp, "bundles")
        os.mkdir(self.bundles)
        self._counter = 0
        self._lock = threading.Lock()
        with open(BUSYBOX_CONFIG) as f:
            base = json.load(f)
        base["root"] = {"path": self.rootfs, "readonly": True}
        base["process"]["args"] = ["true"]
        self.base = base

    def new_bundle_dir(self):
        with self._lock:
            self._counter += 1
            n = self._counter
        path = os.path.join(self.bundles, str(n))
        os.mkdir(path)
        return path

    def inside(self, path, top=None):
        top = top or self.tmp
        try:
            real = os.path.realpath(path)
        except (OSError, ValueError):
            return False
        return real == top or real.startswith(top + "/")

    def inside_sentinel(self, path):
        return self.inside(path, self.sentinel)


class Case:
    """One input: what goes in config.json (an object, or raw bytes), the id, the bundle layout."""

    def __init__(self, kind, config, cid=None, layout="normal", note=""):
        self.kind = kind
        self.config = config
        self.id = cid if cid is not None else ID_PREFIX + uuid.uuid4().hex[:8]
        self.layout = layout
        self.note = note

    def config_bytes(self):
        if isinstance(self.config, bytes):
            return self.config
        return json.dumps(self.config).encode()

    def __repr__(self):
        shown = self.config_bytes()
        shown = shown[:600] + b"..." if len(shown) > 600 else shown
        return f"Case({self.kind}, id={self.id[:80]!r}, layout={self.layout}, {self.note}, config={shown!r})"


# ---------------------------------------------------------------- making generated configs host-safe

def _is_bind(mount):
    options = mount.get("options")
    return mount.get("type") == "bind" or (isinstance(options, list) and any(o in ("bind", "rbind") for o in options))


def _cgroup_path(value, cid):
    if ":" in value and "/" not in value:
        return value  # the systemd form: refused without --systemd-cgroup
    parts = ["dotdot" if p == ".." else p for p in value.split("/") if p not in ("", ".")]
    inner = "/".join([cid, *parts])
    return "/" + inner if value.startswith("/") else inner


def make_safe(config, world, cid, bundle):
    """Rewrite what could reach the host outside the test's own directories (see the module doc)."""
    if not isinstance(config, dict):
        return config
    root = config.get("root")
    if isinstance(root, dict) and isinstance(root.get("path"), str):
        path = root["path"]
        if "\0" in path or not world.inside(os.path.join(bundle, path)) or \
                world.inside_sentinel(os.path.join(bundle, path)):
            root["path"] = "/nonexistent/rootfs"
    hooks = config.get("hooks")
    if isinstance(hooks, dict):
        for stage in hooks.values():
            for hook in stage if isinstance(stage, list) else ():
                if isinstance(hook, dict) and isinstance(hook.get("path"), str) and hook["path"].startswith("/"):
                    hook["path"] = "/nonexistent/hook"
    linux = config.get("linux")
    own_mount_ns = False
    if isinstance(linux, dict):
        namespaces = linux.get("namespaces")
        if isinstance(namespaces, list):
            for ns in namespaces:
                if isinstance(ns, dict) and isinstance(ns.get("path"), str) and ns["path"].startswith("/"):
                    ns["path"] = "/nonexistent/ns"
            own_mount_ns = any(isinstance(ns, dict) and ns.get("type") == "mount" and not ns.get("path")
                               for ns in namespaces)
        sysctl = linux.get("sysctl")
        if isinstance(sysctl, dict):
            for key in list(sysctl):
                if os.path.exists("/proc/sys/" + key.replace(".", "/").replace("\0", "")):
                    del sysctl[key]
        linux.pop("netDevices", None)
        if isinstance(linux.get("cgroupsPath"), str):
            linux["cgroupsPath"] = _cgroup_path(linux["cgroupsPath"], cid)
        seccomp = linux.get("seccomp")
        if isinstance(seccomp, dict) and isinstance(seccomp.get("listenerPath"), str):
            seccomp["listenerPath"] = "/nonexistent/listener"
    mounts = config.get("mounts")
    if isinstance(mounts, list):
        if not own_mount_ns:
            # Without a private mount namespace the mounts would be the host's.
            del config["mounts"]
        else:
            for mount in mounts:
                if isinstance(mount, dict) and _is_bind(mount) and isinstance(mount.get("source"), str):
                    if "\0" in mount["source"] or not world.inside(os.path.join(bundle, mount["source"])):
                        mount["source"] = world.host_src
    return config


# ---------------------------------------------------------------- mutations

WRONG_TYPES = [None, True, False, 0, -1, 1.5, "", "x", [], [None], [1, "a"], {}, {"x": 1}]
HUGE_NUMBERS = [2**31 - 1, 2**31, -2**31 - 1, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -2**63 - 1,
                10**30, 10**4000, 1e308, -1e308, 5e-324, -0.0]
ODD_STRINGS = ["", " ", "\0", "a\0b", "\ud800", "\udfff", "\ud83d", "\u202eevil", "e\u0301", "\U0001F600",
               "\n", "a\nb", "\r", "\t", "\x1b[31m", "\x7f", "\ufeff", "\uffff", "\U0010ffff", "\u2028",
               "\u0085", "ﬁ", "İ", "%s%n%x", "${HOME}", "$(reboot)", "'\"`", "\\", "a" * 5000, "é" * 3000,
               "/", "//", "-", "--", "-rf"]
ODD_KEYS = ["", "\0", "\ud800", "a.b", "a/b", "..", "__proto__", "$ref", "\n", "\U0001F600", "x" * 2000]


def path_values(world):
    s = world.sentinel
    return [
        "../../../../../../../../../.." + s + "/x", "/../../../../../../../.." + s + "/x",
        "/escape/x", "/escape", "/up/x", "/up", "/loop/x", "/loop", "/dangling/x", "/dangling",
        "/proc/self/root" + s + "/x", "/proc/1/root" + s + "/x",
        "relative/x", "./x", "..", ".", "/", "//", "/.", "/..", "/x/../../../..", "/dev/../..",
        "/sys/fs/cgroup", "/proc", "/proc/sys/kernel/hostname", "/dev/null", "/dev/shm/x",
        "/tmp/" + "x" * 300, "/" + "a/" * 2100, "/a\nb", "/\U0001F600", "/x\0y",
    ]


# {abs}: the rootfs; {rel}: the rootfs relative to the bundle (through "..").
ROOT_PATHS = ["/nonexistent/rootfs", "rootfs", "", ".", "..", "a-file", "dangling-link", "loop-link", "good-link",
              "{rel}", "{rel}/", "{abs}/", "{abs}/.", "{abs}/../fuzz-rootfs", "{abs}/loop", "{abs}/dangling",
              "{abs}/bin/busybox", "/proc/self/cwd", "/"]

BAD_IDS = ["", ".", "..", "a/b", "../x", "x y", "x\ny", "x\ty", "é", "-x", "--root", "a" * 1025, "/", "\\",
           ID_PREFIX + "a/..", ID_PREFIX + "é", ID_PREFIX + "a:b", ID_PREFIX + "a\\b", ID_PREFIX + "%",
           ID_PREFIX + "*", ID_PREFIX + "a" * 300, ID_PREFIX + "\U0001F600", ID_PREFIX + " "]
ODD_VALID_IDS = [ID_PREFIX + "a.b+c_d-e", ID_PREFIX + "x" * 200, ID_PREFIX + "..", ID_PREFIX + "-", ID_PREFIX + "+"]

LAYOUTS = ["no-config", "config-is-dir", "config-symlink", "config-dangling", "config-loop", "no-bundle",
           "bundle-is-file", "config-fifo", "config-empty"]

# Fields whose values are paths, as (path into the config, is a list to append to).
PATH_FIELDS = [
    (("root", "path"), False), (("process", "cwd"), False), (("process", "args", 0), False),
    (("linux", "maskedPaths"), True), (("linux", "readonlyPaths"), True),
    (("linux", "cgroupsPath"), False), (("mounts", 1, "destination"), False),
    (("mounts", 6, "destination"), False), (("linux", "namespaces", 0, "path"), False),
]


def nodes(value, path=()):
    """Every (path, value) in a JSON document."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from nodes(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from nodes(item, (*path, i))


def set_path(doc, path, value):
    target = doc
    for part in path[:-1]:
        if isinstance(part, int):
            if not isinstance(target, list) or not target:
                return False
            part = min(part, len(target) - 1)
        elif not isinstance(target, dict):
            return False
        target = target.setdefault(part, {}) if isinstance(target, dict) else target[part]
    last = path[-1]
    if isinstance(target, list) and isinstance(last, int):
        if not target:
            return False
        target[min(last, len(target) - 1)] = value
    elif isinstance(target, dict) and not isinstance(last, int):
        target[last] = value
    else:
        return False
    return True


def delete_path(doc, path):
    target = doc
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]


def pick_node(rng, doc, leaves_only=False, want=None):
    candidates = [(p, v) for p, v in nodes(doc) if p]
    if leaves_only:
        candidates = [(p, v) for p, v in candidates if not isinstance(v, (dict, list))]
    if want is not None:
        candidates = [(p, v) for p, v in candidates if isinstance(v, want) and not isinstance(v, bool)]
    return rng.choice(candidates) if candidates else (None, None)


def mutate(rng, world, base):
    """One mutated Case from `base` (a deep copy is changed); a mutation that does not
    fit a generated config's shape is applied to the valid base config instead."""
    try:
        return _mutate(rng, world, base)
    except (KeyError, IndexError, TypeError, AttributeError, ValueError):
        return _mutate(rng, world, world.base)


def _mutate(rng, world, base):
    config = copy.deepcopy(base)
    kind = rng.choice(["wrong-type", "drop-field", "huge", "unicode", "unicode-key", "path", "rootfs", "id",
                       "malformed", "layout", "extra-field", "stack"])
    if kind == "stack":  # several mutations of the same config
        case = None
        for _ in range(rng.randint(2, 4)):
            case = _mutate(rng, world, config)
            if not isinstance(case.config, dict):
                break
            config = case.config
        case.kind = "stack:" + case.kind
        return case
    if kind == "wrong-type":
        path, value = pick_node(rng, config)
        choices = [v for v in WRONG_TYPES if type(v) is not type(value)]
        set_path(config, path, rng.choice(choices))
        return Case(kind, config, note="/".join(map(str, path)))
    if kind == "drop-field":
        path, _ = pick_node(rng, config)
        delete_path(config, path)
        return Case(kind, config, note="/".join(map(str, path)))
    if kind == "huge":
        what = rng.choice(["number", "number", "string", "list", "object"])
        if what == "number":
            path, _ = pick_node(rng, config, want=(int, float)) if rng.random() < 0.7 else pick_node(rng, config)
            value = rng.choice(HUGE_NUMBERS)
            if value == 10**4000 and "long-integer" in KNOWN_BUGS:
                value = 10**300
        elif what == "string":
            path, _ = pick_node(rng, config, want=str)
            value = rng.choice(["a", "/", "é", "\U0001F600"]) * rng.choice([4096, 65536, 1 << 20])
        elif what == "list":
            path, _ = pick_node(rng, config, want=list)
            value = [rng.choice(["x", "/x", 1, {"type": "tmpfs", "destination": "/x"}])] * rng.choice([1000, 20000])
        else:
            path = ("annotations",)
            value = {f"k{i}": "v" * rng.choice([1, 100]) for i in range(rng.choice([1000, 20000]))}
        if path is None:
            path, _ = pick_node(rng, config)
        set_path(config, path, value)
        return Case(kind, config, note=f"{what} at {'/'.join(map(str, path))}")
    if kind == "unicode":
        path, _ = pick_node(rng, config, want=str)
        value = rng.choice(ODD_STRINGS)
        if rng.random() < 0.3:
            value = "x" + value + "y"
        if "newline-in-message" in KNOWN_BUGS:
            value = value.replace("\n", "").replace("\r", "")
        set_path(config, path, value)
        return Case(kind, config, note="/".join(map(str, path)))
    if kind == "unicode-key":
        path, value = pick_node(rng, config, want=dict)
        key = rng.choice(ODD_KEYS)
        if "newline-in-message" in KNOWN_BUGS:
            key = key.replace("\n", "")
        value[key] = rng.choice(WRONG_TYPES + ["x"])
        return Case(kind, config, note=f"{'/'.join(map(str, path))}[{key[:20]!r}]")
    if kind == "path":
        field, append = rng.choice(PATH_FIELDS)
        value = rng.choice(path_values(world))
        if "newline-in-message" in KNOWN_BUGS:
            value = value.replace("\n", "")
        if append:
            target = config.setdefault("linux", {}).setdefault(field[-1], [])
            target.append(value)
        else:
            set_path(config, field, value)
        return Case(kind, config, note=f"{'/'.join(map(str, field))}={value[:60]!r}")
    if kind == "rootfs":
        value = rng.choice(ROOT_PATHS).format(abs=world.rootfs, rel=os.path.relpath(world.rootfs, world.bundles + "/x"))
        config["root"]["path"] = value
        return Case(kind, config, layout="rootfs-links", note=repr(value))
    if kind == "id":
        cid = rng.choice(BAD_IDS + ODD_VALID_IDS)
        if "newline-in-message" in KNOWN_BUGS:
            cid = cid.replace("\n", "")
        return Case(kind, config, cid=cid, note=repr(cid[:40]))
    if kind == "malformed":
        return malformed(rng, config)
    if kind == "layout":
        layouts = [l for l in LAYOUTS if not (l == "config-fifo" and "config-fifo" in KNOWN_BUGS)]
        return Case(kind, config, layout=rng.choice(layouts))
    # extra-field: unknown members are allowed by the spec; odd ones anywhere
    path, value = pick_node(rng, config, want=dict)
    target = value if path is not None else config
    target["x-fuzz-" + str(rng.randint(0, 99))] = rng.choice(WRONG_TYPES + ODD_STRINGS[:5] + [{"a": [1, {"b": None}]}])
    return Case(kind, config)


def malformed(rng, config):
    text = json.dumps(config, indent=rng.choice([None, 1]))
    data = text.encode()
    how = rng.choice(["truncate", "flip", "insert", "delete", "bom", "utf16", "latin1", "nul", "nan", "trailing",
                      "scalar", "empty", "spaces", "duplicate-keys", "deep", "long-int", "comment"])
    if how == "truncate":
        data = data[:rng.randrange(len(data))]
    elif how == "flip":
        i = rng.randrange(len(data))
        data = data[:i] + bytes([rng.randrange(256)]) + data[i + 1:]
    elif how == "insert":
        i = rng.randrange(len(data))
        data = data[:i] + rng.choice([b",", b"{", b"]", b"\"", b":", b"\\", b"\xff", b"\x00"]) + data[i:]
    elif how == "delete":
        i = rng.randrange(len(data))
        data = data[:i] + data[i + 1:]
    elif how == "bom":
        data = b"\xef\xbb\xbf" + data
    elif how == "utf16":
        data = text.encode("utf-16")
    elif how == "latin1":
        data = text.replace('"ocirt"', '"\u00e9t\u00e9"').encode("latin-1", errors="replace")
        data = data.replace(b'"sh"', b'"\xe9"')
    elif how == "nul":
        data = data.replace(b"\"true\"", b"\"tr\x00ue\"")
    elif how == "nan":
        data = data.replace(b"1024", rng.choice([b"NaN", b"Infinity", b"-Infinity", b"1e99999", b"-0", b"1.0"]))
    elif how == "trailing":
        data = data + rng.choice([b" x", b"}", b",", b"\x00", b"{}"])
    elif how == "scalar":
        data = rng.choice([b"null", b"[]", b"\"config\"", b"0", b"true", b"[{}]"])
    elif how == "empty":
        data = b""
    elif how == "spaces":
        data = b" " * rng.choice([1, 1 << 20]) + data
    elif how == "duplicate-keys":
        data = data.replace(b'"process": {', b'"process": 5, "process": {', 1)
    elif how == "deep":
        depth = rng.choice([100, 900] if "deep-nesting" in KNOWN_BUGS else [100, 900, 5000, 100000])
        data = data[:-1] + b', "x": ' + b"[" * depth + b"]" * depth + b"}"
    elif how == "long-int":
        digits = 4000 if "long-integer" in KNOWN_BUGS else rng.choice([4301, 100000])
        data = data.replace(b"1024", b"1" * digits, 1)
    elif how == "comment":
        data = b"// config\n" + data
    return Case("malformed:" + how, data)


# ---------------------------------------------------------------- running a case

class Outcome:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.kinds = {}
        self.failures = []
        self.max_line = 0
        self.cases = 0

    def add(self, case, result):
        with self.lock:
            self.cases += 1
            self.counts[result] = self.counts.get(result, 0) + 1
            kind = case.kind.split(":")[0]
            self.kinds[kind] = self.kinds.get(kind, 0) + 1


def _call(argv, timeout=TIMEOUT):
    """Run ocirt with stdio in files (a created container keeps them open)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=timeout)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = "hang"
        out.seek(0)
        err.seek(0)
        return code, out.read().decode(errors="replace"), err.read().decode(errors="replace")


def avoid_known_bugs(config):
    """Leave out of a config what KNOWN_BUGS lists (until it is fixed)."""
    if "newline-in-message" in KNOWN_BUGS:
        config = without_newlines(config)
    if "notify-default" in KNOWN_BUGS and isinstance(config, dict):
        seccomp = (config.get("linux") or {}).get("seccomp") if isinstance(config.get("linux"), dict) else None
        if isinstance(seccomp, dict) and seccomp.get("defaultAction") == "SCMP_ACT_NOTIFY":
            seccomp["defaultAction"] = "SCMP_ACT_ALLOW"
    return config


def without_newlines(value):
    """The config with CR and LF taken out of every string (while "newline-in-message" is a known bug)."""
    if isinstance(value, str):
        return value.replace("\n", "").replace("\r", "")
    if isinstance(value, list):
        return [without_newlines(v) for v in value]
    if isinstance(value, dict):
        return {without_newlines(k): without_newlines(v) for k, v in value.items()}
    return value


def materialize(case, world):
    bundle = world.new_bundle_dir()
    config_path = os.path.join(bundle, "config.json")
    if isinstance(case.config, bytes):
        data = case.config
    else:
        config = avoid_known_bugs(make_safe(case.config, world, case.id, bundle))
        data = json.dumps(config).encode()
    layout = case.layout
    if layout == "rootfs-links":
        os.symlink(world.rootfs, os.path.join(bundle, "good-link"))
        os.symlink("/nonexistent/target", os.path.join(bundle, "dangling-link"))
        os.symlink("loop-link", os.path.join(bundle, "loop-link"))
        shutil.copy(world.a_file, os.path.join(bundle, "a-file"))
        os.mkdir(os.path.join(bundle, "rootfs"))  # an empty rootfs: nothing to exec
        layout = "normal"
    if layout == "normal":
        with open(config_path, "wb") as f:
            f.write(data)
    elif layout == "config-is-dir":
        os.mkdir(config_path)
    elif layout == "config-symlink":
        with open(os.path.join(bundle, "real.json"), "wb") as f:
            f.write(data)
        os.symlink("real.json", config_path)
    elif layout == "config-dangling":
        os.symlink("missing.json", config_path)
    elif layout == "config-loop":
        os.symlink("config.json", config_path)
    elif layout == "no-bundle":
        os.rmdir(bundle)
    elif layout == "bundle-is-file":
        os.rmdir(bundle)
        with open(bundle, "wb") as f:
            f.write(data)
    elif layout == "config-fifo":
        os.mkfifo(config_path)
    elif layout == "config-empty":
        open(config_path, "wb").close()
    return bundle


def is_one_line(stderr):
    return stderr.endswith("\n") and "\n" not in stderr[:-1] and "\r" not in stderr and stderr.startswith("ocirt: ")


def check_error(case, code, stdout, stderr, outcome, what):
    """A refusal: non-zero exit, one line, no traceback, nothing on stdout."""
    problems = []
    if code == "hang":
        problems.append(f"{what} hung for {TIMEOUT} s")
    elif code == 0 or code < 0:
        problems.append(f"{what} exit code {code}")
    if "Traceback" in stderr or "Traceback" in stdout:
        problems.append(f"{what} traceback: {stderr[-2000:]}")
    elif not is_one_line(stderr):
        problems.append(f"{what} stderr is not one line: {stderr[:1000]!r}")
    if what == "create" and stdout:
        problems.append(f"{what} wrote to stdout: {stdout[:200]!r}")
    with outcome.lock:
        outcome.max_line = max(outcome.max_line, len(stderr))
    return problems


def run_case(case, world, root, outcome):
    bundle = materialize(case, world)
    code, stdout, stderr = _call([OCIRT, "--root", root, "create", "--bundle", bundle, case.id])
    problems = []
    if code == 0:
        code_s, out_s, err_s = _call([OCIRT, "--root", root, "start", case.id])
        if code_s != 0:
            problems += check_error(case, code_s, out_s, err_s, outcome, "start")
        code_d, out_d, err_d = _call([OCIRT, "--root", root, "delete", "--force", case.id])
        if code_d != 0 or "Traceback" in err_d:
            problems.append(f"delete --force failed ({code_d}): {err_d[-2000:]}")
        result = "started" if code_s == 0 else "start refused"
    else:
        problems += check_error(case, code, stdout, stderr, outcome, "create")
        if code == 3:
            result = "usage error"
        elif stderr.startswith("ocirt: config.json: "):
            result = "config error"
        else:
            result = "other error"
    outcome.add(case, result)
    if problems:
        with outcome.lock:
            outcome.failures.append((case, problems))
    if os.path.isdir(bundle) and not os.path.islink(bundle):
        # rm, not shutil.rmtree: a bundle used as its own rootfs can hold mount
        # points deeper than Python's recursion limit.
        subprocess.run(["rm", "-rf", bundle], check=False)
    elif os.path.lexists(bundle):
        os.unlink(bundle)


# ---------------------------------------------------------------- leak checks per batch

def leftovers(world, root):
    """What a batch left behind; a process that is still on its way out gets a few seconds."""
    import time

    deadline = time.monotonic() + 5
    while True:
        found = _leftovers(world, root)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _describe(pids):
    from test_concurrency import cmdline, proc_stat

    return [(pid, proc_stat(pid), b" ".join(cmdline(pid))[:200]) for pid in pids]


def _leftovers(world, root):
    from conftest import reap_zombie_children
    from test_concurrency import (cgroup_dirs_with, live_children, mounts_mentioning, processes_in_cgroups_with,
                                  processes_naming_prefix)

    reap_zombie_children()
    found = []
    if os.path.isdir(root) and os.listdir(root):
        found.append(f"state dirs: {os.listdir(root)[:10]}")
    for label, items in (("cgroups", cgroup_dirs_with(ID_PREFIX)),
                         ("processes in cgroups", _describe(processes_in_cgroups_with(ID_PREFIX))),
                         ("ocirt processes", _describe(processes_naming_prefix(ID_PREFIX))),
                         ("mounts", mounts_mentioning(world.tmp)),
                         ("files outside the rootfs", os.listdir(world.sentinel)),
                         ("processes re-parented to the test", _describe(live_children()))):
        if items:
            found.append(f"{label}: {items[:10]}")
    return found


def clean_up(world, root):
    """After a failed batch: remove what was left so later batches are judged on their own."""
    import time

    from test_concurrency import cgroup_dirs_with, mounts_mentioning

    for name in os.listdir(root) if os.path.isdir(root) else ():
        _call([OCIRT, "--root", root, "delete", "--force", name])
        shutil.rmtree(os.path.join(root, name), ignore_errors=True)
    for line in reversed(mounts_mentioning(world.tmp)):
        subprocess.run(["umount", "-l", line.split()[4]], capture_output=True)
    time.sleep(0.1)
    for d in sorted(cgroup_dirs_with(ID_PREFIX), key=len, reverse=True):
        for top, dirs, _ in os.walk(d, topdown=False):
            try:
                os.rmdir(top)
            except OSError:
                pass
    for name in os.listdir(world.sentinel):
        path = os.path.join(world.sentinel, name)
        shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.unlink(path)


def run_batch(cases, world, root, outcome):
    before = len(outcome.failures)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(pool.map(lambda case: run_case(case, world, root, outcome), cases))
    left = leftovers(world, root)
    failures = outcome.failures[before:]
    if left:
        clean_up(world, root)
    assert not failures and not left, (failures[:3], left)


# ---------------------------------------------------------------- the tests

@pytest.fixture
def world(tmp_path):
    world = World(tmp_path)
    yield world
    # Mount points made for destinations deeper than PATH_MAX are too deep for pytest's own clean-up.
    subprocess.run(["rm", "-rf", world.rootfs, world.bundles], check=False)


def fixed_cases(world):
    """Every special input once, whatever the generator picks."""
    base = world.base
    cases = [Case("valid", copy.deepcopy(base))]
    cases += [Case("id", copy.deepcopy(base), cid=cid) for cid in BAD_IDS + ODD_VALID_IDS
              if "\n" not in cid or "newline-in-message" not in KNOWN_BUGS]
    cases += [Case("layout", copy.deepcopy(base), layout=layout) for layout in LAYOUTS
              if layout != "config-fifo" or "config-fifo" not in KNOWN_BUGS]
    rel = os.path.relpath(world.rootfs, world.bundles + "/x")
    for value in ROOT_PATHS:
        config = copy.deepcopy(base)
        config["root"]["path"] = value.format(abs=world.rootfs, rel=rel)
        cases.append(Case("rootfs", config, layout="rootfs-links", note=value))
    for field, append in PATH_FIELDS:
        for value in path_values(world):
            if "\n" in value and "newline-in-message" in KNOWN_BUGS:
                continue
            config = copy.deepcopy(base)
            if append:
                config["linux"][field[-1]].append(value)
            else:
                set_path(config, field, value)
            cases.append(Case("path", config, note=f"{field}={value[:40]!r}"))
    rng = random.Random(0)
    for how in ["truncate", "flip", "insert", "delete", "bom", "utf16", "latin1", "nul", "nan", "trailing",
                "scalar", "empty", "spaces", "duplicate-keys", "deep", "long-int", "comment"]:
        for _ in range(3):
            while True:
                case = malformed(rng, copy.deepcopy(base))
                if case.kind == "malformed:" + how:
                    cases.append(case)
                    break
    return cases


def test_fixed_bad_inputs(ocirt, world):
    """Each hand-picked special input (ids, bundle layouts, root paths, path traps, malformed JSON) once."""
    outcome = Outcome()
    cases = fixed_cases(world)
    for i in range(0, len(cases), PER_EXAMPLE * 2):
        run_batch(cases[i:i + PER_EXAMPLE * 2], world, ocirt.root, outcome)
    assert outcome.counts.get("started", 0) >= 5  # the valid case and the harmless traps do run
    print("\nfixed bad inputs:", outcome.cases, "cases;", outcome.counts)


def test_generated_bad_input(ocirt, world):
    """CASES cases: per hypothesis example one schema-generated config and mutations."""
    outcome = Outcome()
    generated = generated_strategies()
    examples = max(1, CASES // PER_EXAMPLE)

    @settings(max_examples=examples, deadline=None, derandomize=False, print_blob=True,
              report_multiple_bugs=False,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much, HealthCheck.large_base_example])
    @given(generated=generated, seed=st.integers(0, 2**32 - 1))
    def batch(generated, seed):
        label, where, value = generated
        rng = random.Random(seed)
        if where is None:
            first = Case("schema:whole", value)
        else:
            config = copy.deepcopy(world.base)
            set_path(config, where, value) if len(where) > 1 else config.__setitem__(where[0], value)
            if label == "process" and isinstance(config["process"], dict) and rng.random() < 0.5:
                config["process"]["args"] = ["true"]  # so that some of them get as far as running
            first = Case("schema:" + label, config)
        # Mutations start from it too (as bytes, where materialize cannot step in).
        first.config = avoid_known_bugs(first.config)
        cases = [first]
        for _ in range(PER_EXAMPLE - 1):
            # Mutations of the valid base, or of the generated config when it is an object.
            source = first.config if isinstance(first.config, dict) and rng.random() < 0.3 else world.base
            cases.append(mutate(rng, world, source))
        run_batch(cases, world, ocirt.root, outcome)

    batch()
    summary = {"cases": outcome.cases, "results": outcome.counts, "kinds": outcome.kinds,
               "longest stderr": outcome.max_line, "known bugs left out": sorted(KNOWN_BUGS)}
    print("\ngenerated bad input:", json.dumps(summary, indent=1))
    if os.environ.get("OCIRT_FUZZ_REPORT"):
        with open(os.environ["OCIRT_FUZZ_REPORT"], "w") as f:
            json.dump(summary, f, indent=1)
    assert outcome.cases >= examples * PER_EXAMPLE
    # The mix reaches every layer: validation, semantic checks, the container side, a running container.
    assert outcome.counts.get("config error", 0) > 0
    assert outcome.counts.get("started", 0) > 0


# ---------------------------------------------------------------- known bugs, one reproducer each

def _refusal(ocirt, world, data, layout="normal"):
    case = Case("known", data, layout=layout)
    bundle = materialize(case, world)
    argv = [OCIRT, "--root", ocirt.root, "create", "--bundle", bundle, case.id]
    code, stdout, stderr = _call(argv, timeout=20)
    assert code != "hang", "ocirt create hung"
    assert "Traceback" not in stderr, stderr[-1500:]
    assert code not in (0, "hang") and code > 0 and is_one_line(stderr), (code, stderr[:500])
    return stderr


def test_deeply_nested_config(ocirt, world):
    stderr = _refusal(ocirt, world, b'{"ociVersion": "1.0.2", "x": ' + b"[" * 100000 + b"]" * 100000 + b"}")
    assert "config.json" in stderr


def test_integer_with_more_than_4300_digits(ocirt, world):
    config = copy.deepcopy(world.base)
    data = json.dumps(config).replace("1024", "1" * 5000, 1).encode()
    stderr = _refusal(ocirt, world, data)
    assert "config.json" in stderr


def test_config_json_is_a_fifo(ocirt, world):
    stderr = _refusal(ocirt, world, b"", layout="config-fifo")
    assert "config.json" in stderr


def test_config_larger_than_memory_allows(ocirt, world):
    bundle_case = Case("known", b"")
    bundle = materialize(bundle_case, world)
    with open(os.path.join(bundle, "config.json"), "wb") as f:
        f.truncate(2 << 30)  # 2 GiB, sparse
    argv = ["prlimit", "--as=1000000000", "--", OCIRT, "--root", ocirt.root, "create", "--bundle", bundle,
            bundle_case.id]
    code, stdout, stderr = _call(argv, timeout=60)
    assert "Traceback" not in stderr, stderr[-500:]
    assert code not in (0, "hang") and code > 0 and is_one_line(stderr), (code, stderr[:500])
    assert "config.json" in stderr


def test_newline_in_a_value_stays_one_line(ocirt, world):
    config = copy.deepcopy(world.base)
    config["root"]["path"] = "/nonexistent\nrootfs"
    _refusal(ocirt, world, json.dumps(config).encode())


def test_seccomp_default_notify_without_listener(ocirt, world):
    config = copy.deepcopy(world.base)
    config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_NOTIFY"}
    case = Case("known", config)
    bundle = materialize(case, world)
    code, _, stderr = _call([OCIRT, "--root", ocirt.root, "create", "--bundle", bundle, case.id], timeout=20)
    try:
        assert code != 0 and is_one_line(stderr) and "listenerPath" in stderr, (code, stderr)
    finally:
        _call([OCIRT, "--root", ocirt.root, "delete", "--force", case.id])
