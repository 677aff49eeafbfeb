"""Pseudo-terminals: a pty from the container's own devpts, handed to the caller.

The container side opens /dev/ptmx inside the container (so the pty belongs to
the container's devpts instance), makes the peer its controlling terminal and
stdio, and sends the master over the --console-socket connection with
SCM_RIGHTS, as runc does. `ocirt run` without a console socket receives the
master itself and relays between its own terminal and the container's.
"""
import os

from ocirt.errors import OcirtError

TIOCSCTTY = 0x540E
TIOCGWINSZ = 0x5413
TIOCSWINSZ = 0x5414
TIOCGPTPEER = 0x5441
TIOCSPTLCK = 0x40045431


def connect_console_socket(path):
    """Connect to the caller's listening socket (parent side, before fork)."""
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        raise OcirtError(f"cannot connect to console socket {path}: {e.strerror}") from None
    return sock.detach()


def open_pty():
    """(master, peer) from /dev/ptmx of the current mount namespace."""
    import fcntl
    import struct

    try:
        master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        raise OcirtError(f"cannot open /dev/ptmx in the container: {e.strerror} "
                         "(is a devpts instance mounted at /dev/pts?)") from None
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    peer = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY)
    return master, peer


def set_size(fd, rows, cols):
    import fcntl
    import struct

    fcntl.ioctl(fd, TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def get_size(fd):
    import fcntl
    import struct

    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, TIOCGWINSZ, b"\0" * 8))
    return rows, cols


def send_master(console_fd, master, name):
    import socket

    sock = socket.socket(fileno=console_fd)
    try:
        socket.send_fds(sock, [name.encode()], [master])
    finally:
        sock.close()


def receive_master(console_fd):
    import socket

    sock = socket.socket(fileno=console_fd)
    try:
        _, fds, _, _ = socket.recv_fds(sock, 4096, 1)
    finally:
        sock.close()
    if not fds:
        raise OcirtError("the container did not send its terminal")
    master = fds[0]
    if os.isatty(0):
        # Our window size, now: `run` receives the master before `start`, so
        # the program never sees the 0x0 of a new pty (relay() is too late).
        try:
            set_size(master, *get_size(0))
        except OSError:
            pass
    return master


def become_terminal_of(peer, uid=None):
    """Make `peer` the controlling terminal and stdio of this (session leader) process."""
    import fcntl

    fcntl.ioctl(peer, TIOCSCTTY, 0)
    if uid:
        os.fchown(peer, uid, -1)
    for fd in (0, 1, 2):
        os.dup2(peer, fd)
    if peer > 2:
        os.close(peer)


# The container's /dev/console is its init's terminal. `exec` sets this to
# False before it forks: an exec'd process's pty must not be mounted over the
# container's /dev/console (one more mount per `exec -t`, left pointing at a
# pty that is gone when the process exits), as runc never does.
bind_dev_console = True


def setup_in_container(console_fd, console_size, uid, bind_console=None):
    """Container side: pty, size, /dev/console, send the master, take the peer as stdio."""
    from ocirt.linux import syscalls

    master, peer = open_pty()
    if console_size:
        set_size(peer, console_size.get("height", 0), console_size.get("width", 0))
    name = os.readlink(f"/proc/self/fd/{peer}")
    if bind_console is None:
        bind_console = bind_dev_console
    try:
        if bind_console and (os.path.exists("/dev/console") or _touch("/dev/console")):
            syscalls.mount(name, "/dev/console", None, syscalls.MS_BIND)
    except OSError:
        pass  # a read-only /dev without a console node: the pty still works
    send_master(console_fd, master, name)
    os.close(master)
    become_terminal_of(peer, uid)


def _touch(path):
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
        return True
    except OSError:
        return False


def relay(master):
    """Copy between our stdin/stdout and the container's pty until the pty closes.

    When our stdin is a terminal it goes into raw mode (restored afterwards) and
    window size changes follow it into the container.
    """
    import select
    import _signal as signal  # the C module: `signal` itself imports enum (~4 ms)

    stdin_is_tty = os.isatty(0)
    saved = None
    if stdin_is_tty:
        import termios
        import tty

        saved = termios.tcgetattr(0)
        tty.setraw(0)
        set_size(master, *get_size(0))
        signal.signal(signal.SIGWINCH, lambda *_: set_size(master, *get_size(0)))
    reading_stdin = True
    try:
        while True:
            watch = [master] + ([0] if reading_stdin else [])
            try:
                ready, _, _ = select.select(watch, [], [])
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every holder of the peer has closed it
                    data = b""
                if not data:
                    return
                _write_all(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if data:
                    _write_all(master, data)
                else:
                    reading_stdin = False
    finally:
        if saved is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, saved)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
