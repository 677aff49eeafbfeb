"""Faults: ocirt killed (SIGKILL) at each step of create, start, exec and delete;
the container's init dying before start; the caller's subreaper going away; the
state directory on a full filesystem.

After every fault, `state` must report something true about the container,
and `delete --force` (or plain `delete` where the status allows it) must remove
everything: no state dir, cgroup, process or mount (the autouse `no_leaks`
fixture checks those for the test's ids; these tests also look for ocirt's own
forked processes, whose command line names the container id).

ocirt kills itself at a named point when OCIRT_FAULT=<name> is set
(`_fault_point` in ocirt/container.py); FAULT_POINTS lists every one.
"""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from conftest import new_id, one_line_error, reap_zombie_children

FAULT_POINTS = {
    "create": ["after-state-dir", "after-cgroup", "after-clone", "during-mounts", "before-pid-file"],
    "start": ["start-after-lock", "start-after-save", "start-after-fifo", "start-after-exec"],
    "exec": ["exec-after-fork", "exec-after-handshake"],
    "delete": ["delete-after-lock", "delete-after-kill", "delete-after-cgroup"],
}


def test_every_fault_point_is_in_the_code():
    """Each listed point is a `_fault_point("<name>")` call in ocirt, and each call is listed."""
    import re

    here = os.path.dirname(os.path.abspath(__file__))
    package = os.path.join(os.path.dirname(os.path.dirname(here)), "ocirt")
    found = set()
    for top, _, files in os.walk(package):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(top, name)) as f:
                    found |= set(re.findall(r'_fault_point\("([a-z-]+)"\)', f.read()))
    listed = {p for points in FAULT_POINTS.values() for p in points}
    assert found == listed


# ---------------------------------------------------------------- helpers

def faulty(point):
    return dict(os.environ, OCIRT_FAULT=point)


def killed(out):
    assert out.returncode == -signal.SIGKILL, (out.returncode, out.stderr)


def ocirt_processes(cid):
    """Live processes forked from an ocirt command about `cid` (the intermediate,
    an init before it execs, an exec helper): their command line names the id."""
    found = []
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        argv = cmdline.split(b"\0")
        if cid.encode() in argv and any(b in argv for b in (b"create", b"run", b"exec")):
            found.append((int(pid), cmdline.replace(b"\0", b" ").decode(errors="replace")))
    return found


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def wait_for(predicate, timeout=10, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def state_of(ocirt, cid):
    out = ocirt("state", cid, check=False)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    state = json.loads(out.stdout)
    assert state["id"] == cid
    return state


def assert_all_gone(ocirt, cid):
    out = ocirt("state", cid, check=False)
    assert out.returncode != 0 and "does not exist" in out.stderr, out
    assert not os.path.exists(os.path.join(ocirt.root, cid))
    reap_zombie_children()
    assert ocirt_processes(cid) == []


def cgroup_dirs(cid):
    found = []
    for top, dirs, _ in os.walk("/sys/fs/cgroup"):
        found += [os.path.join(top, d) for d in dirs if d.startswith(cid)]
    return found


def nested_cgroup(cid):
    """A cgroupsPath with parents the create makes (and delete must remove)."""
    def edit(config):
        config["linux"]["cgroupsPath"] = f"/{cid}/nested/ctr"
    return edit


# ---------------------------------------------------------------- create

@pytest.mark.parametrize("force", [True, False], ids=["delete-force", "delete"])
@pytest.mark.parametrize("point", FAULT_POINTS["create"])
def test_create_killed(ocirt, make_bundle, tmp_path, point, force):
    cid = new_id("fc")
    pid_file = tmp_path / "pid"
    bundle = make_bundle(["sleep", "1000"], edit=nested_cgroup(cid))
    killed(ocirt("create", "--bundle", bundle, "--pid-file", pid_file, cid, check=False, env=faulty(point)))
    assert not pid_file.exists()
    # The creator is gone: the container never became startable, whatever its init is doing.
    state = state_of(ocirt, cid)
    assert state["status"] == "stopped" and state["pid"] == 0, state
    listed = json.loads(ocirt("list", "--format", "json").stdout)
    assert [(s["id"], s["status"]) for s in listed] == [(cid, "stopped")]
    line = one_line_error(ocirt("start", cid, check=False, timeout=20))
    assert "not running" in line, line
    if force:
        ocirt("delete", "--force", cid)
    else:
        ocirt("delete", cid)  # stopped, so plain delete must do it all
    assert_all_gone(ocirt, cid)
    assert cgroup_dirs(cid) == []


def test_create_killed_half_way_through_its_cgroups(ocirt, make_bundle):
    """runc 1.1.5 leaves cgroup directories that `delete --force` does not remove
    when create is killed while making them. The record names every directory
    create is about to make before it makes any: make part of them by hand (as a
    create killed between two mkdirs would have) and delete must remove them."""
    cid = new_id("fc")
    bundle = make_bundle(["true"], edit=nested_cgroup(cid))
    killed(ocirt("create", "--bundle", bundle, cid, check=False, env=faulty("after-state-dir")))
    assert cgroup_dirs(cid) == []
    # Where create would have put them: <hierarchy>/<cid>/nested/ctr in every hierarchy.
    with open(os.path.join(ocirt.root, cid, "state.json")) as f:
        leaves = sorted(json.load(f)["cgroups"]["paths"].values())
    assert len(leaves) > 2 and all(leaf.endswith(f"/{cid}/nested/ctr") for leaf in leaves)
    # Half of the hierarchies made down to the leaf, the last one only down to a parent.
    for leaf in leaves[: len(leaves) // 2]:
        os.makedirs(leaf)
    os.makedirs(os.path.dirname(leaves[-1]))
    assert cgroup_dirs(cid)
    ocirt("delete", "--force", cid)
    assert cgroup_dirs(cid) == []
    assert_all_gone(ocirt, cid)


def test_create_killed_at_random_moments(ocirt, make_bundle):
    """SIGKILL at arbitrary times during create: `state` never finds a torn or
    half-written record, and delete --force always cleans up."""
    outcomes = random_kills(ocirt, make_bundle, int(os.environ.get("OCIRT_RANDOM_KILLS", "12")))
    print(f"\nrandom kills during create, status found afterwards: {outcomes}")


def random_kills(ocirt, make_bundle, rounds):
    bundle = make_bundle(["sleep", "1000"])
    rng = random.Random(os.environ.get("OCIRT_FAULT_SEED", "8"))
    outcomes = {}
    for _ in range(rounds):
        cid = new_id("fr")
        ocirt.ids.add(cid)
        argv = [ocirt_binary(), "--root", ocirt.root, "create", "--bundle", bundle, cid]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, 0.12))  # create takes about 65 ms here
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        out = ocirt("state", cid, check=False)
        assert "Traceback" not in out.stderr and "corrupt" not in out.stderr, out.stderr
        if out.returncode == 0:
            status = json.loads(out.stdout)["status"]
        else:
            assert "does not exist" in out.stderr, out.stderr
            status = "absent"
        outcomes[status] = outcomes.get(status, 0) + 1
        ocirt("delete", "--force", cid)
        assert_all_gone(ocirt, cid)
    # Whatever moment the kill hit, only these can be true: nothing yet (killed before the
    # state dir), stopped (a creator that died half way) or created (killed after it finished).
    assert set(outcomes) <= {"absent", "stopped", "created"}, outcomes
    return outcomes


def ocirt_binary():
    from conftest import OCIRT

    return OCIRT


# ---------------------------------------------------------------- start

START_EXPECTED = {
    "start-after-lock": "created",   # nothing done yet
    "start-after-save": "created",   # the record says running, the init still waits: derived, not trusted
    "start-after-fifo": "running",   # released, fifo not yet unlinked: nobody reads it any more
    "start-after-exec": "running",
}


@pytest.mark.parametrize("point", FAULT_POINTS["start"])
def test_start_killed(ocirt, make_bundle, point):
    cid = new_id("fs")
    ocirt("create", "--bundle", make_bundle(["sleep", "1000"]), cid)
    pid = state_of(ocirt, cid)["pid"]
    killed(ocirt("start", cid, check=False, env=faulty(point)))
    expected = START_EXPECTED[point]
    state = state_of(ocirt, cid)
    assert state["status"] == expected, state
    assert state["pid"] == pid
    if expected == "created":
        assert cmdline(pid)[0] != b"sleep"  # true: it has not exec'd
        ocirt("start", cid)  # and it still can be started
    else:
        wait_for(lambda: cmdline(pid)[:1] == [b"sleep"], what="the init to exec")
        line = one_line_error(ocirt("start", cid, check=False))
        assert "running" in line, line
    assert state_of(ocirt, cid)["status"] == "running"
    assert cmdline(pid)[0] == b"sleep"
    ocirt("delete", "--force", cid)
    assert_all_gone(ocirt, cid)


# ---------------------------------------------------------------- exec

@pytest.mark.parametrize("point", FAULT_POINTS["exec"])
def test_exec_killed(ocirt, make_bundle, point):
    cid = new_id("fe")
    ocirt("run", "--detach", "--bundle", make_bundle(["sleep", "1000"]), cid)
    init = state_of(ocirt, cid)["pid"]
    killed(ocirt("exec", cid, "sleep", "777", check=False, env=faulty(point)))
    state = state_of(ocirt, cid)
    assert state["status"] == "running" and state["pid"] == init
    # Whatever the exec got to start lives in the container's cgroup, where ps sees it.
    if point == "exec-after-handshake":
        pids = json.loads(ocirt("ps", "--format", "json", cid).stdout)
        assert any(cmdline(p)[:2] == [b"sleep", b"777"] for p in pids), pids
    # The container still takes execs.
    assert ocirt("exec", cid, "true").returncode == 0
    ocirt("delete", "--force", cid)
    assert_all_gone(ocirt, cid)
    assert not [p for p in map(int, filter(str.isdigit, os.listdir("/proc")))
                if cmdline(p)[:2] == [b"sleep", b"777"]]


# ---------------------------------------------------------------- delete

DELETE_EXPECTED = {
    "delete-after-lock": "running",
    "delete-after-kill": "stopped",
    "delete-after-cgroup": "stopped",
}


@pytest.mark.parametrize("point", FAULT_POINTS["delete"])
def test_delete_killed(ocirt, make_bundle, point):
    cid = new_id("fd")
    ocirt("run", "--detach", "--bundle", make_bundle(["sleep", "1000"], edit=nested_cgroup(cid)), cid)
    pid = state_of(ocirt, cid)["pid"]
    killed(ocirt("delete", "--force", cid, check=False, env=faulty(point)))
    reap_zombie_children()
    state = state_of(ocirt, cid)
    assert state["status"] == DELETE_EXPECTED[point], state
    if state["status"] == "stopped":
        assert state["pid"] == 0 and cmdline(pid) == []
        ocirt("delete", cid)
    else:
        ocirt("delete", "--force", cid)
    assert_all_gone(ocirt, cid)
    assert cgroup_dirs(cid) == []


# ---------------------------------------------------------------- the init dies before start

@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_init_dies_before_start(ocirt, make_bundle, signum):
    cid = new_id("fi")
    ocirt("create", "--bundle", make_bundle(["sleep", "1000"]), cid)
    pid = state_of(ocirt, cid)["pid"]
    os.kill(pid, signum)
    wait_for(lambda: state_of(ocirt, cid)["status"] == "stopped", what="stopped")
    assert state_of(ocirt, cid)["pid"] == 0
    line = one_line_error(ocirt("start", cid, check=False, timeout=20))
    assert "not running" in line, line
    assert state_of(ocirt, cid)["status"] == "stopped"
    ocirt("delete", cid)
    assert_all_gone(ocirt, cid)


def test_init_reaped_by_nobody_yet_reads_stopped(ocirt, make_bundle):
    """A dead init that its subreaper has not reaped (a zombie) is stopped, not running."""
    cid = new_id("fi")
    ocirt("run", "--detach", "--bundle", make_bundle(["sleep", "1000"]), cid)
    pid = state_of(ocirt, cid)["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z", what="a zombie")
    assert state_of(ocirt, cid)["status"] == "stopped"
    ocirt("delete", cid)
    assert os.waitpid(pid, os.WNOHANG)[0] == pid  # it was ours to reap all along
    assert_all_gone(ocirt, cid)


# ---------------------------------------------------------------- the caller's subreaper goes away

SUBREAPER = """
import ctypes, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
code = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL).returncode
print(code, flush=True)
time.sleep(1000)
"""


def ppid(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


@pytest.mark.parametrize("when", ["created", "running"])
def test_callers_subreaper_goes_away(ocirt, make_bundle, when):
    """A shim-like caller (a subreaper that ran `create`) dies: its container is
    re-parented further up (here to the test process), and every command still works."""
    from conftest import OCIRT

    cid = new_id("fsr")
    ocirt.ids.add(cid)
    bundle = make_bundle(["sleep", "1000"])
    command = ["create"] if when == "created" else ["run", "--detach"]
    argv = [OCIRT, "--root", ocirt.root, *command, "--bundle", bundle, cid]
    shim = subprocess.Popen([sys.executable, "-c", SUBREAPER, *argv], stdout=subprocess.PIPE, text=True)
    try:
        assert shim.stdout.readline().strip() == "0"
        pid = state_of(ocirt, cid)["pid"]
        assert ppid(pid) == shim.pid  # the shim is its parent, as containerd's shim would be
    finally:
        shim.kill()
        shim.wait()
    wait_for(lambda: ppid(pid) == os.getpid(), what="re-parenting to the test process")
    assert state_of(ocirt, cid)["status"] == when
    if when == "created":
        ocirt("start", cid)
    assert state_of(ocirt, cid)["status"] == "running"
    assert ocirt("exec", cid, "true").returncode == 0
    ocirt("kill", cid, "KILL")
    wait_for(lambda: state_of(ocirt, cid)["status"] == "stopped", what="stopped")
    ocirt("delete", cid)
    assert_all_gone(ocirt, cid)


# ---------------------------------------------------------------- a full filesystem under --root

@pytest.fixture
def tiny_root(tmp_path):
    """--root on a 512 KiB tmpfs with few inodes (request it before `ocirt`, so
    it is unmounted after the runtime's own clean-up)."""
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,nr_inodes=64,mode=0711", "tmpfs", str(root)],
                   check=True)
    try:
        yield root
    finally:
        for name in os.listdir(root):
            if name.startswith("filler"):
                path = root / name
                if path.is_dir():
                    for inner in os.listdir(path):
                        os.unlink(path / inner)
                    os.rmdir(path)
                else:
                    os.unlink(path)
        subprocess.run(["umount", str(root)], check=True)


def fill_blocks(root):
    """Write until the filesystem is full; returns the filler path (unlink it to free the space)."""
    path = root / "filler-blocks"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        chunk = b"\0" * 4096
        while True:
            os.write(fd, chunk)
    except OSError as e:
        assert e.errno == 28  # ENOSPC
    finally:
        os.close(fd)
    return path


def fill_inodes(root):
    directory = root / "filler-inodes"
    directory.mkdir()
    i = 0
    try:
        while True:
            (directory / str(i)).touch()
            i += 1
    except OSError as e:
        assert e.errno == 28
    return directory


def record_of(ocirt, cid):
    """The raw state.json, which must always be whole JSON; and no temp file lingers."""
    directory = os.path.join(ocirt.root, cid)
    with open(os.path.join(directory, "state.json")) as f:
        record = json.load(f)
    assert [n for n in os.listdir(directory) if "tmp" in n] == []
    return record


def test_create_on_a_full_filesystem(tiny_root, ocirt, make_bundle):
    fill_blocks(tiny_root)
    cid = new_id("ff")
    line = one_line_error(ocirt("create", "--bundle", make_bundle(["true"]), cid, check=False))
    assert "No space left on device" in line, line
    assert sorted(os.listdir(tiny_root)) == ["filler-blocks"]
    assert cgroup_dirs(cid) == []
    assert_all_gone(ocirt, cid)


def test_create_without_free_inodes(tiny_root, ocirt, make_bundle):
    fill_inodes(tiny_root)
    cid = new_id("ff")
    line = one_line_error(ocirt("create", "--bundle", make_bundle(["true"]), cid, check=False))
    assert "No space left on device" in line, line
    assert sorted(os.listdir(tiny_root)) == ["filler-inodes"]
    assert cgroup_dirs(cid) == []


def test_lifecycle_when_the_filesystem_fills_up(tiny_root, ocirt, make_bundle):
    cid = new_id("ff")
    ocirt("create", "--bundle", make_bundle(["sleep", "1000"]), cid)
    before = record_of(ocirt, cid)
    filler = fill_blocks(tiny_root)
    # start must write the state: it fails clearly, and the container stays created.
    line = one_line_error(ocirt("start", cid, check=False))
    assert "No space left on device" in line, line
    assert record_of(ocirt, cid) == before
    assert state_of(ocirt, cid)["status"] == "created"
    # Reading and killing need no space.
    assert [s["id"] for s in json.loads(ocirt("list", "--format", "json").stdout)] == [cid]
    os.unlink(filler)
    ocirt("start", cid)
    assert state_of(ocirt, cid)["status"] == "running"
    fill_blocks(tiny_root)
    assert ocirt("exec", cid, "true").returncode == 0
    ocirt("pause", cid)
    assert state_of(ocirt, cid)["status"] == "paused"
    ocirt("resume", cid)
    ocirt("kill", cid, "KILL")
    wait_for(lambda: state_of(ocirt, cid)["status"] == "stopped", what="stopped")
    record_of(ocirt, cid)
    ocirt("delete", cid)  # removing needs no space either
    assert_all_gone(ocirt, cid)


# ---------------------------------------------------------------- the init dies during setup

KILL_INIT_BEFORE_GO = """
import os, sys, time
from ocirt import container

def kill_the_init(self):  # runs just before the parent tells the init to go on
    os.kill(self.init_pid, 9)
    time.sleep(0.2)

container._Creation._set_oom_score_adj = kill_the_init
from ocirt.cli import main
main()
"""


def test_init_dying_during_setup_is_reported(ocirt, make_bundle):
    """Something kills the init half way through create (the OOM killer, an admin): create
    must fail with one line saying so, and leave nothing."""
    cid = new_id("fk")
    ocirt.ids.add(cid)
    argv = [sys.executable, "-c", KILL_INIT_BEFORE_GO, "--root", ocirt.root, "create", "--bundle",
            make_bundle(["sleep", "1000"]), cid]
    out = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert not os.path.exists(os.path.join(ocirt.root, cid))
    line = one_line_error(out)
    assert "init" in line, line
