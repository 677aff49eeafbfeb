"""ocirt under podman 4.3: `podman --runtime OCIRT ...` through conmon, as a
user of podman would run it.

A private podman (callers/podman_env.py) serves the module: containers.conf
and storage.conf of its own (cgroupfs, file events, no network), storage and
state under a temporary directory. The busybox image is built by the tests and
brought in with `podman load`. Each test checks afterwards that its containers
and pods are gone and left no ocirt state dir, cgroup, conmon or container
process; the module checks that no mount, cgroup or directory podman made is
left once everything is reset.
"""
import json
import os
import subprocess
import time

import pytest

from conftest import OCIRT
from consolesocket import PtyProcess
from callers.podman_env import OCIRT_STATE_DIR, private_podman


@pytest.fixture(scope="module")
def podman(busybox_image):
    with private_podman(OCIRT) as env:
        env("load", "-i", busybox_image.tar)
        env.image = busybox_image.name
        yield env


@pytest.fixture(autouse=True)
def nothing_left_behind(podman):
    """Each test starts from and ends with no container and no pod."""
    yield
    podman.remove_all()
    assert podman("ps", "-a", "-q").stdout.split() == []
    assert podman("pod", "ps", "-q").stdout.split() == []
    assert podman.leftovers() == []


def ocirt_state(container_id):
    """`ocirt state ID` under ocirt's default root, which podman uses."""
    result = subprocess.run([OCIRT, "state", container_id], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def run_detached(podman, *args):
    """`podman run -d ARGS...`, then check that ocirt (not runc) runs it: podman
    records OCIRT as the runtime, conmon was started with `-r OCIRT`, and
    ocirt's own state names the same init pid as podman's. Returns the id."""
    container_id = podman("run", "-d", *args).stdout.strip()
    assert podman.inspect(container_id, "{{.OCIRuntime}}") == OCIRT
    assert podman.inspect(container_id, "{{.State.Status}}") == "running"
    pid = int(podman.inspect(container_id, "{{.State.Pid}}"))
    conmon = int(podman.inspect(container_id, "{{.State.ConmonPid}}"))
    with open(f"/proc/{conmon}/cmdline", "rb") as f:
        argv = f.read().decode().split("\0")
    assert argv[argv.index("-r") + 1] == OCIRT
    state = ocirt_state(container_id)
    assert (state["status"], state["pid"]) == ("running", pid)
    with open(os.path.join(OCIRT_STATE_DIR, container_id, "state.json")) as f:
        assert "pid_start_time" in json.load(f)  # ocirt's record (runc's has other keys)
    return container_id


def host_namespaces(pid):
    """{namespace: "net:[4026531840]", ...} of a process, seen from the host."""
    return {ns: os.readlink(f"/proc/{pid}/ns/{ns}") for ns in ("net", "ipc", "uts", "mnt", "pid")}


def wait_for(predicate, what, timeout=10):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


# podman takes ocirt's message from the JSON line ocirt wrote to `--log`
# (from stderr it would read "ocirt: exec: ...") and maps "no such file or
# directory" to exit code 127.
MISSING_BINARY_ERROR = (
    f'Error: {OCIRT}: exec: "/nonexistent-binary": stat /nonexistent-binary: '
    "no such file or directory: OCI runtime attempted to invoke a command that was not found\n")


def ps_status(podman, name):
    """The STATUS column of `podman ps -a` for one container."""
    lines = podman("ps", "-a", "--filter", f"name=^{name}$", "--format", "{{.Status}}").stdout
    return lines.strip()


# -- podman info ------------------------------------------------------------------

def test_info_shows_ocirt(podman):
    info = json.loads(podman("info", "--format", "json").stdout)
    runtime = info["host"]["ociRuntime"]
    assert runtime["path"] == OCIRT
    version = subprocess.run([OCIRT, "--version"], capture_output=True, text=True).stdout
    assert version.startswith("ocirt version ")
    assert runtime["version"] == version.strip()            # shown verbatim
    assert info["host"]["cgroupManager"] == "cgroupfs"
    assert info["host"]["eventLogger"] == "file"
    assert info["store"]["graphRoot"].startswith(podman.base)


# -- podman run --rm --------------------------------------------------------------

@pytest.mark.parametrize("code", [0, 7])
def test_run_rm_shows_output_and_passes_exit_code(podman, code):
    result = podman("run", "--rm", "--name", f"rm{code}", podman.image,
                    "sh", "-c", f"echo hello; id -u; exit {code}", check=False)
    assert (result.returncode, result.stdout) == (code, "hello\n0\n"), result.stderr
    assert result.stderr == ""
    assert ps_status(podman, f"rm{code}") == ""          # --rm: gone


def test_run_with_missing_binary_exits_127_with_ocirt_error(podman):
    result = podman("run", "--rm", "--name", "missing", podman.image, "/nonexistent-binary",
                    check=False)
    assert result.returncode == 127
    assert result.stderr == MISSING_BINARY_ERROR
    assert ps_status(podman, "missing") == ""


def test_run_rm_tty_is_interactive(podman):
    term = PtyProcess(podman.argv("run", "--rm", "-it", podman.image, "sh"), rows=30, cols=100,
                      env=podman.env)
    try:
        term.read_until(b"# ")
        term.type("tty; echo $((6*7))\n")
        out = term.read_until(b"42\r\n")
        assert "/dev/pts/0\n42\n" in out
        term.type("exit 6\n")
        assert term.wait(30) == 6
    finally:
        term.close()


def test_run_preserve_fds_passes_an_open_pipe(podman):
    read_end, write_end = os.pipe()
    os.write(write_end, b"handed over as fd 3\n")
    os.close(write_end)
    try:
        # bash puts our pipe on podman's fd 3, as a user's `3<&N` would
        wrapper = ["bash", "-c", f'exec "$@" 3<&{read_end}', "bash"]
        result = subprocess.run(
            wrapper + podman.argv("run", "--rm", "--preserve-fds", "1", podman.image,
                                  "sh", "-c", "cat <&3; ls /proc/self/fd"),
            env=podman.env, pass_fds=[read_end], stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=60)
    finally:
        os.close(read_end)
    assert result.returncode == 0, result.stderr
    # 0-2, the pipe as 3, and ls's own directory fd: nothing else leaked in
    assert result.stdout.split("\n") == ["handed over as fd 3", "0", "1", "2", "3", "4", ""]


def test_run_interactive_stdin_reaches_the_container(podman):
    result = podman("run", "--rm", "-i", podman.image, "sh", "-c", "tr a-z A-Z; exit 2",
                    input="hello\n", stdin=None, check=False)
    assert (result.returncode, result.stdout) == (2, "HELLO\n"), result.stderr


def test_create_then_start_attached(podman):
    podman("create", "--name", "later", podman.image, "sh", "-c", "echo attached; exit 9")
    assert podman.inspect("later", "{{.State.Status}}") == "created"
    result = podman("start", "--attach", "later", check=False)
    assert (result.returncode, result.stdout) == (9, "attached\n"), result.stderr
    assert podman.inspect("later", "{{.State.Status}} {{.State.ExitCode}}") == "exited 9"


# -- podman run -d, exec ----------------------------------------------------------

def test_run_detached_then_logs(podman):
    cid = run_detached(podman, "--name", "detached", podman.image,
                       "sh", "-c", "echo started; exec sleep 1000")
    wait_for(lambda: podman("logs", cid).stdout == "started\n", "the container's output")
    assert ps_status(podman, "detached").startswith("Up ")
    # netns = "none": a network namespace of its own with a loopback only
    devices = podman("exec", cid, "cat", "/proc/net/dev").stdout.splitlines()[2:]
    assert [line.split(":")[0].strip() for line in devices] == ["lo"]
    assert host_namespaces(int(podman.inspect(cid, "{{.State.Pid}}")))["net"] != \
        os.readlink("/proc/self/ns/net")
    # podman puts the container in /libpod_parent/libpod-<id>; ocirt made it
    pid = int(podman.inspect(cid, "{{.State.Pid}}"))
    with open(f"/proc/{pid}/cgroup") as f:
        assert f"/libpod_parent/libpod-{cid}" in f.read()


def test_exec_passes_output_and_exit_code(podman):
    cid = run_detached(podman, podman.image, "sleep", "1000")
    result = podman("exec", cid, "sh", "-c", "echo out; echo err >&2; exit 5", check=False)
    assert (result.returncode, result.stdout, result.stderr) == (5, "out\n", "err\n")
    result = podman("exec", "--user", "65534", "--workdir", "/tmp", "--env", "FOO=bar", cid,
                    "sh", "-c", "id -u; pwd; echo $FOO")
    assert result.stdout == "65534\n/tmp\nbar\n"


def test_exec_of_missing_binary_exits_127(podman):
    cid = run_detached(podman, podman.image, "sleep", "1000")
    result = podman("exec", cid, "/nonexistent-binary", check=False)
    assert result.returncode == 127
    assert result.stderr == MISSING_BINARY_ERROR
    assert podman.inspect(cid, "{{.State.Status}}") == "running"


def test_exec_it_runs_on_a_terminal(podman):
    cid = run_detached(podman, podman.image, "sleep", "1000")
    script = "tty; test -t 0 && echo stdin-is-a-tty; exit 3"
    term = PtyProcess(podman.argv("exec", "-it", cid, "sh", "-c", script), env=podman.env)
    try:
        out = term.read_until(b"stdin-is-a-tty\r\n")
        assert "/dev/pts/0\nstdin-is-a-tty\n" in out
        assert term.wait(30) == 3
    finally:
        term.close()


# -- pause, stop, rm ------------------------------------------------------------------

def test_pause_and_unpause(podman):
    cid = run_detached(podman, "--name", "frozen", podman.image, "sleep", "1000")
    podman("pause", cid)
    assert ps_status(podman, "frozen") == "Paused"
    assert podman.inspect(cid, "{{.State.Status}} {{.State.Paused}}") == "paused true"
    assert ocirt_state(cid)["status"] == "paused"
    podman("unpause", cid)
    assert ps_status(podman, "frozen").startswith("Up ")
    assert podman.inspect(cid, "{{.State.Status}} {{.State.Paused}}") == "running false"
    assert ocirt_state(cid)["status"] == "running"
    assert podman("exec", cid, "echo", "thawed").stdout == "thawed\n"


def test_stop_kills_a_process_that_ignores_term_after_the_timeout(podman):
    cid = run_detached(podman, "--name", "stubborn", podman.image,
                       "sh", "-c", 'trap "" TERM; echo ready; while :; do sleep 0.2; done')
    wait_for(lambda: podman("logs", cid).stdout == "ready\n", "the TERM trap")
    started = time.monotonic()
    result = podman("stop", "--time", "2", cid)
    took = time.monotonic() - started
    assert result.stdout.strip() == cid
    assert "resorting to SIGKILL" in result.stderr
    assert 2 <= took < 10, took
    assert podman.inspect(cid, "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"
    assert ps_status(podman, "stubborn").startswith("Exited (137)")
    # podman's clean-up ran `ocirt delete --force`
    wait_for(lambda: not os.path.exists(os.path.join(OCIRT_STATE_DIR, cid)), "ocirt delete")


def test_stop_of_a_process_that_handles_term_is_quick(podman):
    cid = run_detached(podman, "--name", "polite", podman.image,
                       "sh", "-c", "trap 'exit 3' TERM; while :; do sleep 0.2; done")
    started = time.monotonic()
    podman("stop", "--time", "30", cid)
    assert time.monotonic() - started < 10
    assert podman.inspect(cid, "{{.State.Status}} {{.State.ExitCode}}") == "exited 3"


def test_rm_force_removes_a_running_container(podman):
    cid = run_detached(podman, "--name", "doomed", podman.image, "sleep", "1000")
    pid = int(podman.inspect(cid, "{{.State.Pid}}"))
    assert podman("rm", "--force", "--time", "1", cid).stdout.strip() == cid
    assert ps_status(podman, "doomed") == ""
    assert podman("ps", "-a", "-q").stdout == ""
    assert not os.path.exists(os.path.join(OCIRT_STATE_DIR, cid))
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), "the container process to go")


def test_kill_and_start_again(podman):
    cid = run_detached(podman, "--name", "phoenix", podman.image, "sleep", "1000")
    podman("kill", "--signal", "KILL", cid)
    wait_for(lambda: podman.inspect(cid, "{{.State.Status}}") == "exited", "the container to exit")
    assert podman.inspect(cid, "{{.State.ExitCode}}") == "137"
    podman("start", cid)
    assert podman.inspect(cid, "{{.State.Status}}") == "running"
    assert ocirt_state(cid)["pid"] == int(podman.inspect(cid, "{{.State.Pid}}"))


def test_restart_replaces_the_process(podman):
    cid = run_detached(podman, "--name", "again", podman.image,
                       "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done")
    first = int(podman.inspect(cid, "{{.State.Pid}}"))
    podman("restart", "--time", "5", cid)
    second = int(podman.inspect(cid, "{{.State.Pid}}"))
    assert second != first
    assert (ocirt_state(cid)["status"], ocirt_state(cid)["pid"]) == ("running", second)


def test_update_changes_the_cgroup_limits(podman):
    cid = run_detached(podman, podman.image, "sleep", "1000")
    podman("update", "--memory", "64m", "--cpus", "0.5", cid)   # ocirt update --resources=FILE
    cgroup = f"/sys/fs/cgroup/%s/libpod_parent/libpod-{cid}/%s"
    with open(cgroup % ("memory", "memory.limit_in_bytes")) as f:
        assert int(f.read()) == 64 * 1024 * 1024
    with open(cgroup % ("cpu", "cpu.cfs_quota_us")) as f, \
            open(cgroup % ("cpu", "cpu.cfs_period_us")) as g:
        assert (int(f.read()), int(g.read())) == (50000, 100000)


def test_stop_with_host_pid_namespace_kills_all(podman):
    # no PID namespace of its own: podman stops it with `ocirt kill --all ID 15`
    cid = run_detached(podman, "--pid", "host", podman.image,
                       "sh", "-c", "sleep 1000 & sleep 999 & wait")
    pid = int(podman.inspect(cid, "{{.State.Pid}}"))
    assert podman("exec", cid, "sh", "-c", "test -d /proc/1 && echo host-pids").stdout \
        == "host-pids\n"

    def procs():
        with open(f"/sys/fs/cgroup/pids/libpod_parent/libpod-{cid}/cgroup.procs") as f:
            return [int(p) for p in f.read().split()]
    wait_for(lambda: len(procs()) == 3, "sh and its two sleeps")
    assert pid in procs()
    started = procs()
    podman("stop", "--time", "5", cid)
    assert podman.inspect(cid, "{{.State.Status}} {{.State.ExitCode}}") == "exited 143"
    wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in started), "every process to go")


# -- pods -----------------------------------------------------------------------------

def test_pod_member_joins_the_infra_namespaces(podman):
    podman("pod", "create", "--name", "duo")
    member = run_detached(podman, "--pod", "duo", "--name", "member", podman.image, "sleep", "1000")
    infra = podman("pod", "inspect", "--format", "{{.InfraContainerID}}", "duo").stdout.strip()
    assert podman.inspect(infra, "{{.OCIRuntime}}") == OCIRT
    assert ocirt_state(infra)["status"] == "running"
    assert podman("pod", "ps", "--format", "{{.Name}} {{.Status}} {{.NumberOfContainers}}"
                  ).stdout.split() == ["duo", "Running", "2"]

    infra_ns = host_namespaces(int(podman.inspect(infra, "{{.State.Pid}}")))
    script = "for n in net ipc uts mnt pid; do readlink /proc/self/ns/$n; done"
    inside = podman("exec", member, "sh", "-c", script).stdout.split()
    member_ns = dict(zip(("net", "ipc", "uts", "mnt", "pid"), inside))
    for shared in ("net", "ipc", "uts"):
        assert member_ns[shared] == infra_ns[shared], shared
    for own in ("mnt", "pid"):
        assert member_ns[own] != infra_ns[own], own
    # the pod's hostname, seen by the member through the shared uts namespace
    assert podman("exec", member, "hostname").stdout.strip() == "duo"

    podman("pod", "stop", "--time", "1", "duo")
    assert podman("pod", "ps", "--format", "{{.Status}}").stdout.split() == ["Exited"]
    podman("pod", "rm", "duo")
    assert podman("ps", "-a", "-q").stdout == ""


# -- user namespaces ------------------------------------------------------------------

def test_user_namespace_maps_root_to_an_unprivileged_host_uid(podman):
    cid = run_detached(podman, "--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536",
                       podman.image, "sleep", "1000")
    result = podman("exec", cid, "sh", "-c", "id -u; id -g; cat /proc/self/uid_map")
    assert result.stdout.split() == ["0", "0", "0", "100000", "65536"]
    pid = int(podman.inspect(cid, "{{.State.Pid}}"))
    with open(f"/proc/{pid}/status") as f:
        ids = {line.split(":")[0]: line.split()[1:] for line in f if line[:4] in ("Uid:", "Gid:")}
    assert ids == {"Uid": ["100000"] * 4, "Gid": ["100000"] * 4}
    # a file the container writes is owned by its root: uid 100000 on the host
    podman("exec", cid, "touch", "/made-inside")
    merged = podman.inspect(cid, "{{.GraphDriver.Data.MergedDir}}")
    assert os.stat(os.path.join(merged, "made-inside")).st_uid == 100000
