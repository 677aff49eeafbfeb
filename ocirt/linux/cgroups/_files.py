"""Reading and writing cgroup control files, with errors a user can act on.

Kept apart from the v1/v2 logic so both share one way of turning an
OSError from the kernel into an OcirtError that names the file, the value
and the likely cause.
"""

import errno
import os

from ocirt.errors import OcirtError

# Generic hints; a caller passes its own when it knows better (the kernel
# reuses EINVAL and EBUSY for very different things per file).
_HINTS = {
    errno.ENOENT: "this kernel does not provide that file (the feature is not built in or not enabled)",
    errno.EINVAL: "the kernel rejected the value",
    errno.EBUSY: "the cgroup is busy",
    errno.EPERM: "permission denied (the parent cgroup may not allow it)",
    errno.EACCES: "permission denied",
    errno.EOPNOTSUPP: "the kernel does not support this setting here",
    errno.ENODEV: "no such device on this host",
    errno.ENOSPC: "no room: the parent cgroup's limit does not allow it",
    errno.ERANGE: "the value is out of the range the kernel accepts",
}


def describe_oserror(exc, hints=None):
    """strerror plus the most useful hint we have for this errno."""
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    hint = (hints or {}).get(exc.errno) or _HINTS.get(exc.errno)
    return f"{reason} ({hint})" if hint else reason


# ---------------------------------------------------------------- undo journal
#
# `update` changes a live container: if the kernel refuses the third value,
# the first two must not stay changed. While a Journal is active, every write
# first records how to put the file back.

_journal = None

# "MAJOR:MINOR value" lines (v1 blkio throttles): one line changes one device's entry.
_DEVICE_LINE_FILES = ("blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device",
                      "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device")


class Journal:
    """with Journal() as j: ... writes ...; j.undo() restores what they changed (newest first)."""

    def __init__(self):
        self.entries = []  # (path, data to write back) in write order
        self.unrestorable = []
        self._seen = set()

    def __enter__(self):
        global _journal
        self._outer, _journal = _journal, self
        return self

    def __exit__(self, *exc):
        global _journal
        _journal = self._outer
        return False

    def remember(self, path, data):
        name = os.path.basename(path)
        if name in _DEVICE_LINE_FILES:
            device = data.split(b" ", 1)[0]
            key = (path, device)
            if key in self._seen:
                return
            self._seen.add(key)
            old = b"0"  # 0: no limit for that device
            for line in (_read_bytes(path) or b"").splitlines():
                if line.split(b" ", 1)[0] == device:
                    old = line.split(b" ", 1)[1]
            self.entries.append((path, device + b" " + old))
            return
        if path in self._seen:
            return
        if name == "cpu.idle":
            # Changing idle resets the weight: record the weight first, so
            # that it is put back after idle.
            for weight in ("cpu.shares", "cpu.weight"):
                if os.path.exists(os.path.join(os.path.dirname(path), weight)):
                    self.remember(os.path.join(os.path.dirname(path), weight), b"")
        self._seen.add(path)
        old = _read_bytes(path)
        if old is None and not os.path.exists(path):
            return  # the write will fail too: nothing to put back
        if name == "memory.oom_control" and old is not None:
            old = b"1" if b"oom_kill_disable 1" in old else b"0"
        if old is None or b"\n" in old.strip() or name.startswith("devices."):
            # multi-line, write-only or absent: no single write puts it back
            self.unrestorable.append(path)
            return
        self.entries.append((path, old.strip()))

    def undo(self):
        """Write the old values back, newest first; returns the files that could not be restored."""
        pending = list(reversed(self.entries))
        for _ in range(2):  # a second pass for values that depend on each other (quota and burst)
            pending = [(path, data) for path, data in pending if try_write(path, data, journal=False)]
        return list(self.unrestorable) + [path for path, _ in pending]


def _read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def write(path, value, *, what=None, json_path=None, hints=None):
    """Write one value to a control file in a single write(2), as the kernel wants."""
    data = value if isinstance(value, bytes) else str(value).encode()
    shown = data.decode(errors="replace")
    if _journal is not None:
        _journal.remember(path, data)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    except OSError as exc:
        prefix = f"cannot set {what}: " if what else ""
        raise OcirtError(
            f'{prefix}writing "{shown}" to {path} failed: {describe_oserror(exc, hints)}',
            path=json_path,
        ) from None


def try_write(path, value, journal=True):
    """Write and return the errno (0 on success): for callers that decide what a failure means."""
    data = value if isinstance(value, bytes) else str(value).encode()
    if journal and _journal is not None:
        _journal.remember(path, data)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    except OSError as exc:
        return exc.errno or errno.EIO
    return 0


def read(path, default=None):
    """The file's text without the trailing newline; `default` when it does not exist."""
    try:
        with open(path, "rb") as f:
            return f.read().decode().rstrip("\n")
    except (FileNotFoundError, NotADirectoryError):
        return default
    except OSError as exc:
        if exc.errno == errno.ENODEV:  # the cgroup was removed while we read it
            return default
        raise OcirtError(f"cannot read {path}: {describe_oserror(exc)}") from None


def read_int(path, default=None, max_value=None):
    """An integer file; "max" reads as `max_value` (v2 uses it for "no limit")."""
    text = read(path)
    if text is None:
        return default
    text = text.strip()
    if text == "max":
        return max_value
    try:
        return int(text)
    except ValueError:
        return default


def read_keyed(path):
    """A flat-keyed file ("key value" per line, e.g. memory.stat, cpu.stat) as a dict of ints."""
    text = read(path)
    if text is None:
        return None
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                if parts[1] == "max":
                    out[parts[0]] = None
    return out


def exists(path):
    return os.path.exists(path)


def read_procs(directory):
    """The pids in one cgroup's cgroup.procs ([] if the cgroup is gone)."""
    text = read(os.path.join(directory, "cgroup.procs"), "")
    return [int(p) for p in text.split()]
