"""`ocirt exec`: a process joins a running container (namespaces, cgroup,
mounts), takes the process spec (user, capabilities, env, cwd, rlimits,
terminal), and hands its exit status to whoever waits for it: ocirt in the
foreground, or the caller's subreaper with --detach (as containerd's shim and
conmon call it; their --process files are the fixtures used below)."""
import json
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from conftest import OCIRT, new_id
from consolesocket import ConsoleSocket, PtyProcess, read_to_end, read_until

from ocirt.capabilities import CAPABILITIES

FIXTURES = "/work/shared/fixtures"
BUSYBOX_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]  # bundles/busybox/config.json
EXEC_FAILED = 255


# ---------------------------------------------------------------- helpers

def mask(names):
    m = 0
    for name in names:
        m |= 1 << CAPABILITIES[name]
    return m


def status_fields(text):
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key] = value.strip()
    return fields


def cap_sets(fields):
    return {key: int(fields[key], 16) for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}


def wait_exit(pid, timeout=10):
    """Reap an exec'd process re-parented to us (the test process is a subreaper)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not exit")


def process_state(pid):
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1])  # state letter, parent pid


@pytest.fixture
def container(ocirt, make_bundle, tmp_path):
    """A running busybox container (`sleep 1000`): .id, .pid (host pid of its init)."""
    cid = new_id()
    pid_file = tmp_path / "init.pid"
    ocirt("run", "-d", "--bundle", make_bundle(["sleep", "1000"]), "--pid-file", pid_file, cid)
    yield SimpleNamespace(id=cid, pid=int(pid_file.read_text()))
    ocirt("delete", "--force", cid, check=False)


def exec_fg(ocirt, container, *command, options=(), **kw):
    """Foreground `ocirt exec [options] ID command...` (waits; exit code passed through)."""
    return ocirt("exec", *options, container.id, *command, check=False, **kw)


class Detached:
    """`ocirt exec ... --detach --pid-file F` as the shim/conmon run it: stdout
    and stderr are pipes we hold, the process is reaped by us afterwards."""

    def __init__(self, ocirt, argv, pid_file, env=None, pass_fds=(), wrapper=None):
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        full = [OCIRT, "--root", ocirt.root, "exec", *map(str, argv)]
        if wrapper:
            full = wrapper + full
        started = time.monotonic()
        proc = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=out_w, stderr=err_w, env=env,
                                pass_fds=pass_fds)
        self.returncode = proc.wait(timeout=30)
        self.elapsed = time.monotonic() - started
        os.close(out_w)
        os.close(err_w)
        self.out_r, self.err_r = out_r, err_r
        self.pid = int(pid_file.read_text()) if self.returncode == 0 else None
        self.raw_pid = pid_file.read_text() if self.returncode == 0 else None

    def finish(self):
        """(exit code, stdout, stderr) once the process has exited."""
        try:
            out = read_to_end(self.out_r).decode()
            err = read_to_end(self.err_r).decode()
            code = wait_exit(self.pid) if self.pid else None
        finally:
            os.close(self.out_r)
            os.close(self.err_r)
        return code, out, err


def process_file(tmp_path, name, edit):
    """A copy of fixture `name` (a caller's --process file) changed by `edit`."""
    with open(os.path.join(FIXTURES, name)) as f:
        proc = json.load(f)
    edit(proc)
    path = tmp_path / f"{name}.edited"
    path.write_text(json.dumps(proc))
    return path, proc


def with_fd_at(numbers):
    """argv prefix that puts the fds passed as argv[i] at `numbers` and execs the rest."""
    code = ("import fcntl, os, sys\n"
            "n = int(sys.argv[1]); fds = [int(x) for x in sys.argv[2:2 + n]]\n"
            "high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]\n"
            "for fd in fds: os.close(fd)\n"
            f"for src, dst in zip(high, {list(numbers)!r}):\n"
            "    os.dup2(src, dst); os.close(src)\n"
            "if os.environ.get('LISTEN_PID') == 'self':\n"
            "    os.environ['LISTEN_PID'] = str(os.getpid())\n"
            "os.execv(sys.argv[2 + n], sys.argv[2 + n:])\n")
    return lambda fds: [sys.executable, "-c", code, str(len(fds)), *map(str, fds)]


# ---------------------------------------------------------------- joining the container

def test_exec_joins_the_containers_namespaces(ocirt, container):
    types = ["pid", "mnt", "net", "ipc", "uts", "cgroup", "user", "time"]
    out = exec_fg(ocirt, container, "sh", "-c",
                  f"for n in {' '.join(types)}; do readlink /proc/self/ns/$n; done; "
                  "tr '\\0' ' ' < /proc/1/cmdline; echo; hostname; echo $$")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:len(types)] == [os.readlink(f"/proc/{container.pid}/ns/{t}") for t in types]
    assert lines[len(types)] == "sleep 1000 "  # pid 1 is the container's init
    assert lines[len(types) + 1] == "ocirt"  # the container's hostname
    assert int(lines[len(types) + 2]) > 1  # a pid of the container's pid namespace


def test_exec_sees_the_containers_mounts(ocirt, container):
    out = exec_fg(ocirt, container, "sh", "-c", "cat /proc/self/mountinfo; echo ---; cat /proc/1/mountinfo")
    assert out.returncode == 0, out.stderr
    mine, inits = out.stdout.split("---\n")
    assert mine == inits
    # From the host the same mounts (ids, parents, mount points); only the root
    # field of cgroup mounts differs, being shown relative to the reader's cgroup namespace.
    with open(f"/proc/{container.pid}/mountinfo") as f:
        from_host = f.read()

    def points(text):
        return [line.split()[:2] + line.split()[4:5] for line in text.splitlines()]

    assert points(mine) == points(from_host)
    mount_points = [line.split()[4] for line in mine.splitlines()]
    assert mount_points[0] == "/" and "/proc" in mount_points and "/dev/pts" in mount_points


def test_exec_joins_the_containers_cgroup(ocirt, container, tmp_path):
    pid_file = tmp_path / "exec.pid"
    d = Detached(ocirt, ["--detach", "--pid-file", pid_file, container.id, "sleep", "1000"], pid_file)
    assert d.returncode == 0
    try:
        with open(f"/proc/{d.pid}/cgroup") as f:
            mine = f.read()
        with open(f"/proc/{container.pid}/cgroup") as f:
            assert mine == f.read()
        assert container.id in mine
        # and it is counted there: ps lists it
        ps = ocirt("ps", "--format", "json", container.id)
        assert sorted(json.loads(ps.stdout)) == sorted([container.pid, d.pid])
        assert ps.stderr == ""
    finally:
        os.kill(d.pid, signal.SIGKILL)
    code, _, _ = d.finish()
    assert code == -signal.SIGKILL


# ---------------------------------------------------------------- the process spec

def test_exec_user_and_additional_gids(ocirt, container):
    out = exec_fg(ocirt, container, "cat", "/proc/self/status",
                  options=["--user", "1000:1000", "--additional-gids", "10", "-g", "20"])
    assert out.returncode == 0, out.stderr
    fields = status_fields(out.stdout)
    assert fields["Uid"].split() == ["1000"] * 4
    assert fields["Gid"].split() == ["1000"] * 4
    assert fields["Groups"].split() == ["10", "20"]


def test_exec_user_without_group_is_gid_0(ocirt, container):
    out = exec_fg(ocirt, container, "cat", "/proc/self/status", options=["-u", "65534"])
    fields = status_fields(out.stdout)
    assert fields["Uid"].split() == ["65534"] * 4
    assert fields["Gid"].split() == ["0"] * 4


def test_exec_defaults_come_from_the_bundles_process(ocirt, container):
    """Without --process, exec starts from the container's own process (as runc):
    its env, capabilities, rlimits and noNewPrivileges."""
    out = exec_fg(ocirt, container, "sh", "-c", "echo TERM=$TERM; cat /proc/self/status; cat /proc/self/limits")
    assert out.returncode == 0, out.stderr
    assert "TERM=xterm" in out.stdout
    fields = status_fields(out.stdout)
    sets = cap_sets(fields)
    assert sets["CapEff"] == sets["CapPrm"] == sets["CapBnd"] == mask(BUSYBOX_CAPS)
    assert sets["CapInh"] == sets["CapAmb"] == 0
    assert fields["NoNewPrivs"] == "1"
    assert any(line.startswith("Max open files") and line.split()[3:5] == ["1024", "1024"]
               for line in out.stdout.splitlines())


def test_exec_cap_adds_to_the_sets(ocirt, container):
    out = exec_fg(ocirt, container, "cat", "/proc/self/status",
                  options=["--cap", "CAP_SYS_ADMIN", "-c", "CAP_NET_RAW"])
    assert out.returncode == 0, out.stderr
    sets = cap_sets(status_fields(out.stdout))
    expected = mask(BUSYBOX_CAPS + ["CAP_SYS_ADMIN", "CAP_NET_RAW"])
    assert sets["CapEff"] == sets["CapPrm"] == sets["CapBnd"] == expected
    assert sets["CapInh"] == sets["CapAmb"] == 0


def test_exec_cap_also_extends_ambient_when_the_process_has_one(ocirt, make_bundle):
    """When the bundle's process has inheritable and ambient sets, --cap goes
    into them too (runc adds to ambient only; ocirt adds to inheritable as well,
    without which the kernel refuses the ambient raise). A non-root user shows it."""
    def edit(cfg):
        cfg["process"]["capabilities"].update(inheritable=["CAP_KILL"], ambient=["CAP_KILL"])

    cid = new_id()
    ocirt("run", "-d", "--bundle", make_bundle(["sleep", "1000"], edit=edit), cid)
    try:
        out = ocirt("exec", "--user", "1000:1000", "--cap", "CAP_CHOWN", cid, "cat", "/proc/self/status")
        sets = cap_sets(status_fields(out.stdout))
        assert sets["CapAmb"] == sets["CapInh"] == sets["CapEff"] == mask(["CAP_KILL", "CAP_CHOWN"])
        assert sets["CapBnd"] == mask(BUSYBOX_CAPS + ["CAP_CHOWN"])
    finally:
        ocirt("delete", "--force", cid)


def test_exec_unknown_cap_is_refused(ocirt, container):
    out = exec_fg(ocirt, container, "true", options=["--cap", "CAP_NOPE"])
    assert out.returncode == EXEC_FAILED
    assert "CAP_NOPE" in out.stderr


def test_exec_process_file_exact_capability_sets(ocirt, container, tmp_path):
    """Every set exactly as given. A non-root user, so that execve does not
    widen them (root gets its bounding set); ambient survives the exec."""
    proc = {
        "args": ["cat", "/proc/self/status"], "cwd": "/", "env": ["PATH=/bin"],
        "user": {"uid": 1000, "gid": 1000},
        "capabilities": {
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETUID"],
            "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
            "effective": ["CAP_CHOWN"],
            "inheritable": ["CAP_CHOWN", "CAP_KILL"],
            "ambient": ["CAP_CHOWN"],
        },
    }
    path = tmp_path / "process.json"
    path.write_text(json.dumps(proc))
    out = ocirt("exec", "--process", path, container.id, check=False)
    assert out.returncode == 0, out.stderr
    fields = status_fields(out.stdout)
    assert cap_sets(fields) == {
        "CapBnd": mask(["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETUID"]),
        "CapInh": mask(["CAP_CHOWN", "CAP_KILL"]),
        # after execve of a file without capabilities: permitted = effective = ambient
        "CapPrm": mask(["CAP_CHOWN"]),
        "CapEff": mask(["CAP_CHOWN"]),
        "CapAmb": mask(["CAP_CHOWN"]),
    }
    assert fields["NoNewPrivs"] == "0"  # not asked for in this file


def test_exec_env_and_cwd(ocirt, container):
    out = exec_fg(ocirt, container, "sh", "-c", "echo $K $TERM $EMPTY.; pwd",
                  options=["--env", "K=V=W", "-e", "TERM=dumb", "--env", "EMPTY=", "--cwd", "/tmp"])
    assert out.returncode == 0, out.stderr
    assert out.stdout == "V=W dumb .\n/tmp\n"


def test_exec_missing_cwd(ocirt, container):
    out = exec_fg(ocirt, container, "true", options=["--cwd", "/nonexistent"])
    assert out.returncode == EXEC_FAILED
    assert "/nonexistent" in out.stderr and "cwd" in out.stderr


def test_exec_oom_score_adj_is_the_containers(ocirt, make_bundle, tmp_path):
    """As runc: an exec'd process gets the container's oom_score_adj, not the
    caller's; process.oomScoreAdj of a --process file wins."""
    cid = new_id()
    bundle = make_bundle(["sleep", "1000"], edit=lambda c: c["process"].update(oomScoreAdj=123))
    ocirt("run", "-d", "--bundle", bundle, cid)
    try:
        out = ocirt("exec", cid, "cat", "/proc/self/oom_score_adj")
        assert out.stdout == "123\n"
        path = tmp_path / "p.json"
        path.write_text(json.dumps({"args": ["cat", "/proc/self/oom_score_adj"], "cwd": "/",
                                    "env": ["PATH=/bin"], "oomScoreAdj": 456}))
        assert ocirt("exec", "--process", path, cid).stdout == "456\n"
    finally:
        ocirt("delete", "--force", cid)


# ---------------------------------------------------------------- exit codes and --detach

@pytest.mark.parametrize("script, code", [("exit 7", 7), ("exit 0", 0), ("kill -9 $$", 128 + 9),
                                          ("kill -TERM $$", 128 + 15)])
def test_exec_foreground_exit_code(ocirt, container, script, code):
    out = exec_fg(ocirt, container, "sh", "-c", script)
    assert out.returncode == code
    assert out.stderr == ""


def test_exec_foreground_forwards_signals(ocirt, container, tmp_path):
    """SIGTERM to a foreground `ocirt exec` reaches the process (here it kills it: 143)."""
    pid_file = tmp_path / "exec.pid"
    proc = subprocess.Popen([OCIRT, "--root", ocirt.root, "exec", "--pid-file", str(pid_file),
                             container.id, "sleep", "1000"], stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not pid_file.exists():  # written once the process has exec'd
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.01)
        pid = int(pid_file.read_text())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            assert f.read().split(b"\0")[0] == b"sleep"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_exec_detach_pid_file_and_reaping(ocirt, container, tmp_path):
    pid_file = tmp_path / "exec.pid"
    d = Detached(ocirt, ["--detach", "--pid-file", pid_file, container.id,
                         "sh", "-c", "echo started; sleep 0.5; exit 9"], pid_file)
    assert d.returncode == 0
    assert d.raw_pid.isdigit() and not d.raw_pid.endswith("\n")
    # ocirt has returned; the process still runs and is our child now
    state, ppid = process_state(d.pid)
    assert state in "RS" and ppid == os.getpid()
    with open(f"/proc/{d.pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:2] == [b"sh", b"-c"]
    code, out, err = d.finish()
    assert (code, out, err) == (9, "started\n", "")


def test_exec_detach_quick_exit_still_reaches_the_caller(ocirt, container, tmp_path):
    """A process that exits before `ocirt exec -d` does is still the caller's to reap."""
    for code in (0, 9, 255):
        pid_file = tmp_path / f"exec{code}.pid"
        d = Detached(ocirt, ["-d", "--pid-file", pid_file, container.id, "sh", "-c", f"exit {code}"], pid_file)
        assert d.returncode == 0
        assert d.finish() == (code, "", "")


def test_exec_detach_returns_at_once(ocirt, container, tmp_path):
    pid_file = tmp_path / "exec.pid"
    d = Detached(ocirt, ["-d", "--pid-file", pid_file, container.id, "sleep", "3"], pid_file)
    assert d.returncode == 0
    assert d.elapsed < 2.5  # it did not wait for the 3 s sleep
    assert process_state(d.pid)[0] in "RS"
    os.kill(d.pid, signal.SIGKILL)
    assert d.finish()[0] == -signal.SIGKILL


def test_exec_detached_tty_needs_a_console_socket(ocirt, container):
    out = exec_fg(ocirt, container, "true", options=["--detach", "--tty"])
    assert out.returncode == EXEC_FAILED
    assert "--console-socket" in out.stderr
    assert json.loads(ocirt("ps", "--format", "json", container.id).stdout) == [container.pid]


def test_exec_console_socket_without_tty_is_refused(ocirt, container, tmp_path):
    """As runc: --console-socket without --tty (or terminal in --process) has nothing to send."""
    out = exec_fg(ocirt, container, "true", options=["--console-socket", str(tmp_path / "unused.sock")])
    assert out.returncode == EXEC_FAILED
    assert "--console-socket" in out.stderr and "--tty" in out.stderr
    assert json.loads(ocirt("ps", "--format", "json", container.id).stdout) == [container.pid]


# ---------------------------------------------------------------- container states and failures

def test_exec_into_a_stopped_container(ocirt, make_bundle):
    cid = new_id()
    ocirt("run", "-d", "--bundle", make_bundle(["true"]), cid)
    deadline = time.monotonic() + 10
    while ocirt.state(cid)["status"] != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    out = ocirt("exec", cid, "true", check=False)
    assert out.returncode == EXEC_FAILED
    assert "container not running" in out.stderr
    ocirt("delete", cid)


def test_exec_into_a_created_container(ocirt, make_bundle):
    """runc allows it: the process joins the container while its init waits for `start`."""
    cid = new_id()
    ocirt("create", "--bundle", make_bundle(["sleep", "1000"]), cid)
    try:
        out = ocirt("exec", cid, "sh", "-c", "hostname; readlink /proc/self/ns/pid; exit 3", check=False)
        assert out.returncode == 3, out.stderr
        pid = ocirt.state(cid)["pid"]
        assert out.stdout.splitlines() == ["ocirt", os.readlink(f"/proc/{pid}/ns/pid")]
        assert ocirt.state(cid)["status"] == "created"
        ocirt("start", cid)
        assert ocirt.state(cid)["status"] == "running"
    finally:
        ocirt("delete", "--force", cid)


def test_exec_into_a_paused_container(ocirt, container, tmp_path):
    ocirt("pause", container.id)
    out = exec_fg(ocirt, container, "true")
    assert out.returncode == EXEC_FAILED
    assert "paused" in out.stderr and "--ignore-paused" in out.stderr
    assert json.loads(ocirt("ps", "--format", "json", container.id).stdout) == [container.pid]
    # With --ignore-paused the process joins the frozen cgroup: it runs once resumed.
    pid_file = tmp_path / "exec.pid"
    proc = subprocess.Popen([OCIRT, "--root", ocirt.root, "exec", "--ignore-paused", "--detach",
                             "--pid-file", str(pid_file), container.id, "sh", "-c", "exit 4"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(0.3)
        assert proc.poll() is None  # frozen with the container, like runc
        ocirt("resume", container.id)
        assert proc.wait(timeout=10) == 0, proc.stderr.read()
        assert wait_exit(int(pid_file.read_text())) == 4
    finally:
        if proc.poll() is None:
            ocirt("resume", container.id, check=False)
            proc.kill()
            proc.wait()
        proc.stderr.close()


def test_exec_of_a_missing_executable(ocirt, container):
    out = exec_fg(ocirt, container, "no-such-program", "arg")
    assert out.returncode == EXEC_FAILED
    assert "executable file not found" in out.stderr and "no-such-program" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    out = exec_fg(ocirt, container, "/no/such/file")
    assert out.returncode == EXEC_FAILED
    assert "no such file or directory" in out.stderr  # podman maps this text to 127


def processes_in_pid_namespace(pid):
    ns = os.readlink(f"/proc/{pid}/ns/pid")
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == ns:
                    found.append(int(entry))
            except OSError:
                pass
    return sorted(found)


@pytest.mark.parametrize("detach", [False, True])
def test_failed_exec_leaves_no_zombie(ocirt, container, tmp_path, detach):
    """A process that fails before its exec is reaped by ocirt, not left as a
    zombie in the container's pid namespace for the caller (it kept the
    container's init from finishing its exit on `delete --force`)."""
    options = ["--detach", "--pid-file", tmp_path / "exec.pid"] if detach else []
    for _ in range(4):
        out = exec_fg(ocirt, container, "no-such-program", options=options)
        assert out.returncode == EXEC_FAILED
        assert not (tmp_path / "exec.pid").exists()
    assert processes_in_pid_namespace(container.pid) == [container.pid]


def test_exec_into_an_unknown_container(ocirt):
    out = ocirt("exec", new_id(), "true", check=False)
    assert out.returncode == EXEC_FAILED
    assert "does not exist" in out.stderr


@pytest.mark.parametrize("content, needles", [
    ('{"args": "sh", "cwd": "/"}', ["args"]),
    ('{"args": ["true"], "cwd": "/", "user": {"uid": "zero", "gid": 0}}', ["user.uid"]),
    ('{"args": ["true"], "cwd": "/", "capabilities": {"bounding": ["CAP_NOPE"]}}',
     ["capabilities.bounding[0]", "CAP_NOPE"]),
    ('{"args": ["true"], "cwd": "relative"}', ["cwd", "relative"]),
    ('{"args": ["true"], "cwd": "/", "rlimits": [{"type": "RLIMIT_NOPE", "hard": 1, "soft": 1}]}',
     ["rlimits[0].type", "RLIMIT_NOPE"]),
    ('{"args": ["true"], "cwd": "/",\n', ["JSON", "line 2"]),
    ('[1]', ["object"]),
    ('{"args": [], "cwd": "/"}', ["args"]),
])
def test_exec_bad_process_file(ocirt, container, tmp_path, content, needles):
    path = tmp_path / "bad-process.json"
    path.write_text(content)
    out = ocirt("exec", "--process", path, container.id, check=False)
    assert out.returncode == EXEC_FAILED
    message = out.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert "bad-process.json" in message
    for needle in needles:
        assert needle in message, (needle, message)
    assert json.loads(ocirt("ps", "--format", "json", container.id).stdout) == [container.pid]


def test_exec_missing_process_file(ocirt, container, tmp_path):
    out = ocirt("exec", "--process", tmp_path / "nope.json", container.id, check=False)
    assert out.returncode == EXEC_FAILED
    assert "nope.json" in out.stderr and "No such file" in out.stderr


# ---------------------------------------------------------------- the callers' --process files

def test_containerd_exec_process(ocirt, container, tmp_path):
    """`ctr task exec`: exec --process P --detach --pid-file F ID; the shim reaps (exit 5)."""
    path, proc = process_file(tmp_path, "containerd-exec-process.json", lambda p: p.update(args=[
        "sh", "-c", "echo hi-exec; cat /proc/self/status; cat /proc/self/limits; exit 5"]))
    pid_file = tmp_path / "e1.pid"
    d = Detached(ocirt, ["--process", path, "--detach", "--pid-file", pid_file, container.id], pid_file)
    assert d.returncode == 0
    code, out, err = d.finish()
    assert code == 5 and err == ""
    assert out.startswith("hi-exec\n")
    fields = status_fields(out)
    caps = proc["capabilities"]
    sets = cap_sets(fields)
    assert sets["CapEff"] == mask(caps["effective"])
    assert sets["CapPrm"] == mask(caps["permitted"])
    assert sets["CapBnd"] == mask(caps["bounding"])
    assert fields["NoNewPrivs"] == "1"
    assert fields["Uid"].split() == ["0"] * 4 and fields["Groups"].split() == ["0"]
    assert any(line.startswith("Max open files") and line.split()[3:5] == ["1024", "1024"]
               for line in out.splitlines())


def test_containerd_cri_exec_process(ocirt, container, tmp_path):
    """CRI ExecSync: env (FOO, HOSTNAME), stderr apart from stdout, exit 3, oomScoreAdj 0."""
    path, _ = process_file(tmp_path, "containerd-cri-exec-process.json", lambda p: p.update(args=[
        "sh", "-c", "echo exec-out $FOO $HOSTNAME $(cat /proc/self/oom_score_adj); echo exec-err >&2; exit 3"]))
    pid_file = tmp_path / "exec.pid"
    d = Detached(ocirt, ["--process", path, "--detach", "--pid-file", pid_file, container.id], pid_file)
    assert d.returncode == 0
    assert d.finish() == (3, "exec-out bar vm 0\n", "exec-err\n")


def test_podman_exec_process(ocirt, container, tmp_path):
    """conmon's order: exec --pid-file F --process P --detach ID; user 65534, cwd /tmp, rlimits."""
    path, _ = process_file(tmp_path, "podman-exec-process.json", lambda p: p.update(args=[
        "sh", "-c", "id; pwd; echo $FOO $HOME $container; cat /proc/self/limits"]))
    pid_file = tmp_path / "exec_pid"
    d = Detached(ocirt, ["--pid-file", pid_file, "--process", path, "--detach", container.id], pid_file)
    assert d.returncode == 0
    code, out, err = d.finish()
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("uid=65534(nobody) gid=65534(nogroup)")
    assert lines[1:3] == ["/tmp", "bar /nonexistent podman"]
    limits = {line[:25].strip(): line[25:].split()[:2] for line in lines[3:]}
    assert limits["Max open files"] == ["20000", "20000"]
    assert limits["Max processes"] == ["32768", "32768"]


@pytest.fixture
def console(tmp_path):
    cs = ConsoleSocket(tmp_path)
    yield cs
    cs.close()


def test_containerd_exec_tty_process(ocirt, container, tmp_path, console):
    """`ctr task exec -t`: terminal true in the file, --console-socket, no --tty."""
    path, _ = process_file(tmp_path, "containerd-exec-tty-process.json", lambda p: p.update(args=[
        "sh", "-c", "tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-tty; "
                    "echo tty_nr=$(cut -d' ' -f7 /proc/$$/stat); echo prompt; read x; echo hi-exec-tty-$x; exit 2"]))
    pid_file = tmp_path / "e2.pid"
    d = Detached(ocirt, ["--process", path, "--console-socket", console.path, "--detach", "--pid-file", pid_file,
                         container.id], pid_file)
    assert d.returncode == 0
    name, master = console.receive(timeout=2)  # sent before exec returned
    out = read_until(master, b"prompt").decode()
    lines = out.replace("\r", "").splitlines()
    assert lines[0] == name and name.startswith("/dev/pts/")
    assert "all-tty" in lines
    assert lines[-2] == f"tty_nr={os.makedev(136, int(name.rsplit('/', 1)[1]))}"  # its controlling tty
    os.write(master, b"ok\n")
    assert b"hi-exec-tty-ok" in read_until(master, b"hi-exec-tty-ok")
    code, out, err = d.finish()  # stdio was not the pipes: nothing there
    assert (code, out, err) == (2, "", "")


def test_podman_exec_tty_process(ocirt, container, tmp_path, console):
    """`podman exec -it ID sh`: --tty and --console-socket, an interactive shell typed into."""
    path, proc = process_file(tmp_path, "podman-exec-tty-process.json", lambda p: None)
    assert proc["args"] == ["sh"]
    pid_file = tmp_path / "exec_pid"
    d = Detached(ocirt, ["--pid-file", pid_file, "--process", path, "--detach", "--tty",
                         "--console-socket", console.path, container.id], pid_file)
    assert d.returncode == 0
    name, master = console.receive(timeout=2)
    os.write(master, b"tty; echo TERM=$TERM HOME=$HOME; exit 6\n")
    out = read_to_end(master).decode().replace("\r", "")
    assert name in out.splitlines() and "TERM=xterm HOME=/root" in out.splitlines()
    assert d.finish()[0] == 6


def test_exec_tty_leaves_dev_console_alone(ocirt, container, tmp_path, console):
    """An exec'd process's pty is not mounted over the container's /dev/console
    (the bug: one more mount per `exec -t`, pointing at a pty that goes away)."""
    before = ocirt("exec", container.id, "cat", "/proc/self/mountinfo").stdout
    for _ in range(2):
        pid_file = tmp_path / "exec.pid"
        d = Detached(ocirt, ["-t", "--console-socket", console.path, "-d", "--pid-file", pid_file, container.id,
                             "true"], pid_file)
        assert d.returncode == 0
        _, master = console.receive()
        read_to_end(master)
        assert d.finish()[0] == 0
    assert ocirt("exec", container.id, "cat", "/proc/self/mountinfo").stdout == before


@pytest.mark.parametrize("field, value", [("apparmorProfile", "docker-default"),
                                          ("selinuxLabel", "system_u:system_r:container_t:s0")])
def test_exec_security_labels_are_refused(ocirt, container, tmp_path, field, value):
    """The callers' files carry neither field here (no AppArmor/SELinux on this
    host); given one, ocirt refuses rather than run unconfined (runc fails too)."""
    path, _ = process_file(tmp_path, "podman-exec-process.json", lambda p: p.update({field: value}))
    out = ocirt("exec", "--process", path, "--detach", container.id, check=False)
    assert out.returncode == EXEC_FAILED
    assert field in out.stderr and "not enabled" in out.stderr
    assert json.loads(ocirt("ps", "--format", "json", container.id).stdout) == [container.pid]


def test_exec_tty_in_the_foreground_relays(ocirt, container):
    """`ocirt exec -t` typed in a terminal: ocirt relays, sizes, restores our terminal."""
    term = PtyProcess([OCIRT, "--root", ocirt.root, "exec", "-t", container.id, "sh", "-c",
                       "stty size; echo ready; read x; echo got-$x; stty size; exit 3"], rows=27, cols=91)
    try:
        out = term.read_until(b"ready")
        assert "27 91" in out
        term.resize(50, 132)
        time.sleep(0.1)
        term.type("abc\n")
        out = term.read_until(b"132")
        assert "got-abc" in out and "50 132" in out
        assert term.wait() == 3
        assert term.attrs() == term.attrs_before
    finally:
        term.close()


def test_exec_tty_in_the_foreground_forwards_sigterm(ocirt, container):
    """SIGTERM to `ocirt exec -t` while it relays reaches the process; our terminal is restored."""
    term = PtyProcess([OCIRT, "--root", ocirt.root, "exec", "-t", container.id, "sh", "-c",
                       "trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.05; done"])
    try:
        term.read_until(b"ready")
        term.proc.send_signal(signal.SIGTERM)
        assert term.wait() == 3
        assert "got-term" in term.read_until(b"got-term")
        assert term.attrs() == term.attrs_before
        assert json.loads(ocirt("ps", "--format", "json", container.id).stdout) == [container.pid]
    finally:
        term.close()


# ---------------------------------------------------------------- ps, fds, socket activation

def test_ps_lists_an_exec_process(ocirt, container, tmp_path):
    pid_file = tmp_path / "exec.pid"
    d = Detached(ocirt, ["-d", "--pid-file", pid_file, container.id, "sh", "-c", "sleep 1000 & wait"], pid_file)
    assert d.returncode == 0
    try:
        deadline = time.monotonic() + 5
        while True:
            ps = ocirt("ps", "--format", "json", container.id)
            pids = json.loads(ps.stdout)
            if len(pids) == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert ps.stderr == ""
        assert isinstance(pids, list) and container.pid in pids and d.pid in pids and len(pids) == 3
    finally:
        ocirt("kill", "--all", container.id, "KILL")
    assert d.finish()[0] == -signal.SIGKILL


def test_exec_preserve_fds(ocirt, container, tmp_path):
    """--preserve-fds 1: our fd 3 reaches the process as fd 3; fd 4 does not."""
    r3, w3 = os.pipe()
    r4, w4 = os.pipe()
    pid_file = tmp_path / "exec.pid"
    try:
        d = Detached(ocirt, ["--preserve-fds", "1", "-d", "--pid-file", pid_file, container.id, "sh", "-c",
                             "echo via-3 >&3; [ -e /proc/self/fd/4 ] && echo fd4-leaked; exit 0"],
                     pid_file, pass_fds=(w3, w4), wrapper=with_fd_at([3, 4])([w3, w4]))
        os.close(w3)
        os.close(w4)
        w3 = w4 = None
        assert d.returncode == 0
        assert d.finish() == (0, "", "")
        assert read_to_end(r3) == b"via-3\n"
        assert read_to_end(r4) == b""  # nobody kept fd 4
    finally:
        for fd in (r3, r4, w3, w4):
            if fd is not None:
                os.close(fd)


LISTEN_SCRIPT = ("echo LISTEN_FDS=$LISTEN_FDS LISTEN_PID=$LISTEN_PID; "
                 "[ -e /proc/self/fd/3 ] && echo via-3 >&3; [ -e /proc/self/fd/4 ] && echo fd4-leaked; exit 0")


@pytest.mark.parametrize("listen_pid", ["absent", "ocirt's pid"])
def test_exec_socket_activation_fds(ocirt, container, tmp_path, listen_pid):
    """LISTEN_FDS=1 (and LISTEN_PID ocirt's own, or absent): fd 3 is handed on and
    the process sees LISTEN_FDS=1, LISTEN_PID=1 (the value runc sets too)."""
    r, w = os.pipe()
    env = dict(os.environ, LISTEN_FDS="1")
    env.pop("LISTEN_PID", None)
    if listen_pid != "absent":
        env["LISTEN_PID"] = "self"  # the wrapper puts its pid, which ocirt's will be after its exec
    pid_file = tmp_path / "exec.pid"
    try:
        d = Detached(ocirt, ["-d", "--pid-file", pid_file, container.id, "sh", "-c", LISTEN_SCRIPT],
                     pid_file, env=env, pass_fds=(w,), wrapper=with_fd_at([3])([w]))
        os.close(w)
        w = None
        assert d.returncode == 0
        assert d.finish() == (0, "LISTEN_FDS=1 LISTEN_PID=1\n", "")
        assert read_to_end(r) == b"via-3\n"
    finally:
        for fd in (r, w):
            if fd is not None:
                os.close(fd)


def test_exec_listen_fds_for_another_pid_are_ignored(ocirt, container, tmp_path):
    r, w = os.pipe()
    env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID="1")  # not ocirt's pid
    pid_file = tmp_path / "exec.pid"
    try:
        d = Detached(ocirt, ["-d", "--pid-file", pid_file, container.id, "sh", "-c", LISTEN_SCRIPT],
                     pid_file, env=env, pass_fds=(w,), wrapper=with_fd_at([3])([w]))
        os.close(w)
        w = None
        assert d.returncode == 0
        # the caller's env does not leak in, and fd 3 was closed
        assert d.finish() == (0, "LISTEN_FDS= LISTEN_PID=\n", "")
        assert read_to_end(r) == b""
    finally:
        for fd in (r, w):
            if fd is not None:
                os.close(fd)


def test_run_socket_activation_fds(ocirt, make_bundle, tmp_path):
    r, w = os.pipe()
    env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID="self")
    cid = new_id()
    ocirt.ids.add(cid)
    argv = [OCIRT, "--root", ocirt.root, "run", "--bundle", make_bundle(["sh", "-c", LISTEN_SCRIPT]), cid]
    try:
        proc = subprocess.run(with_fd_at([3])([w]) + argv, env=env, pass_fds=(w,), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=60)
        os.close(w)
        w = None
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "LISTEN_FDS=1 LISTEN_PID=1\n"
        assert read_to_end(r) == b"via-3\n"
    finally:
        for fd in (r, w):
            if fd is not None:
                os.close(fd)
