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

NS_GET_NSTYPE = 0xB703  # _IO(0xb7, 0x3), <linux/nsfs.h>: the CLONE_NEW* type of an nsfs fd

# fd -> the path it was opened from, so that a failing setns can name it
# (the fds are inherited by the forked intermediate along with this dict).
_JOIN_PATHS = {}


class NamespacePlan:
    """What a container asks for: namespaces to create, and ones to join by path."""

    def __init__(self, namespaces):
        self.create = []
        self.join = {}
        self.index = {}  # type -> position in linux.namespaces, for error paths
        for i, ns in enumerate(namespaces or ()):
            self.index[ns["type"]] = i
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
        """Open and check every namespace path now, so that a bad path fails
        before anything is built; returns [(type, fd)] in JOIN_ORDER."""
        fds = []
        try:
            for ns_type in JOIN_ORDER:
                path = self.join.get(ns_type)
                if path is not None:
                    where = f"linux.namespaces[{self.index[ns_type]}].path"
                    fds.append((ns_type, open_namespace(ns_type, path, where)))
        except BaseException:
            for _, fd in fds:
                os.close(fd)
            raise
        return fds


def open_namespace(ns_type, path, where=None):
    """An fd for the namespace file `path`, which must be a namespace of `ns_type`
    (runtime-spec: the runtime MUST generate an error if it is not).
    `where` is the JSON path of the entry, for errors about config.json."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise OcirtError(f"cannot open {ns_type} namespace {path}: {e.strerror}", path=where,
                         source="config.json" if where else None) from None
    try:
        actual = fcntl.ioctl(fd, NS_GET_NSTYPE)
    except OSError:
        actual = None  # ENOTTY: not a file of the nsfs
    if actual != NAMESPACES[ns_type][0]:
        os.close(fd)
        other = next((t for t, (flag, _) in NAMESPACES.items() if flag == actual), None)
        what = f"a namespace of type {other}" if other else "not a namespace file"
        raise OcirtError(f"{path} is {what}, not a {ns_type} namespace", path=where,
                         source="config.json" if where else None)
    _JOIN_PATHS[fd] = path
    return fd


def join(fds):
    """setns into each (type, fd) in order; closes the fds.

    After joining a user namespace, become its root (uid and gid 0), as after
    creating one: the host ids the caller had are unmapped there, and files
    and mounts made with unmapped ids fail with EOVERFLOW.
    """
    from ocirt.linux import syscalls

    for ns_type, fd in fds:
        try:
            syscalls.setns(fd, NAMESPACES[ns_type][0])
        except OSError as e:
            where = _JOIN_PATHS.get(fd)
            raise OcirtError(f"cannot join {ns_type} namespace{' ' + where if where else ''}: "
                             f"{e.strerror}") from None
        finally:
            os.close(fd)
        if ns_type == "user":
            try:
                os.setresgid(0, 0, 0)
                os.setresuid(0, 0, 0)
            except OSError as e:
                raise OcirtError(f"cannot become root in the joined user namespace: {e.strerror} "
                                 "(it must map uid and gid 0)") from None


def unshare(flags):
    from ocirt.linux import syscalls

    if not flags:
        return
    try:
        syscalls.unshare(flags)
    except OSError as e:
        names = [t for t, (flag, _) in NAMESPACES.items() if flags & flag]
        raise OcirtError(f"cannot create namespaces {', '.join(names)}: {e.strerror}") from None
