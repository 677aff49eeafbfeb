"""Every config.json captured from a real caller (containerd, CRI, podman) runs under ocirt.

/work/shared/fixtures/*config*.json were recorded on a machine like this one
from the runtime call that received them. `runnable_on_this_host` turns one
into a bundle for the busybox rootfs; it returns the changes it made with
the reason for each, and the test asserts that each fixture needed exactly the
changes listed in `EXPECTED`, so a new fixture (or a new ocirt feature) shows
up here as a visible difference rather than a silent rewrite.

What the rewriting does, and why:
  root.path          -> the busybox rootfs (the caller's overlay is gone)
  process.args       -> a short shell command that prints "ok" after checking
                        what the rewriting set up (bind mounts, joined
                        namespaces, the cgroup), that the seccomp filter is on
                        when the fixture has one (profiles are kept as
                        captured) and that stdin is a terminal when
                        process.terminal is set (foreground `run` relays the pty)
  bind sources       -> files and dirs of the capture machine are replaced by
                        temp files/dirs holding a marker
  namespace paths    -> /proc/<pid>/ns/* of a helper container started from
                        the caller's own sandbox/infra fixture
  cgroupsPath        -> /ocirt-test-fx-<n>/<container id>: the leak check looks
                        for cgroups named after the id; the test checks the parent
  oomScoreAdj < 0    -> 0: lowering it needs CAP_SYS_RESOURCE, which this host lacks
  rlimit hard > ours -> our hard limit: raising one needs CAP_SYS_RESOURCE
  apparmor/selinux   -> removed: neither is enabled on this host
  user namespace     -> the rootfs copy is chowned to the mapped root (as
                        podman's idmapped storage would be)
"""
import copy
import json
import os
import resource
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from conftest import REPO, new_id

FIXTURES = Path("/work/shared/fixtures")
CONFIGS = sorted(FIXTURES.glob("*config*.json"))
MARKER = "ocirt-fixture-bind"

# Bind-mount sources of the capture machine that are regular files (the rest are dirs).
FILE_SOURCES = {"hosts", "hostname", "resolv.conf", ".containerenv"}

# Which fixture joins the namespaces of which other fixture (its sandbox / pod infra).
HELPER_OF = {
    "containerd-cri-container-config.json": "containerd-cri-sandbox-config.json",
    "podman-pod-member-config.json": "podman-pod-infra-config.json",
}

# Fixture -> the adjustments it is expected to need (see runnable_on_this_host),
# apart from HOST_DEPENDENT ones.
EXPECTED = {
    "containerd-config.json": {"root", "args", "cgroupsPath"},
    "containerd-cri-container-config.json": {"root", "args", "cgroupsPath", "bind sources", "namespace paths"},
    "containerd-cri-sandbox-config.json": {"root", "args", "cgroupsPath", "bind sources"},
    "containerd-rich-config.json": {"root", "args", "cgroupsPath", "bind sources"},
    "containerd-tty-config.json": {"root", "args", "cgroupsPath"},
    "podman-config.json": {"root", "args", "cgroupsPath", "bind sources"},
    "podman-pod-infra-config.json": {"root", "args", "cgroupsPath", "bind sources"},
    "podman-pod-member-config.json": {"root", "args", "cgroupsPath", "bind sources", "namespace paths"},
    "podman-privileged-config.json": {"root", "args", "cgroupsPath", "bind sources"},
    "podman-rich-config.json": {"root", "args", "cgroupsPath", "bind sources"},
    "podman-tty-config.json": {"root", "args", "cgroupsPath", "bind sources"},
    "podman-userns-config.json": {"root", "args", "cgroupsPath", "bind sources", "userns rootfs"},
}


# Adjustments that depend on this host's limits rather than on the fixture.
HOST_DEPENDENT = {"rlimits", "oomScoreAdj"}


def _is_bind(mount):
    return mount.get("type") == "bind" or any(o in ("bind", "rbind") for o in mount.get("options") or ())


def runnable_on_this_host(config, *, rootfs, userns_rootfs, scratch, cgroups_path, name, helper_pid=None):
    """Rewrite a captured config so it runs here; returns (config, {adjustment: detail}).

    `rootfs` is the busybox tree; `userns_rootfs(config)` makes one owned by
    the user namespace's root; `scratch` is a directory for replacement bind
    sources; `cgroups_path` replaces linux.cgroupsPath; `helper_pid` is the
    init of a container whose namespaces replace the captured paths.
    The new process.args check what the rewriting set up, then print "ok".
    """
    config = copy.deepcopy(config)
    done = {}
    checks = []
    proc = config["process"]
    linux = config.setdefault("linux", {})

    # root.path: the caller's overlay (or bundle-relative "rootfs") is not here.
    if linux.get("uidMappings"):
        config["root"]["path"] = str(userns_rootfs(config))
        done["userns rootfs"] = "busybox rootfs chowned to the mapped root"
    else:
        config["root"]["path"] = str(rootfs)
    done["root"] = "root.path -> busybox rootfs"

    # Bind sources of the capture machine: temp files/dirs with a marker.
    for i, mount in enumerate(config.get("mounts") or ()):
        source = mount.get("source") or ""
        if not _is_bind(mount) or os.path.exists(source):
            continue
        replacement = scratch / f"bind{i}-{os.path.basename(source)}"
        if os.path.basename(source) in FILE_SOURCES:
            replacement.write_text(MARKER + "\n")
            checks.append(f"grep -qx {MARKER} {mount['destination']}")
        else:
            replacement.mkdir()
            (replacement / MARKER).write_text("")
            checks.append(f"test -e {mount['destination']}/{MARKER}")
        mount["source"] = str(replacement)
        done.setdefault("bind sources", []).append(mount["destination"])

    # Namespaces joined by path: the helper container's, and check we are in them.
    for ns in linux.get("namespaces") or ():
        if "path" in ns:
            assert helper_pid, f"{name} joins namespaces by path but has no helper"
            proc_name = {"network": "net", "mount": "mnt"}.get(ns["type"], ns["type"])
            ns["path"] = f"/proc/{helper_pid}/ns/{proc_name}"
            checks.append(f'test "$(readlink /proc/self/ns/{proc_name})" = "{os.readlink(ns["path"])}"')
            done.setdefault("namespace paths", []).append(ns["type"])

    # cgroupsPath: a test path, and check the process is in it.
    if "cgroupsPath" in linux:
        linux["cgroupsPath"] = cgroups_path
        done["cgroupsPath"] = cgroups_path
        if not any(ns["type"] == "cgroup" for ns in linux.get("namespaces") or ()):
            checks.append(f"grep -q ':{cgroups_path}$' /proc/self/cgroup")

    # The captured seccomp profile stays: check that a filter is on (mode 2).
    if "seccomp" in linux:
        checks.append("grep -q '^Seccomp:[[:space:]]*2$' /proc/self/status")
    # A terminal stays too: foreground `run` relays the pty.
    if proc.get("terminal"):
        checks.append("tty -s")

    proc["args"] = ["sh", "-c", " && ".join(checks + ["echo ok"])]
    done["args"] = "process.args -> checks && echo ok"

    # What this host cannot do.
    if proc.get("oomScoreAdj", 0) < 0:
        proc["oomScoreAdj"] = 0
        done["oomScoreAdj"] = "lowering it needs CAP_SYS_RESOURCE"
    for rlimit in proc.get("rlimits") or ():
        ours = resource.getrlimit(getattr(resource, rlimit["type"]))[1]
        if ours != resource.RLIM_INFINITY and rlimit["hard"] > ours:
            rlimit["hard"] = ours
            rlimit["soft"] = min(rlimit["soft"], ours)
            done.setdefault("rlimits", []).append(f"{rlimit['type']}: raising the hard limit needs CAP_SYS_RESOURCE")
    for key in ("apparmorProfile", "selinuxLabel"):
        if key in proc:
            del proc[key]
            done.setdefault("labels", []).append(f"process.{key}: not enabled on this host")
    if "mountLabel" in linux:
        del linux["mountLabel"]
        done.setdefault("labels", []).append("linux.mountLabel: SELinux is not enabled on this host")
    return config, done


@pytest.fixture(scope="module")
def fixture_rootfs(tmp_path_factory):
    """A private busybox tree: ocirt creates mount points (/host, /run/.containerenv) in it."""
    target = tmp_path_factory.mktemp("fixture-rootfs") / "rootfs"
    subprocess.run(["sh", os.path.join(REPO, "bundles", "busybox", "make-rootfs"), str(target)],
                   check=True, capture_output=True)
    return target


def make_userns_rootfs(tmp_path, config):
    """A copy of the busybox tree owned by the user namespace's root."""
    uid = next(m["hostID"] for m in config["linux"]["uidMappings"] if m["containerID"] == 0)
    gid = next(m["hostID"] for m in config["linux"]["gidMappings"] if m["containerID"] == 0)
    target = tmp_path / f"userns-rootfs-{uid}"
    if target.exists():
        return target
    subprocess.run(["sh", os.path.join(REPO, "bundles", "busybox", "make-rootfs"), str(target)],
                   check=True, capture_output=True)
    subprocess.run(["chown", "-R", "-h", f"{uid}:{gid}", str(target)], check=True)
    return target


def write_bundle(path, config):
    path.mkdir()
    (path / "config.json").write_text(json.dumps(config, indent=1))
    return str(path)


def assert_nothing_left(ocirt):
    """No state dir under --root (the no_leaks fixture checks cgroups, mounts, processes)."""
    assert not os.path.isdir(ocirt.root) or os.listdir(ocirt.root) == []


def load_fixture(name):
    return json.loads((FIXTURES / name).read_text())


class Rewriter:
    """runnable_on_this_host with this test's rootfs, scratch dirs and cgroup parent.

    Scratch files and a user namespace's rootfs live in `public_dir`, not in
    pytest's tmp_path: /tmp/pytest-of-root is mode 0700, so the mapped root of
    a user namespace (uid 100000 on the host) could not reach them.
    """

    def __init__(self, tmp_path, public_dir, rootfs):
        self.tmp_path = tmp_path
        self.public_dir = public_dir
        self.rootfs = rootfs
        self.cgroup_parent = f"ocirt-test-fx-{uuid.uuid4().hex[:8]}"
        self.count = 0

    def __call__(self, name, cid, config=None, helper_pid=None):
        self.count += 1
        scratch = self.public_dir / f"scratch{self.count}"
        scratch.mkdir()
        config, done = runnable_on_this_host(
            load_fixture(name) if config is None else config, rootfs=self.rootfs,
            userns_rootfs=lambda c: make_userns_rootfs(self.public_dir, c), scratch=scratch,
            cgroups_path=f"/{self.cgroup_parent}/{cid}", name=name, helper_pid=helper_pid)
        return config, done

    def bundle(self, config):
        return write_bundle(self.tmp_path / f"bundle{self.count}", config)

    def leftover_cgroups(self):
        """Directories named like our cgroup parent, in any hierarchy."""
        return [top for top, _, _ in os.walk("/sys/fs/cgroup") if os.path.basename(top) == self.cgroup_parent]


@pytest.fixture
def rewrite(tmp_path, fixture_rootfs):
    """Set up before `ocirt` (tests list it first), so its checks run after ocirt's clean-up."""
    public_dir = Path(tempfile.mkdtemp(prefix="ocirt-test-fixtures-"))
    public_dir.chmod(0o711)
    rewriter = Rewriter(tmp_path, public_dir, fixture_rootfs)
    yield rewriter
    shutil.rmtree(public_dir)
    assert rewriter.leftover_cgroups() == []


def start_helper(ocirt, rewrite, name):
    """Run the sandbox / pod infra fixture detached; returns (id, init pid)."""
    cid = new_id("helper")
    config, _ = rewrite(name, cid)
    config["process"]["args"] = ["sleep", "1000"]
    ocirt("run", "--detach", "--bundle", rewrite.bundle(config), cid)
    return cid, ocirt.state(cid)["pid"]


def test_every_fixture_is_covered():
    assert CONFIGS, f"no fixtures in {FIXTURES}"
    assert {p.name for p in CONFIGS} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_runs(rewrite, ocirt, name):
    helper = None
    try:
        if name in HELPER_OF:
            helper = start_helper(ocirt, rewrite, HELPER_OF[name])
        cid = new_id("fx")
        config, done = rewrite(name, cid, helper_pid=helper and helper[1])
        assert set(done) - HOST_DEPENDENT == EXPECTED[name], done
        # input="": with a terminal, the relay must not read the test runner's stdin
        out = ocirt("run", "--bundle", rewrite.bundle(config), cid, check=False, input="")
        assert out.returncode == 0, out.stderr
        assert (out.stdout, out.stderr) == ("ok\n", "")
    finally:
        if helper:
            ocirt("delete", "--force", helper[0])
    assert_nothing_left(ocirt)


# A call each captured profile refuses while the fixture's capabilities would allow it,
# and what the call gives without the profile.
SECCOMP_CONTRAST = [
    # CRI's RuntimeDefault refuses unshare(CLONE_NEWUSER) without CAP_SYS_ADMIN
    ("containerd-cri-container-config.json", "unshare -U true", "Operation not permitted", None),
    # ctr --cap-add CAP_SYS_ADMIN: the kernel would get as far as the read-only root
    ("containerd-rich-config.json", "swapon /etc/passwd", "Operation not permitted", "Read-only file system"),
]


@pytest.mark.parametrize("name, command, filtered, unfiltered", SECCOMP_CONTRAST,
                         ids=[c[0] for c in SECCOMP_CONTRAST])
def test_fixture_seccomp_profile_filters(rewrite, ocirt, name, command, filtered, unfiltered):
    """The captured profile is applied as captured: the same call, with and without it."""
    helper = None
    try:
        if name in HELPER_OF:
            helper = start_helper(ocirt, rewrite, HELPER_OF[name])
        outputs = {}
        for keep in (True, False):
            cid = new_id("fx")
            config, _ = rewrite(name, cid, helper_pid=helper and helper[1])
            if not keep:
                del config["linux"]["seccomp"]
            config["process"]["args"] = ["sh", "-c", f"{command} 2>&1 && echo succeeded; true"]
            out = ocirt("run", "--bundle", rewrite.bundle(config), cid, check=False)
            assert (out.returncode, out.stderr) == (0, ""), out.stderr
            outputs[keep] = out.stdout
    finally:
        if helper:
            ocirt("delete", "--force", helper[0])
    assert filtered in outputs[True] and "succeeded" not in outputs[True], outputs
    assert (unfiltered or "succeeded") in outputs[False] and filtered not in outputs[False], outputs
    assert_nothing_left(ocirt)


TTY = sorted(n for n in EXPECTED if load_fixture(n)["process"].get("terminal"))


@pytest.mark.parametrize("name", TTY)
def test_fixture_with_terminal_needs_a_console_socket(rewrite, ocirt, name):
    """`create` with process.terminal and no --console-socket has nowhere to send
    the pty master (runc refuses it too): a clear error, nothing built."""
    cid = new_id("fx")
    config, _ = rewrite(name, cid)
    assert config["process"]["terminal"] is True
    out = ocirt("create", "--bundle", rewrite.bundle(config), cid, check=False)
    assert out.returncode == 1
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ocirt: config.json: process.terminal: "), out.stderr
    assert "console-socket" in lines[0]
    assert_nothing_left(ocirt)
