"""Shared fixtures: the ocirt command under a private --root, busybox bundles,
and a leak check that runs after every integration test."""
import copy
import json
import os
import subprocess
import sys
import tempfile
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The installed console script beside this interpreter (not pyenv's bash shim).
OCIRT = os.environ.get("OCIRT") or os.path.join(os.path.dirname(sys.executable), "ocirt")
BUSYBOX_CONFIG = os.path.join(REPO, "bundles", "busybox", "config.json")
TEST_ID_PREFIX = "ocirt-test-"


def new_id(tag="c"):
    return f"{TEST_ID_PREFIX}{tag}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory):
    """One busybox tree for the session; bundles point at it read-only."""
    target = tmp_path_factory.mktemp("rootfs") / "rootfs"
    subprocess.run(["sh", os.path.join(REPO, "bundles", "busybox", "make-rootfs"), str(target)],
                   check=True, capture_output=True)
    return str(target)


def run_captured(argv, *, check=True, **kw):
    """subprocess.run with stdout and stderr read back as text.

    Files, not pipes: a created container keeps the stdio it was given (as
    under runc), so waiting for a pipe's end-of-file would hang."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        result = subprocess.run(argv, stdout=out, stderr=err, text=True, **kw)
        out.seek(0)
        err.seek(0)
        result.stdout, result.stderr = out.read(), err.read()
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr}")
    return result


class Runtime:
    """Runs `ocirt --root <private root> ...` and remembers the ids it created."""

    def __init__(self, root):
        self.root = root
        self.ids = set()

    def __call__(self, *args, check=True, input=None, timeout=60, env=None, global_args=(), **kw):
        argv = [OCIRT, "--root", self.root, *global_args, *map(str, args)]
        for command in ("create", "run"):
            if command in args:
                self.ids.add(str(args[-1]))
        return run_captured(argv, check=check, input=input, timeout=timeout, env=env, **kw)

    def state(self, container_id):
        return json.loads(self("state", container_id).stdout)

    def cleanup(self):
        for container_id in sorted(self.ids):
            self("delete", "--force", container_id, check=False)


@pytest.fixture
def ocirt(tmp_path):
    runtime = Runtime(str(tmp_path / "root"))
    yield runtime
    runtime.cleanup()


@pytest.fixture
def make_bundle(tmp_path, busybox_rootfs):
    """make_bundle(args=[...], **top-level overrides, edit=callable) -> bundle dir."""
    counter = [0]

    def make(args=None, edit=None, rootfs=None, **overrides):
        counter[0] += 1
        bundle = tmp_path / f"bundle{counter[0]}"
        bundle.mkdir()
        with open(BUSYBOX_CONFIG) as f:
            config = json.load(f)
        config["root"] = {"path": rootfs or busybox_rootfs, "readonly": True}
        if args is not None:
            config["process"]["args"] = args
        config.update(copy.deepcopy(overrides))
        if edit:
            edit(config)
        (bundle / "config.json").write_text(json.dumps(config, indent=1))
        return str(bundle)

    return make


def _mounts_mentioning(text):
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if text in line]


def _cgroup_dirs_named(prefix):
    found = []
    for top, dirs, _ in os.walk("/sys/fs/cgroup"):
        for d in dirs:
            if d.startswith(prefix):
                found.append(os.path.join(top, d))
    return found


def _processes_in_cgroups_named(prefix):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                if prefix in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def one_line_error(out):
    """The single `ocirt: ...` line of a failed command (asserting that it is one)."""
    assert out.returncode != 0, out
    assert "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ocirt: "), out.stderr
    return lines[0]


def reap_zombie_children():
    """Reap exited containers that were re-parented to us (see `subreaper`).

    Only while no other thread runs a subprocess: a zombie may also be a
    command another thread is about to wait for, and reaping it under
    subprocess's feet makes its exit code read as 0.
    """
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        if fields[0] == b"Z" and int(fields[1]) == me:
            try:
                os.waitpid(int(pid), os.WNOHANG)
            except ChildProcessError:
                pass


@pytest.fixture(scope="session", autouse=True)
def subreaper():
    """Act like containerd's shim or conmon: container inits are re-parented to
    the test process when `create` exits, and we reap them."""
    from ocirt.linux import syscalls

    syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)
    yield
    reap_zombie_children()


@pytest.fixture(autouse=True)
def no_leaks(request, tmp_path):
    """After each integration test (and its own clean-up): no state dir, mount,
    cgroup or process of the containers it created is left on the host.

    Scoped to this test's ids so that test runs in parallel do not see each other.
    """
    yield
    if "integration" not in str(request.node.fspath):
        return
    runtime = request.node.funcargs.get("ocirt")
    ids = sorted(runtime.ids) if runtime is not None else []
    # Fixtures such as `ocirt` are finalized before this one (they were set up after it).
    reap_zombie_children()
    root = tmp_path / "root"
    leftovers = []
    if root.is_dir() and any(root.iterdir()):
        leftovers.append(f"state dirs: {sorted(p.name for p in root.iterdir())}")
    mounts = _mounts_mentioning(str(tmp_path))
    if mounts:
        leftovers.append(f"mounts: {mounts}")
    cgroups = [d for cid in ids for d in _cgroup_dirs_named(cid)]
    if cgroups:
        leftovers.append(f"cgroups: {cgroups}")
    procs = [pid for cid in ids for pid in _processes_in_cgroups_named(cid)]
    if procs:
        leftovers.append(f"processes: {procs}")
    for container_id_dir in sorted(cgroups, key=len, reverse=True):
        try:
            os.rmdir(container_id_dir)
        except OSError:
            pass
    assert not leftovers, "test left behind " + "; ".join(leftovers)
