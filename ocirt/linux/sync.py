"""The parent <-> container-init handshake: short text messages over two pipes.

Pipes (not a socket) because they need no imports and close cleanly: when
either side dies, the other reads end-of-file and knows setup failed.
A message is one line "<kind> <payload>", at most PIPE_BUF bytes, so each
write is atomic.
"""
import os

from ocirt.errors import OcirtError, shorten


class Channel:
    def __init__(self, read_fd, write_fd):
        self.read_fd = read_fd
        self.write_fd = write_fd
        self._buffer = b""

    def send(self, kind, payload=""):
        # One write below PIPE_BUF: a long message is shortened in the middle, keeping its reason.
        data = shorten(f"{kind} {payload}".replace("\n", " "), 3000).encode()[:4000] + b"\n"
        try:
            os.write(self.write_fd, data)
        except BrokenPipeError:
            # The other side is gone; say so instead of letting the CLI take it
            # for a closed stdout and exit silently.
            raise OcirtError("container init exited during setup") from None

    def receive(self):
        """Next (kind, payload); ("eof", "") when the other side is gone."""
        while b"\n" not in self._buffer:
            chunk = os.read(self.read_fd, 4096)
            if not chunk:
                return "eof", ""
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        kind, _, payload = line.decode(errors="replace").partition(" ")
        return kind, payload

    def expect(self, kind):
        """Wait for `kind`; an "error" message from the other side becomes an OcirtError."""
        got, payload = self.receive()
        if got == kind:
            return payload
        if got == "error":
            raise OcirtError(payload)
        if got == "eof":
            raise OcirtError("container init exited during setup")
        raise OcirtError(f"container setup protocol error: expected {kind!r}, got {got!r}")

    def fds(self):
        return (self.read_fd, self.write_fd)

    def close(self):
        for fd in self.fds():
            try:
                os.close(fd)
            except OSError:
                pass


def channel_pair(min_fd=3):
    """Two connected Channels (parent side, child side), all fds close-on-exec and >= min_fd.

    `min_fd` keeps them clear of the fds the caller asked to preserve
    (--preserve-fds), which must arrive in the container at their numbers.
    """
    import fcntl

    def lifted(fd):
        if fd >= min_fd:
            return fd
        new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, min_fd)
        os.close(fd)
        return new

    p_read, c_write = os.pipe2(os.O_CLOEXEC)
    c_read, p_write = os.pipe2(os.O_CLOEXEC)
    p_read, c_write, c_read, p_write = (lifted(fd) for fd in (p_read, c_write, c_read, p_write))
    return Channel(p_read, p_write), Channel(c_read, c_write)
