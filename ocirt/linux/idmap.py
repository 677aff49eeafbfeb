"""Idmapped bind mounts: a mount's uidMappings/gidMappings and its idmap and
ridmap options (runtime-spec config.md, "POSIX-platform Mounts" and "Linux
mount options").

What the mappings mean. They have the format of the user namespace
mappings and are written, as given, into the uid_map and gid_map of a user
namespace the mount is idmapped with (runc does the same): `containerID` is
an id on the source filesystem, `hostID` the id the kernel sees for it
through the mount, and the container sees that one through its own user
namespace, if any. A file the container creates through the mount is
stored with the id mapped back. With idmap or ridmap and no mappings, the
mappings of the container's user namespace are used, so ids on the source
filesystem show unchanged inside the container; the spec asks for an error
when the container has no user namespace then. idmap maps the top mount of
an rbind, ridmap every mount of it.

Where it happens. The kernel idmaps only a detached mount (open_tree with
OPEN_TREE_CLONE), and only for a caller with CAP_SYS_ADMIN over the
filesystem of the source: root of the host for a host filesystem. The
container's init is in the container's user namespace by the time it
mounts, so the intermediate process prepares each idmapped mount before it
enters that namespace (prepare); the init inherits the fds and attaches
each at its destination with move_mount (rootfs._bind_mount).

The checks a config can fail before anything is built are here as plain
functions of the config (check_mounts), for spec.validate_config.
"""
import errno
import os

from ocirt.errors import OcirtError
from ocirt.linux.mountopts import MS_REC, parse_mount_options

MAX_EXTENTS = 340  # lines the kernel takes in uid_map and gid_map (Linux 4.15+)
_ID_LIMIT = 1 << 32  # ids are 32 bits, and (uid_t)-1 is no id


def wanted(mount):
    """Whether the mounts[] entry asks for an idmapped mount."""
    options = mount.get("options") or ()
    return bool(mount.get("uidMappings") or mount.get("gidMappings")
                or "idmap" in options or "ridmap" in options)


def _is_bind(mount):
    return mount.get("type") == "bind" or parse_mount_options(mount.get("options")).is_bind


def _has_user_namespace(config):
    return any(ns.get("type") == "user" for ns in (config.get("linux") or {}).get("namespaces") or ())


def check_mounts(config, source="config.json"):
    """Refuse idmapped mounts that cannot be made, naming the JSON path."""
    for i, mount in enumerate(config.get("mounts") or ()):
        if not wanted(mount):
            continue
        where = f"mounts[{i}]"
        if not _is_bind(mount):
            raise OcirtError('idmapped mounts are bind mounts only: add "bind" or "rbind" to its options',
                             path=where, source=source)
        uid_mappings, gid_mappings = mount.get("uidMappings"), mount.get("gidMappings")
        if not uid_mappings and not gid_mappings:
            if not _has_user_namespace(config):
                raise OcirtError("idmap without uidMappings and gidMappings takes the mappings of the "
                                 "container's user namespace, and the container has none: add the mappings "
                                 'or a {"type": "user"} namespace', path=f"{where}.options", source=source)
            continue
        for key, extents in (("uidMappings", uid_mappings), ("gidMappings", gid_mappings)):
            if not extents:
                raise OcirtError("an idmapped mount needs both uidMappings and gidMappings",
                                 path=f"{where}.{key}", source=source)
            check_extents(extents, f"{where}.{key}", source)


def check_extents(extents, where, source="config.json"):
    """What the kernel would refuse when the extents are written to uid_map:
    too many, empty, past the last id, or overlapping on either side."""
    if len(extents) > MAX_EXTENTS:
        raise OcirtError(f"{len(extents)} mappings: the kernel takes at most {MAX_EXTENTS}", path=where,
                         source=source)
    for j, extent in enumerate(extents):
        size = extent["size"]
        if size == 0:
            raise OcirtError("size 0 maps nothing", path=f"{where}[{j}].size", source=source)
        for key in ("containerID", "hostID"):
            if extent[key] + size >= _ID_LIMIT:
                raise OcirtError(f"{key} {extent[key]} + size {size} goes past the last id, {_ID_LIMIT - 2}",
                                 path=f"{where}[{j}]", source=source)
            for k, other in enumerate(extents[:j]):
                if extent[key] < other[key] + other["size"] and other[key] < extent[key] + size:
                    raise OcirtError(f"its {key} range overlaps that of {where}[{k}]", path=f"{where}[{j}]",
                                     source=source)


def map_text(extents):
    """The uid_map/gid_map text for runtime-spec mappings."""
    return "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in extents)


def prepare(config, bundle, user_ns_fd=None):
    """{index in mounts: fd of a detached, idmapped copy of the source} for
    every mount that asks for one. Runs as root of the host, before the
    container's user namespace is entered. `user_ns_fd`: the user namespace
    the container joins by path, if it does (idmap without mappings uses
    it as it is)."""
    trees = {}
    namespaces = {}  # (uid map, gid map) -> fd of a user namespace with them
    linux = config.get("linux") or {}
    try:
        for i, mount in enumerate(config.get("mounts") or ()):
            if not wanted(mount):
                continue
            where = f"mounts[{i}]"
            uid_mappings, gid_mappings = mount.get("uidMappings"), mount.get("gidMappings")
            if not uid_mappings and not gid_mappings and user_ns_fd is not None:
                userns = user_ns_fd
            else:
                origin = where
                if not uid_mappings and not gid_mappings:
                    uid_mappings, gid_mappings = linux.get("uidMappings"), linux.get("gidMappings")
                    origin = "linux"
                maps = (map_text(uid_mappings or ()), map_text(gid_mappings or ()))
                if maps not in namespaces:
                    namespaces[maps] = _user_namespace_with(maps, origin)
                userns = namespaces[maps]
            source = os.path.join(bundle, mount.get("source") or "")
            opts = parse_mount_options(mount.get("options"))
            trees[i] = _idmapped_copy(source, bool(opts.flags & MS_REC), opts.ridmap, userns, where)
    except BaseException:
        for fd in trees.values():
            os.close(fd)
        raise
    finally:
        for fd in namespaces.values():
            os.close(fd)
    return trees


def _user_namespace_with(maps, where):
    """An fd of a new user namespace with these (uid_map, gid_map) texts,
    which come from the uidMappings and gidMappings under `where`.

    A child creates it and waits; this process, root of the host, writes
    its maps and opens it; the namespace then lives on through the fd."""
    from ocirt.linux import syscalls

    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            os.close(done_w)
            syscalls.unshare(syscalls.CLONE_NEWUSER)
            os.write(ready_w, b"1")
            os.read(done_r, 1)  # end-of-file once the parent is done with us
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(done_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise OcirtError("cannot create a user namespace for the idmapped mount", path=where)
        for name, text, key in (("uid_map", maps[0], "uidMappings"), ("gid_map", maps[1], "gidMappings")):
            try:
                with open(f"/proc/{pid}/{name}", "w") as f:
                    f.write(text)
            except OSError as e:
                raise OcirtError(f"writing {name} of the idmapping: {e.strerror}", path=f"{where}.{key}") from None
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(ready_r)
        os.close(done_w)
        os.waitpid(pid, 0)


def _idmapped_copy(source, recursive, ridmap, userns_fd, where):
    """A detached copy of the mount at `source` (of its whole tree for rbind),
    idmapped through `userns_fd` (every mount of it for ridmap)."""
    from ocirt.linux import syscalls

    flags = syscalls.OPEN_TREE_CLONE | syscalls.OPEN_TREE_CLOEXEC | (syscalls.AT_RECURSIVE if recursive else 0)
    try:
        tree = syscalls.open_tree(source, flags)
    except OSError as e:
        raise OcirtError(f"idmapped mount of {source}: {os.strerror(e.errno)}", path=where) from None
    try:
        syscalls.mount_setattr("", syscalls.MOUNT_ATTR_IDMAP, dirfd=tree, userns_fd=userns_fd,
                               flags=syscalls.AT_EMPTY_PATH, recursive=ridmap)
    except OSError as e:
        os.close(tree)
        raise OcirtError(f"idmapped mount of {source}: {_why(e.errno, source)}", path=where) from None
    return tree


def _why(error, source):
    if error == errno.EINVAL:
        fstype = _filesystem_type(source)
        return f"its filesystem{' (' + fstype + ')' if fstype else ''} does not support idmapped mounts"
    if error == errno.EPERM:
        return ("not permitted: idmapping needs CAP_SYS_ADMIN over the filesystem (ocirt as root of the host), "
                "and a source that is not idmapped already")
    if error == errno.ENOSYS:
        return "this kernel has no idmapped mounts (Linux 5.12 or later has)"
    return os.strerror(error)


def _filesystem_type(path):
    """The type of the filesystem holding `path`, from mountinfo, or None."""
    from ocirt.linux.mountinfo import unescape
    from ocirt.linux.rootfs import mount_id

    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        try:
            wanted_id = str(mount_id(fd))
        finally:
            os.close(fd)
        with open("/proc/self/mountinfo") as f:
            for line in f:
                if line.split(" ", 1)[0] == wanted_id:
                    return unescape(line.partition(" - ")[2].split()[0])
    except (OSError, IndexError):
        pass
    return None
