"""The caller's side of --console-socket, as containerd's shim and conmon do it:
a listening AF_UNIX socket; after `create`/`exec` returns, accept one connection
and receive the pty master as one SCM_RIGHTS fd. Plus helpers to read from a
pty master with a deadline, and PtyProcess, which runs a command on a pty of
ours as if it was typed in a terminal."""
import fcntl
import os
import pty
import select
import socket
import struct
import subprocess
import tempfile
import termios
import time

MAX_SUN_PATH = 107


class ConsoleSocket:
    """A listening unix socket; `receive()` returns (name sent along, master fd)."""

    def __init__(self, directory):
        path = os.path.join(str(directory), "console.sock")
        self._tmpdir = None
        if len(path.encode()) > MAX_SUN_PATH:  # pytest's tmp_path can be long
            self._tmpdir = tempfile.mkdtemp(prefix="ocirt-cs-", dir="/tmp")
            path = os.path.join(self._tmpdir, "console.sock")
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.masters = []

    def receive(self, timeout=10):
        """Accept one connection and take one fd from it (as go-runc's ReceiveMaster)."""
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(timeout)
            msg, fds, _, _ = socket.recv_fds(conn, 4096, 4)
        assert len(fds) == 1, f"expected exactly one fd over the console socket, got {fds}"
        self.masters.append(fds[0])
        return msg.decode(), fds[0]

    def pending(self, timeout=0.2):
        """True when a runtime has connected (without accepting)."""
        ready, _, _ = select.select([self.sock], [], [], timeout)
        return bool(ready)

    def close(self):
        for fd in self.masters:
            try:
                os.close(fd)
            except OSError:
                pass
        self.masters = []
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        if self._tmpdir:
            os.rmdir(self._tmpdir)


def read_until(fd, needle, timeout=10):
    """Read from `fd` until `needle` (bytes) has been seen; returns all bytes read.

    Raises AssertionError with what was read when the deadline passes or the
    other side closes first.
    """
    data = b""
    deadline = time.monotonic() + timeout
    while needle not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {needle!r}; read so far: {data!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the terminal's other side is closed
            chunk = b""
        if not chunk:
            raise AssertionError(f"end of terminal before {needle!r}; read: {data!r}")
        data += chunk
    return data


def read_to_end(fd, timeout=10):
    """Read until end-of-file/EIO (every holder of the pty peer has closed it)."""
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out waiting for the end of the terminal; read: {data!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return data
        if not chunk:
            return data
        data += chunk


def set_winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _make_controlling_tty():
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyProcess:
    """`argv` with a pty of ours as stdio and controlling terminal (a new
    session), as a shell in a terminal emulator runs it: a resize of the pty
    sends SIGWINCH to the process exactly as a terminal emulator's would."""

    def __init__(self, argv, rows=24, cols=80, **kw):
        self.master, self.slave = pty.openpty()
        set_winsize(self.slave, rows, cols)
        self.attrs_before = termios.tcgetattr(self.slave)
        self.proc = subprocess.Popen(argv, stdin=self.slave, stdout=self.slave, stderr=self.slave,
                                     start_new_session=True, preexec_fn=_make_controlling_tty, **kw)

    def read_until(self, needle, timeout=10):
        """Text read so far up to and including `needle`, with "\\r" removed."""
        return read_until(self.master, needle, timeout).decode(errors="replace").replace("\r", "")

    def type(self, text):
        os.write(self.master, text.encode())

    def attrs(self):
        return termios.tcgetattr(self.slave)

    def resize(self, rows, cols):
        set_winsize(self.slave, rows, cols)

    def wait(self, timeout=10):
        return self.proc.wait(timeout)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)
