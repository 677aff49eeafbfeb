"""ocirt under containerd 1.6: `ctr ... --runc-binary OCIRT` through the
io.containerd.runc.v2 shim, as a user of containerd would run it.

A private containerd (callers/containerd_daemon.py) serves the module, with a
namespace of its own, so the runtime's state dir (the shim passes
`--root /run/containerd/runc/<namespace>`) and the cgroups (`/<namespace>/<id>`)
belong to this run only. The busybox image is built by the tests and imported
with `ctr image import`. Each test checks afterwards that containerd and ocirt
left no task, container, state dir or cgroup behind; the module checks that no
shim or mount is left once containerd is stopped.
"""
import json
import os
import subprocess
import time
import uuid

import pytest

from conftest import OCIRT
from consolesocket import PtyProcess
from callers.containerd_daemon import running


@pytest.fixture(scope="module")
def ctrd(busybox_image):
    with running() as daemon:
        daemon.ctr("image", "import", busybox_image.tar, check=True)
        daemon.image = busybox_image.name
        yield daemon


@pytest.fixture(autouse=True)
def nothing_left_behind(ctrd):
    """After each test and its clean-up (all done through ctr, hence ocirt):
    no task, no container, no container snapshot, no ocirt state dir, no
    container cgroup, no mount."""
    yield
    assert ctrd.ctr("task", "ls", "-q").stdout.split() == []
    assert ctrd.ctr("container", "ls", "-q").stdout.split() == []
    snapshots = ctrd.ctr("snapshot", "ls", check=True).stdout.splitlines()[1:]
    assert [line for line in snapshots if line.split()[-1] != "Committed"] == []
    assert ctrd.leftovers() == []


@pytest.fixture
def cid(ctrd):
    """A fresh container id; whatever the test leaves is removed through ctr."""
    container_id = f"ctr-{uuid.uuid4().hex[:8]}"
    yield container_id
    if container_id in ctrd.ctr("task", "ls", "-q").stdout.split():
        ctrd.ctr("task", "delete", "--force", container_id)
    if container_id in ctrd.ctr("container", "ls", "-q").stdout.split():
        ctrd.ctr("container", "rm", container_id)


def runtime_root(ctrd):
    return f"/run/containerd/runc/{ctrd.namespace}"


IMAGE = object()  # stands for the image in run()'s arguments


def run(ctrd, *args, **kw):
    """`ctr run --runc-binary OCIRT <args...>`: args are options, the image
    (as IMAGE), the id and the command."""
    args = [ctrd.image if a is IMAGE else a for a in args]
    return ctrd.ctr("run", "--runc-binary", OCIRT, *args, **kw)


def tasks(ctrd):
    """{id: (pid, STATUS)} from `ctr task ls`."""
    lines = ctrd.ctr("task", "ls", check=True).stdout.splitlines()
    assert lines[0].split() == ["TASK", "PID", "STATUS"]
    return {task: (int(pid), status) for task, pid, status in (line.split() for line in lines[1:])}


def wait_for_status(ctrd, cid, status, timeout=10):
    deadline = time.monotonic() + timeout
    while tasks(ctrd).get(cid, (0, None))[1] != status:
        assert time.monotonic() < deadline, f"{cid} not {status}: {tasks(ctrd)}"
        time.sleep(0.1)


def ocirt_state(ctrd, cid):
    result = subprocess.run([OCIRT, "--root", runtime_root(ctrd), "state", cid],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def cgroup_dir(ctrd, cid, controller="pids"):
    return f"/sys/fs/cgroup/{controller}/{ctrd.namespace}/{cid}"


def start_detached(ctrd, cid, *command):
    """`ctr run -d`, then check that ocirt (not runc) runs it: ocirt's state
    under the shim's --root names the same init pid as `ctr task ls`."""
    run(ctrd, "-d", IMAGE, cid, *command, check=True)
    pid, status = tasks(ctrd)[cid]
    assert status == "RUNNING"
    state = ocirt_state(ctrd, cid)
    assert (state["status"], state["pid"]) == ("running", pid)
    with open(os.path.join(runtime_root(ctrd), cid, "state.json")) as f:
        assert "pid_start_time" in json.load(f)  # ocirt's record (runc's has other keys)
    return pid


# -- ctr run --rm ---------------------------------------------------------------

@pytest.mark.parametrize("code", [0, 7])
def test_run_rm_shows_output_and_passes_exit_code(ctrd, cid, code):
    result = run(ctrd, "--rm", IMAGE, cid, "sh", "-c", f"echo hello; id -u; exit {code}")
    assert result.returncode == code, result.stderr
    assert result.stdout == "hello\n0\n"
    assert result.stderr == ""


# ctr gives the terminal its size only after the task has started (config.json
# and process.json carry no consoleSize), so a fast typist can run before it
# is set; this happens under runc too. Wait for it as a user would.
WAIT_FOR_SIZE = 'until s=$(stty size 2>/dev/null) && [ -n "$s" ] && [ "$s" != "0 0" ]; do sleep 0.1; done; '


def test_run_rm_tty_is_interactive(ctrd, cid):
    term = PtyProcess(ctrd.ctr_argv("run", "--rm", "-t", "--runc-binary", OCIRT, ctrd.image, cid, "sh"),
                      rows=30, cols=100)
    try:
        term.read_until(b"# ")
        term.type(WAIT_FOR_SIZE + "tty; stty size; echo $((6*7))\n")
        out = term.read_until(b"\n42\r")  # (ctr's own terminal adds a second \r)
        assert "\n/dev/pts/0\n30 100\n42\n" in out
        term.type("exit 5\n")
        assert term.wait(30) == 5
    finally:
        term.close()


def test_run_with_missing_binary_shows_ocirt_error(ctrd, cid):
    result = run(ctrd, "--rm", IMAGE, cid, "/nonexistent")
    assert result.returncode != 0
    # ocirt's JSON log line, read by the shim, is what ctr prints
    assert "OCI runtime create failed" in result.stderr
    assert "/nonexistent" in result.stderr and "no such file or directory" in result.stderr
    assert "runc" not in result.stderr  # runc's says "runc create failed: unable to start ..."
    assert not os.path.exists(os.path.join(runtime_root(ctrd), cid))


def test_run_with_read_only_bind_mount(ctrd, cid, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "greeting").write_text("hello from the host\n")
    result = run(ctrd, "--rm", "--mount", f"type=bind,src={shared},dst=/host,options=rbind:ro",
                 IMAGE, cid, "sh", "-c", "cat /host/greeting; touch /host/new")
    assert result.returncode == 1
    assert result.stdout == "hello from the host\n"
    assert "Read-only file system" in result.stderr
    assert sorted(os.listdir(shared)) == ["greeting"]


# -- ctr run -d, ctr task exec -----------------------------------------------------

def test_exec_passes_output_and_exit_code(ctrd, cid):
    start_detached(ctrd, cid, "sleep", "1000")
    result = ctrd.ctr("task", "exec", "--exec-id", "e1", cid, "sh", "-c", "echo out; echo err >&2; exit 5")
    assert (result.returncode, result.stdout, result.stderr) == (5, "out\n", "err\n")
    result = ctrd.ctr("task", "exec", "--exec-id", "e2", cid, "true")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_exec_with_user_and_cwd(ctrd, cid):
    start_detached(ctrd, cid, "sleep", "1000")
    result = ctrd.ctr("task", "exec", "--exec-id", "e1", "--user", "65534", "--cwd", "/tmp",
                      cid, "sh", "-c", "id -u; id -g; pwd")
    assert (result.returncode, result.stdout) == (0, "65534\n65534\n/tmp\n"), result.stderr


def test_exec_tty_is_interactive(ctrd, cid):
    start_detached(ctrd, cid, "sleep", "1000")
    term = PtyProcess(ctrd.ctr_argv("task", "exec", "-t", "--exec-id", "e1", cid, "sh"), rows=20, cols=70)
    try:
        term.read_until(b"# ")
        term.type(WAIT_FOR_SIZE + "tty; stty size; exit 4\n")
        out = term.read_until(b"20 70\r")
        assert "\n/dev/pts/" in out
        assert term.wait(30) == 4
    finally:
        term.close()


def test_exec_of_missing_binary_shows_ocirt_error(ctrd, cid):
    start_detached(ctrd, cid, "sleep", "1000")
    result = ctrd.ctr("task", "exec", "--exec-id", "e1", cid, "/nonexistent")
    assert result.returncode != 0
    assert "OCI runtime exec failed" in result.stderr
    assert "/nonexistent" in result.stderr and "no such file or directory" in result.stderr
    assert tasks(ctrd)[cid][1] == "RUNNING"


def test_task_ps_lists_the_container_processes(ctrd, cid):
    pid = start_detached(ctrd, cid, "sh", "-c", "sleep 1000 & sleep 999 & wait")
    deadline = time.monotonic() + 10
    while True:
        lines = ctrd.ctr("task", "ps", cid, check=True).stdout.splitlines()
        listed = sorted(int(line.split()[0]) for line in lines[1:])
        if len(listed) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert lines[0].split() == ["PID", "INFO"]
    assert pid in listed and len(listed) == 3  # sh, and its two sleeps
    with open(os.path.join(cgroup_dir(ctrd, cid), "cgroup.procs")) as f:
        assert listed == sorted(int(p) for p in f.read().split())


def test_pause_and_resume(ctrd, cid):
    start_detached(ctrd, cid, "sleep", "1000")
    assert ctrd.ctr("task", "pause", cid).returncode == 0
    assert tasks(ctrd)[cid][1] == "PAUSED"
    assert ocirt_state(ctrd, cid)["status"] == "paused"
    with open(os.path.join(cgroup_dir(ctrd, cid, "freezer"), "freezer.state")) as f:
        assert f.read().strip() == "FROZEN"
    assert ctrd.ctr("task", "resume", cid).returncode == 0
    assert tasks(ctrd)[cid][1] == "RUNNING"
    result = ctrd.ctr("task", "exec", "--exec-id", "e1", cid, "echo", "awake")
    assert (result.returncode, result.stdout) == (0, "awake\n")


# -- stopping ---------------------------------------------------------------------

def test_kill_sends_sigterm(ctrd, cid, tmp_path):
    log = tmp_path / "output.log"
    run(ctrd, "-d", "--log-uri", f"file://{log}", IMAGE, cid,
        "sh", "-c", 'trap "echo got TERM; exit 143" TERM; echo started; while :; do sleep 0.1; done',
        check=True)
    assert ocirt_state(ctrd, cid)["status"] == "running"
    deadline = time.monotonic() + 10
    while "started" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "the container did not start"
        time.sleep(0.05)
    assert ctrd.ctr("task", "kill", cid).returncode == 0
    wait_for_status(ctrd, cid, "STOPPED")
    assert log.read_text() == "started\ngot TERM\n"
    result = ctrd.ctr("task", "delete", cid)
    assert result.returncode == 0
    assert "exit code 143" in result.stderr


def test_kill_all_with_sigkill(ctrd, cid):
    start_detached(ctrd, cid, "sh", "-c", "sleep 1000 & sleep 999 & wait")
    result = ctrd.ctr("task", "kill", "--all", "--signal", "SIGKILL", cid)
    assert result.returncode == 0, result.stderr
    wait_for_status(ctrd, cid, "STOPPED")
    with open(os.path.join(cgroup_dir(ctrd, cid), "cgroup.procs")) as f:
        assert f.read() == ""
    result = ctrd.ctr("task", "delete", cid)
    assert result.returncode == 0
    assert "exit code 137" in result.stderr


def test_force_delete_of_running_task(ctrd, cid):
    pid = start_detached(ctrd, cid, "sleep", "1000")
    result = ctrd.ctr("task", "delete", "--force", cid)
    assert result.returncode == 0, result.stderr
    assert cid not in tasks(ctrd)
    assert not os.path.exists(os.path.join(runtime_root(ctrd), cid))
    assert not os.path.exists(cgroup_dir(ctrd, cid))
    assert not os.path.exists(f"/proc/{pid}")
