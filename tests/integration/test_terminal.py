"""Terminals and stdio: the pty handed over --console-socket (as containerd's
shim and conmon receive it), the relay of a foreground `run` driven through a
real pty, and the untouched stdio of a non-terminal container."""
import os
import signal
import subprocess
import termios
import time

import pytest

from conftest import OCIRT, new_id
from consolesocket import ConsoleSocket, PtyProcess, read_to_end, read_until

PTS_MAJOR = 136


def terminal_bundle(make_bundle, script, size=None):
    def edit(cfg):
        cfg["process"]["terminal"] = True
        if size:
            cfg["process"]["consoleSize"] = {"height": size[0], "width": size[1]}

    return make_bundle(["sh", "-c", script], edit=edit)


def wait_exit(pid, timeout=10):
    """Reap a container process re-parented to us (the test process is a subreaper)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not exit")


@pytest.fixture
def console(tmp_path):
    cs = ConsoleSocket(tmp_path)
    yield cs
    cs.close()


# ---------------------------------------------------------------- --console-socket

# The shell shows what its terminal is, then waits for a line typed on the master.
TTY_SCRIPT = (
    "tty; stty size; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo stdio-is-tty; "
    "echo tty_nr=$(cut -d' ' -f7 /proc/$$/stat) sid=$(cut -d' ' -f6 /proc/$$/stat); "
    "echo ready; read x; echo got-$x; exit 4"
)


@pytest.mark.parametrize("how", ["create+start", "run -d"])
def test_console_socket_receives_the_pty(ocirt, make_bundle, console, tmp_path, how):
    cid = new_id()
    bundle = terminal_bundle(make_bundle, TTY_SCRIPT, size=(33, 101))
    pid_file = tmp_path / "pid"
    try:
        if how == "create+start":
            ocirt("create", "--bundle", bundle, "--console-socket", console.path, "--pid-file", pid_file, cid)
        else:
            ocirt("run", "-d", "--bundle", bundle, "--console-socket", console.path, "--pid-file", pid_file, cid)
        # The master was sent before ocirt returned: it is already waiting on the socket.
        name, master = console.receive(timeout=2)
        assert name == "/dev/pts/0"  # a pty of the container's own devpts instance
        pid = int(pid_file.read_text())
        if how == "create+start":
            assert ocirt.state(cid)["status"] == "created"
            ocirt("start", cid)
        out = read_until(master, b"ready").decode()
        lines = out.replace("\r", "").splitlines()
        assert lines[0] == "/dev/pts/0"
        assert lines[1] == "33 101"  # process.consoleSize
        assert "stdio-is-tty" in lines
        # A controlling terminal: tty_nr is the device of /dev/pts/0; the shell
        # (the init, pid 1 in its namespace) leads its own session.
        assert f"tty_nr={os.makedev(PTS_MAJOR, 0)} sid=1" in lines
        os.write(master, b"hello\n")
        assert b"got-hello" in read_until(master, b"got-hello")
        assert wait_exit(pid) == 4
        # every holder of the pty peer is gone: the master reads end-of-file/EIO
        read_to_end(master, timeout=5)
    finally:
        ocirt("delete", "--force", cid, check=False)


def test_console_socket_pty_is_not_the_hosts(ocirt, make_bundle, console, tmp_path):
    """The pty lives in the container's devpts: its number is not from the host's
    /dev/pts, and the host's /dev/pts has no entry that the container created."""
    cid = new_id()
    before = set(os.listdir("/dev/pts"))
    bundle = terminal_bundle(make_bundle, "ls /dev/pts; echo ready; read x")
    pid_file = tmp_path / "pid"
    try:
        ocirt("run", "-d", "--bundle", bundle, "--console-socket", console.path, "--pid-file", pid_file, cid)
        _, master = console.receive()
        out = read_until(master, b"ready").decode().replace("\r", "").split()
        assert "0" in out and "ptmx" in out
        assert set(os.listdir("/dev/pts")) - before == set()
        # the fd we hold is a ptmx of the container's devpts, not of the host's
        assert os.fstat(master).st_dev != os.stat("/dev/pts/ptmx").st_dev
        os.write(master, b"\n")
        assert wait_exit(int(pid_file.read_text())) == 0
    finally:
        ocirt("delete", "--force", cid, check=False)


def test_console_socket_accepted_after_the_program_ran(ocirt, make_bundle, console, tmp_path):
    """The container keeps running when the caller has not yet accepted: the
    runtime does not wait for the caller to read the master."""
    cid = new_id()
    pid_file = tmp_path / "pid"
    bundle = terminal_bundle(make_bundle, "echo early; exit 3")
    try:
        ocirt("run", "-d", "--bundle", bundle, "--console-socket", console.path, "--pid-file", pid_file, cid)
        pid = int(pid_file.read_text())
        time.sleep(0.2)
        _, master = console.receive()
        assert b"early" in read_until(master, b"early")
        assert wait_exit(pid) == 3
    finally:
        ocirt("delete", "--force", cid, check=False)


@pytest.mark.parametrize("command", [("create",), ("run", "-d")])
def test_terminal_without_console_socket_fails_and_leaves_nothing(ocirt, make_bundle, command):
    cid = new_id()
    out = ocirt(*command, "--bundle", terminal_bundle(make_bundle, "true"), cid, check=False)
    assert out.returncode != 0
    message = out.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert "process.terminal" in message and "--console-socket" in message
    assert not os.path.exists(os.path.join(ocirt.root, cid))
    assert ocirt("state", cid, check=False).returncode != 0


@pytest.mark.parametrize("command", [("create",), ("run", "-d"), ("run",)])
def test_console_socket_without_a_terminal_is_refused(ocirt, make_bundle, console, command):
    """As runc: a socket that would never receive a pty is the caller's mistake."""
    cid = new_id()
    out = ocirt(*command, "--bundle", make_bundle(["true"]), "--console-socket", console.path, cid, check=False)
    assert out.returncode != 0
    message = out.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert "process.terminal" in message and "--console-socket" in message
    assert not os.path.exists(os.path.join(ocirt.root, cid))


def test_console_socket_nobody_listens(ocirt, make_bundle, tmp_path):
    cid = new_id()
    missing = tmp_path / "nobody.sock"
    out = ocirt("create", "--bundle", terminal_bundle(make_bundle, "true"), "--console-socket", missing, cid,
                check=False)
    assert out.returncode != 0
    assert "console socket" in out.stderr and str(missing) in out.stderr
    assert not os.path.exists(os.path.join(ocirt.root, cid))


# ---------------------------------------------------------------- foreground run: the relay

def PtyRun(ocirt, bundle, cid, rows=24, cols=80):
    """Foreground `ocirt run` on a pty of ours, as if typed in a terminal."""
    ocirt.ids.add(cid)
    return PtyProcess([OCIRT, "--root", ocirt.root, "run", "--bundle", bundle, cid], rows=rows, cols=cols)


def test_run_relays_a_terminal(ocirt, make_bundle):
    script = ("echo ready; read x; echo got-$x; tty; stty size; echo resize-me; read y; stty size; "
              "echo done; exit 5")
    cid = new_id()
    term = PtyRun(ocirt, terminal_bundle(make_bundle, script), cid, rows=24, cols=80)
    try:
        term.read_until(b"ready")  # the relay runs (and our pty is raw) by now
        # raw mode: no echo, no line editing, no signals from our side
        attrs = term.attrs()
        assert not attrs[3] & (termios.ECHO | termios.ICANON | termios.ISIG)
        term.type("hello\n")
        out = term.read_until(b"resize-me")
        assert "got-hello" in out
        assert "/dev/pts/0" in out  # the container's own pty, not ours
        assert "24 80" in out  # our size at start reached the container
        term.resize(40, 120)  # the kernel sends SIGWINCH to ocirt
        time.sleep(0.1)
        term.type("y\n")
        out = term.read_until(b"done")
        assert "40 120" in out
        assert term.wait() == 5
        assert term.attrs() == term.attrs_before  # raw mode undone
        assert not os.path.exists(os.path.join(ocirt.root, cid))
    finally:
        term.close()


def test_run_terminal_size_is_set_before_the_program_runs(ocirt, make_bundle):
    """A program that asks for its size at once (no shell in front of it) sees
    our terminal's size, not the 0x0 of a new pty: the size is copied before
    `start`, not when the relay begins. (Before the fix ~1 run in 5 failed.)"""
    bundle = make_bundle(["stty", "size"], edit=lambda cfg: cfg["process"].update(terminal=True))
    for _ in range(8):
        cid = new_id()
        term = PtyRun(ocirt, bundle, cid, rows=31, cols=97)
        try:
            assert term.wait() == 0
            out = term.read_until(b"\n")
        finally:
            term.close()
        assert out == "31 97\n"
        assert not os.path.exists(os.path.join(ocirt.root, cid))
        ocirt.ids.discard(cid)  # removed by run itself: no delete --force needed


def test_run_forwards_sigterm_while_relaying(ocirt, make_bundle):
    script = "trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.05; done"
    cid = new_id()
    term = PtyRun(ocirt, terminal_bundle(make_bundle, script), cid)
    try:
        term.read_until(b"ready")
        term.proc.send_signal(signal.SIGTERM)
        assert term.wait() == 3
        assert "got-term" in term.read_until(b"got-term")
        assert term.attrs() == term.attrs_before
        assert not os.path.exists(os.path.join(ocirt.root, cid))
    finally:
        term.close()


def test_run_relays_ctrl_c_to_the_container(ocirt, make_bundle):
    """^C typed on our (raw) terminal is a byte for the container's pty, whose
    line discipline turns it into SIGINT for the container's foreground group;
    ocirt itself is not interrupted."""
    script = "trap 'echo caught-int; exit 9' INT; echo ready; while :; do sleep 0.05; done"
    cid = new_id()
    term = PtyRun(ocirt, terminal_bundle(make_bundle, script), cid)
    try:
        term.read_until(b"ready")
        term.type("\x03")
        assert "caught-int" in term.read_until(b"caught-int")
        assert term.wait() == 9
        assert term.attrs() == term.attrs_before
    finally:
        term.close()


def test_run_terminal_with_stdin_not_a_tty(ocirt, make_bundle):
    """Foreground `run` of a terminal container from a script (stdin a pipe,
    stdout a file): ocirt still relays, without touching terminal modes."""
    out = ocirt("run", "--bundle", terminal_bundle(make_bundle, "read x; echo got-$x; [ -t 0 ] && echo tty; exit 6"),
                new_id(), input="piped\n", check=False)
    assert out.returncode == 6
    lines = out.stdout.replace("\r", "").splitlines()
    assert "got-piped" in lines and "tty" in lines


# ---------------------------------------------------------------- non-terminal stdio

@pytest.mark.parametrize("how", ["create+start", "run -d"])
def test_stdio_pipes_reach_the_container_untouched(ocirt, make_bundle, tmp_path, how):
    """fds 0, 1 and 2 given to create are the container's stdio (the very
    pipes, not copies), still usable after ocirt has exited."""
    cid = new_id()
    ocirt.ids.add(cid)
    pid_file = tmp_path / "pid"
    bundle = make_bundle(["sh", "-c", "read x; echo out-$x; echo err-$x >&2; exit 2"])
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        argv = [OCIRT, "--root", ocirt.root]
        argv += (["create"] if how == "create+start" else ["run", "-d"])
        argv += ["--bundle", bundle, "--pid-file", str(pid_file), cid]
        # wait(), not communicate(): the container keeps the pipes open
        proc = subprocess.Popen(argv, stdin=in_r, stdout=out_w, stderr=err_w)
        assert proc.wait(timeout=30) == 0
        for fd in (in_r, out_w, err_w):
            os.close(fd)
        pid = int(pid_file.read_text())
        links = [os.readlink(f"/proc/{pid}/fd/{n}") for n in (0, 1, 2)]
        assert links == [f"pipe:[{os.fstat(fd).st_ino}]" for fd in (in_w, out_r, err_r)]
        if how == "create+start":
            ocirt("start", cid)
        os.write(in_w, b"abc\n")
        os.close(in_w)
        in_w = None
        assert read_to_end(out_r) == b"out-abc\n"
        assert read_to_end(err_r) == b"err-abc\n"
        assert wait_exit(pid) == 2
    finally:
        for fd in (in_w, out_r, err_r):
            if fd is not None:
                os.close(fd)
        ocirt("delete", "--force", cid, check=False)
