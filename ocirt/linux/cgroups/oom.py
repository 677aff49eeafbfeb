"""Noticing OOM kills in a container's memory cgroup, for `events`.

cgroup v1 signals an eventfd registered through cgroup.event_control each
time the memory cgroup hits its limit and the OOM killer runs; it also
signals it once when the cgroup is removed, which is not an OOM.
cgroup v2 counts kills in memory.events ("oom_kill N") and wakes pollers
of that file (POLLPRI) when a counter changes.

Usage:
    watcher = OomWatcher.open(cgroups)    # None when there is no memory cgroup
    poll.register(watcher.fileno(), watcher.poll_events)
    ... when poll reports the fd: for _ in range(watcher.new_ooms()): report one
    watcher.close()
"""

import os
import select

from ocirt.errors import OcirtError

from . import _files


def oom_kill_count(memory_events_text):
    """The "oom_kill" counter of a v2 memory.events file's text (0 when absent)."""
    for line in memory_events_text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill" and value.strip().isdigit():
            return int(value)
    return 0


class OomWatcher:
    """One container's OOM notifications as a pollable fd."""

    def __init__(self, fd, poll_events, directory, v2):
        self._fd = fd
        self.poll_events = poll_events
        self.directory = directory
        self._v2 = v2
        self._kills = self._read_kills() if v2 else 0

    @classmethod
    def open(cls, kind, directory):
        """kind "v1" or "v2" (which hierarchy carries memory), directory the container's memory cgroup."""
        try:
            if kind == "v1":
                return cls._open_v1(directory)
            fd = os.open(os.path.join(directory, "memory.events"), os.O_RDONLY | os.O_CLOEXEC)
            return cls(fd, select.POLLPRI | select.POLLERR, directory, v2=True)
        except OSError as exc:
            raise OcirtError(f"cannot watch {directory} for OOM kills: {_files.describe_oserror(exc)}") from None

    @classmethod
    def _open_v1(cls, directory):
        efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        try:
            control = os.open(os.path.join(directory, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
            try:
                # The kernel keeps its own reference to both files once registered.
                _files.write(os.path.join(directory, "cgroup.event_control"), f"{efd} {control}",
                             what="OOM notification")
            finally:
                os.close(control)
        except BaseException:
            os.close(efd)
            raise
        return cls(efd, select.POLLIN, directory, v2=False)

    def fileno(self):
        return self._fd

    def _read_kills(self):
        return oom_kill_count(os.pread(self._fd, 4096, 0).decode())

    def new_ooms(self):
        """After poll reported the fd: how many OOMs to report since the last call."""
        if self._v2:
            try:
                kills = self._read_kills()  # reading re-arms the POLLPRI notification
            except OSError:  # the cgroup is gone
                return 0
            new, self._kills = max(0, kills - self._kills), kills
            return new
        try:
            os.read(self._fd, 8)
        except BlockingIOError:
            return 0
        # Each task that hit the limit adds one; the OOM killer's one pass
        # over them is one OOM, as runc reports it. The eventfd also fires
        # when the cgroup goes away (delete): that is not an OOM.
        return 1 if os.path.exists(os.path.join(self.directory, "memory.oom_control")) else 0

    def close(self):
        os.close(self._fd)
