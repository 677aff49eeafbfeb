"""Namespace types of the runtime-spec: which clone flag each is, joining by path."""
import os

from ocirt.errors import OcirtError

# spec type -> (clone flag, name under /proc/PID/ns/)
NAMESPACES = {
    "user": (0x10000000, "user"),
    "pid": (0x20000000, "pid"),
    "network": (0x40000000, "net"),
    "mount": (0x00020000, "mnt"),
    "ipc": (0x08000000, "ipc"),
    "uts": (0x04000000, "uts"),
    "cgroup": (0x02000000, "cgroup"),
    "time": (0x00000080, "time"),
}

# The user namespace is joined first so that the others are joined with the
# privileges it grants; mount last of the rest because joining it changes
# which /proc the remaining paths resolve through.
JOIN_ORDER = ("user", "pid", "network", "ipc", "uts", "cgroup", "time", "mount")


class NamespacePlan:
    """What a container asks for: namespaces to create, and ones to join by path."""

    def __init__(self, namespaces):
        self.create = []
        self.join = {}
        for ns in namespaces or ():
            if ns.get("path"):
                self.join[ns["type"]] = ns["path"]
            else:
                self.create.append(ns["type"])

    def has_own(self, ns_type):
        """True when the container does not share this namespace with the host."""
        return ns_type in self.create or ns_type in self.join

    def creates(self, ns_type):
        return ns_type in self.create

    def unshare_flags(self, exclude=()):
        flags = 0
        for ns_type in self.create:
            if ns_type not in exclude:
                flags |= NAMESPACES[ns_type][0]
        return flags

    def open_join_fds(self):
        """Open every namespace path now, so a bad path fails before anything is built."""
        fds = []
        for ns_type in JOIN_ORDER:
            path = self.join.get(ns_type)
            if path is None:
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as e:
                raise OcirtError(
                    f"cannot open {ns_type} namespace {path}: {e.strerror}",
                    path=f"linux.namespaces[type={ns_type}].path",
                ) from None
            fds.append((ns_type, fd))
        return fds


def join(fds):
    """setns into each (type, fd) in order; closes the fds."""
    from ocirt.linux import syscalls

    for ns_type, fd in fds:
        try:
            syscalls.setns(fd, NAMESPACES[ns_type][0])
        except OSError as e:
            raise OcirtError(f"cannot join {ns_type} namespace: {e.strerror}") from None
        finally:
            os.close(fd)


def unshare(flags):
    from ocirt.linux import syscalls

    if not flags:
        return
    try:
        syscalls.unshare(flags)
    except OSError as e:
        names = [t for t, (flag, _) in NAMESPACES.items() if flags & flag]
        raise OcirtError(f"cannot create namespaces {', '.join(names)}: {e.strerror}") from None
