"""The busybox bundle (bundles/busybox) on its own, independently of ocirt:
make-rootfs builds a sound tree, config.json is valid against the official
runtime-spec schema, and runc (and crun, where it can run) start it."""

import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "bundles" / "busybox"
MAKE_ROOTFS = BUNDLE / "make-rootfs"
SCHEMA_DIR = Path("/work/shared/reference/runtime-spec-v1.3.0")
UNIFIED_CONTROLLERS = Path("/sys/fs/cgroup/unified/cgroup.controllers")
BUSYBOX = Path("/bin/busybox")
GREETING = "Hello from ocirt: ocirt as 0, pid 1\n"

needs_busybox = pytest.mark.skipif(
    not BUSYBOX.exists(), reason="busybox-static is not installed (apt-get install busybox-static)")


@pytest.fixture
def tmp_dir():
    """A temporary directory removed afterwards (pytest's tmp_path is kept)."""
    with tempfile.TemporaryDirectory(prefix="ocirt-test-bundle-") as d:
        yield Path(d)


@pytest.fixture(scope="module")
def rootfs():
    """make-rootfs run once for the module; tests copy the tree."""
    if not BUSYBOX.exists():
        pytest.skip("busybox-static is not installed (apt-get install busybox-static)")
    with tempfile.TemporaryDirectory(prefix="ocirt-test-rootfs-") as d:
        target = Path(d) / "rootfs"
        subprocess.run([str(MAKE_ROOTFS), str(target)], check=True, capture_output=True)
        yield target


def make_rootfs(*args, env=None):
    return subprocess.run([str(MAKE_ROOTFS), *map(str, args)], capture_output=True,
                          text=True, env=env)


def applets():
    out = subprocess.run([str(BUSYBOX), "--list-full"], check=True, capture_output=True,
                         text=True).stdout.split()
    return [a for a in out if a != "bin/busybox"]


def snapshot(tree):
    """{relative path: (file type, mode, link target or size)} of a tree."""
    result = {}
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = path.lstat()
            detail = os.readlink(path) if stat.S_ISLNK(st.st_mode) else st.st_size
            result[str(path.relative_to(tree))] = (stat.S_IFMT(st.st_mode),
                                                  stat.S_IMODE(st.st_mode), detail)
    return result


def link_lands_on_busybox(tree, applet):
    """Resolve the applet's link the way the container would (root = tree)."""
    path = tree / applet
    target = os.readlink(path)
    if target.startswith("/"):
        resolved = Path(os.path.normpath(target)).relative_to("/")
    else:
        resolved = Path(os.path.normpath(Path(applet).parent / target))
    return resolved == Path("bin/busybox")


def read_table(path):
    return {line.split(":")[0]: line.split(":") for line in path.read_text().splitlines()
            if line and not line.startswith("#")}


# --- make-rootfs ---------------------------------------------------------------

@needs_busybox
def test_rootfs_has_busybox_and_every_applet(rootfs):
    busybox = rootfs / "bin" / "busybox"
    assert busybox.is_file() and not busybox.is_symlink()
    assert os.access(busybox, os.X_OK)
    assert busybox.read_bytes() == BUSYBOX.read_bytes()
    names = applets()
    assert len(names) > 100
    for applet in names:
        assert (rootfs / applet).is_symlink(), applet
        assert link_lands_on_busybox(rootfs, applet), (applet, os.readlink(rootfs / applet))
    for applet in ("bin/sh", "bin/true", "bin/hostname", "usr/bin/id", "bin/sleep"):
        assert applet in names


@needs_busybox
def test_rootfs_directories(rootfs):
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "dev/pts",
              "dev/shm", "tmp", "run", "root", "home", "var"):
        assert (rootfs / d).is_dir() and not (rootfs / d).is_symlink(), d
    assert stat.S_IMODE((rootfs / "tmp").stat().st_mode) == 0o1777


@needs_busybox
def test_rootfs_users_and_groups(rootfs):
    passwd = read_table(rootfs / "etc" / "passwd")
    assert passwd["root"][2:4] == ["0", "0"]
    assert passwd["nobody"][2:4] == ["65534", "65534"]
    assert any(fields[2] == "1000" for fields in passwd.values())
    group = read_table(rootfs / "etc" / "group")
    assert group["root"][2] == "0"
    assert group["tty"][2] == "5"
    assert group["users"][2] == "100"
    assert group["nogroup"][2] == "65534"
    for name in ("hostname", "hosts", "resolv.conf"):
        assert (rootfs / "etc" / name).is_file(), name
    assert (rootfs / "etc" / "hostname").read_text().strip() == "ocirt"


@needs_busybox
def test_rootfs_runs_in_a_chroot(rootfs):
    out = subprocess.run(["chroot", str(rootfs), "/usr/bin/env", "sh", "-c", "id -u; echo ok"],
                         capture_output=True, text=True, check=True).stdout
    assert out == "0\nok\n"


@needs_busybox
def test_make_rootfs_is_idempotent_and_repairs(rootfs, tmp_dir):
    tree = tmp_dir / "rootfs"
    shutil.copytree(rootfs, tree, symlinks=True)
    before = snapshot(tree)

    start = time.monotonic()
    result = make_rootfs(tree)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - start < 5
    assert snapshot(tree) == before

    (tree / "bin" / "sh").unlink()
    (tree / "usr" / "bin" / "env").unlink()
    (tree / "usr" / "bin" / "env").write_text("not busybox")
    (tree / "etc" / "passwd").write_text("garbage\n")
    result = make_rootfs(tree)
    assert result.returncode == 0, result.stderr
    assert snapshot(tree) == before


@needs_busybox
def test_make_rootfs_default_target_is_beside_the_script(tmp_dir):
    script = tmp_dir / "busybox" / "make-rootfs"
    script.parent.mkdir()
    shutil.copy2(MAKE_ROOTFS, script)
    result = subprocess.run([str(script)], capture_output=True, text=True, cwd="/")
    assert result.returncode == 0, result.stderr
    assert (tmp_dir / "busybox" / "rootfs" / "bin" / "busybox").is_file()


def test_make_rootfs_without_busybox_says_what_to_install(tmp_dir):
    env = dict(os.environ, BUSYBOX=str(tmp_dir / "no-busybox"))
    result = make_rootfs(tmp_dir / "rootfs", env=env)
    assert result.returncode != 0
    assert "apt-get install busybox-static" in result.stderr
    assert not (tmp_dir / "rootfs").exists()


# --- config.json ---------------------------------------------------------------

def load_config():
    return json.loads((BUNDLE / "config.json").read_text())


def test_config_validates_against_the_runtime_spec_schema():
    if not (SCHEMA_DIR / "config-schema.json").exists():
        pytest.skip(f"runtime-spec schema not found at {SCHEMA_DIR}")
    jsonschema = pytest.importorskip("jsonschema")
    referencing = pytest.importorskip("referencing")
    from referencing.jsonschema import DRAFT4

    # The schema files refer to each other by relative name ("defs.json#/...");
    # register each under its file:// URI and give the root schema its own URI
    # as base, so every $ref resolves locally.
    registry = referencing.Registry().with_resources(
        (path.as_uri(), referencing.Resource.from_contents(
            json.loads(path.read_text()), default_specification=DRAFT4))
        for path in SCHEMA_DIR.glob("*.json"))
    schema_path = SCHEMA_DIR / "config-schema.json"
    schema = dict(json.loads(schema_path.read_text()), id=schema_path.as_uri())
    validator = jsonschema.Draft4Validator(schema, registry=registry)

    config = load_config()
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(config)]
    assert errors == []

    # ...and the validator really follows the $refs into config-linux.json
    broken = load_config()
    broken["linux"]["namespaces"].append({"type": "no-such-namespace"})
    assert list(validator.iter_errors(broken))


def test_config_shape():
    config = load_config()
    process = config["process"]
    assert process["terminal"] is False
    assert process["args"] == ["sh", "-c",
                               "echo Hello from ocirt: $(hostname) as $(id -u), pid $$"]
    assert process["user"] == {"uid": 0, "gid": 0}
    assert process["cwd"] == "/"
    assert any(e.startswith("PATH=") for e in process["env"])
    assert any(e.startswith("TERM=") for e in process["env"])
    default_caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    for kind in ("bounding", "effective", "permitted"):
        assert process["capabilities"][kind] == default_caps
    assert process["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
    assert process["noNewPrivileges"] is True
    assert config["root"] == {"path": "rootfs", "readonly": True}
    assert config["hostname"] == "ocirt"
    assert [m["destination"] for m in config["mounts"]] == [
        "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"]
    linux = config["linux"]
    assert [n["type"] for n in linux["namespaces"]] == [
        "pid", "network", "ipc", "uts", "mount", "cgroup"]
    assert linux["resources"]["devices"] == [{"allow": False, "access": "rwm"}]
    assert "/proc/kcore" in linux["maskedPaths"]
    assert "/proc/sys" in linux["readonlyPaths"]


# --- the bundle under the reference runtimes -------------------------------------

def cgroups_named(name):
    return [os.path.join(d, n) for d, dirs, _ in os.walk("/sys/fs/cgroup")
            for n in dirs if n == name]


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(path))]


def run_reference_runtime(runtime, rootfs, tmp_dir, wrap=()):
    """`RUNTIME --root R run --bundle B ID` on a fresh bundle copy; returns
    the completed process. Cleans up and checks nothing is left behind."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    bundle, root = tmp_dir / "bundle", tmp_dir / "root"
    bundle.mkdir()
    root.mkdir()
    shutil.copy2(BUNDLE / "config.json", bundle / "config.json")
    shutil.copytree(rootfs, bundle / "rootfs", symlinks=True)
    cid = f"ocirt-test-{uuid.uuid4().hex[:12]}"
    try:
        return subprocess.run([*wrap, runtime, "--root", str(root), "run", "--bundle",
                               str(bundle), cid], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=60)
    finally:
        subprocess.run([*wrap, runtime, "--root", str(root), "delete", "--force", cid],
                       capture_output=True)
        assert [p.name for p in root.iterdir() if p.is_dir()] == []
        assert cgroups_named(cid) == []
        assert mounts_under(tmp_dir) == []


def test_bundle_runs_under_runc(rootfs, tmp_dir):
    runc = shutil.which("runc")
    if not runc:
        pytest.skip("runc is not installed (apt-get install runc)")
    result = run_reference_runtime(runc, rootfs, tmp_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout == GREETING


def test_bundle_runs_under_crun(rootfs, tmp_dir):
    """crun 1.8.1 refuses the hybrid cgroup layout, so on such a machine it
    runs in a private mount namespace where the cgroup2 mount lists no
    controllers (as bench/run.py does)."""
    crun = shutil.which("crun")
    if not crun:
        pytest.skip("crun is not installed (apt-get install crun)")
    wrap = []
    if UNIFIED_CONTROLLERS.exists():
        empty = tmp_dir / "empty"
        empty.write_text("")
        wrap = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                f'mount --bind "{empty}" {UNIFIED_CONTROLLERS} && exec "$@"', "sh"]
    result = run_reference_runtime(crun, rootfs, tmp_dir, wrap)
    assert result.returncode == 0, result.stderr
    assert result.stdout == GREETING
