"""Building the container's root filesystem inside its mount namespace.

Order (runtime-spec config.md "Mounts", runtime-linux.md):
  1. "/" becomes a recursive slave (private for rootfsPropagation private),
     so that nothing the container mounts reaches the host while host mounts
     still propagate in. With rootfsPropagation shared it stays shared, as
     under runc: a bind of a shared host directory is then a true peer of it
     (Kubernetes' Bidirectional volumes); only the mount holding the rootfs
     is made private, so that the rootfs and what is mounted on it stay in
     the container, and pivot_root accepts it;
  2. the rootfs is bind-mounted on itself so that it is a mount point for pivot_root;
  3. config mounts, in order, each destination resolved inside the rootfs at
     mount time (a symlink in the image cannot point a mount outside it);
  4. /dev: default devices and links when /dev is a fresh tmpfs, then linux.devices;
  5. pivot_root (or MS_MOVE + chroot with --no-pivot); then rootfsPropagation
     shared or unbindable is applied to the container's "/" ("rshared" and
     "runbindable" to everything below it too);
  6. readonlyPaths, maskedPaths, and root.readonly (their bind mounts work
     around an unbindable tree, see _bind).
"""
import os
import stat

from ocirt.errors import OcirtError
from ocirt.linux import syscalls
from ocirt.linux.mountopts import parse_mount_options
from ocirt.linux.rootpath import (fd_path_in_root, open_dir_in_root, open_file_in_root,
                                  open_in_root)
from ocirt.linux.mountinfo import unescape

_REC = syscalls.MS_REC
# rootfsPropagation -> (propagation of "/" while the rootfs is built,
# propagation of the container's "/" after pivot_root or 0). The spec names
# the first four; runc and crun also take the recursive forms.
_PROPAGATION = {
    "slave": (syscalls.MS_SLAVE | _REC, 0),
    "rslave": (syscalls.MS_SLAVE | _REC, 0),
    "private": (syscalls.MS_PRIVATE | _REC, 0),
    "rprivate": (syscalls.MS_PRIVATE | _REC, 0),
    "shared": (syscalls.MS_SHARED | _REC, syscalls.MS_SHARED),
    "rshared": (syscalls.MS_SHARED | _REC, syscalls.MS_SHARED | _REC),
    "unbindable": (syscalls.MS_SLAVE | _REC, syscalls.MS_UNBINDABLE),
    "runbindable": (syscalls.MS_SLAVE | _REC, syscalls.MS_UNBINDABLE | _REC),
}

# Set by set_root_propagation, applied by pivot() or move_root(): the same
# process runs both, in that order.
_final_root_propagation = 0

# Flags a bind remount must keep: the kernel locks them on mounts that came
# from a more privileged mount namespace, and a remount that drops one fails.
# statvfs's f_flag uses the MS_* bits for these (not for relatime: ST_RELATIME
# is 0x1000, and a remount without an atime flag gets relatime anyway).
_LOCKED_FLAGS = syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC | 0x400 | 0x800
# (0x400 MS_NOATIME, 0x800 MS_NODIRATIME)


def _mount(source, target, fstype, flags=0, data=None, shown=None, where=None):
    """mount(2), failing with an OcirtError that names the mount as the
    container sees it (`shown`) and its JSON path (`where`), if given."""
    try:
        syscalls.mount(source, target, fstype, flags, data)
    except OSError as e:
        if fstype or source:
            what = f"mount {fstype or source} on {shown or target}"
        else:
            what = f"{'remount' if flags & syscalls.MS_REMOUNT else 'mount propagation'} of {shown or target}"
        raise OcirtError(f"{what}: {_strerror(e)}", path=where) from None


def _strerror(error):
    """The bare reason: syscalls' OSErrors already name the call in strerror."""
    return os.strerror(error.errno) if error.errno else str(error)


def set_root_propagation(propagation):
    """Step 1; remembers what pivot() applies to the container's "/" later."""
    global _final_root_propagation
    flags = _PROPAGATION.get(propagation or "rslave")
    if flags is None:
        raise OcirtError(f"unknown rootfsPropagation {propagation!r}", path="linux.rootfsPropagation")
    setup, _final_root_propagation = flags
    _mount(None, "/", None, setup)


def bind_rootfs(rootfs):
    if _final_root_propagation & syscalls.MS_SHARED:  # "/" was left shared
        point, tags = _mount_of(rootfs)
        if "shared" in tags:
            # Else the bind below would propagate to the host, and pivot_root
            # refuses a new root whose parent mount is shared.
            _mount(None, point, None, syscalls.MS_PRIVATE)
    _mount(rootfs, rootfs, None, syscalls.MS_BIND | syscalls.MS_REC)


def _apply_final_root_propagation():
    global _final_root_propagation
    flags, _final_root_propagation = _final_root_propagation, 0
    if flags:
        _mount(None, "/", None, flags)


def _mountinfo():
    """[(mount point, optional fields)] of this process, in mount order."""
    with open("/proc/self/mountinfo") as f:
        lines = f.read().splitlines()
    out = []
    for line in lines:
        left = line.partition(" - ")[0].split()
        if len(left) >= 6:
            out.append((unescape(left[4]), set(t.partition(":")[0] for t in left[6:])))
    return out


def _mount_of(path):
    """(mount point, propagation tags) of the topmost mount holding `path` (an absolute, real path)."""
    mounts = _mountinfo()
    best = ("/", set())
    for point, tags in mounts:
        if path == point or path.startswith(point.rstrip("/") + "/"):
            if len(point) >= len(best[0]):
                best = (point, tags)
    return best


def _bind(source, dest, flags, expect):
    """Bind source on dest (a _Destination); with rootfsPropagation runbindable
    (or unbindable and a path on "/"), the mount holding the source is
    unbindable, so it is made private for the moment of the bind and
    unbindable again after, and the new mount is unbindable like the rest
    of the tree. `expect`: the stat of the source, to find the new mount by."""
    target = dest.target()
    try:
        syscalls.mount(source, target, None, syscalls.MS_BIND | flags, None)
        return
    except OSError as e:
        if e.errno != 22:  # EINVAL
            raise
        point, tags = _mount_of(os.path.realpath(source))
        if "unbindable" not in tags:
            raise
    syscalls.mount(None, point, None, syscalls.MS_PRIVATE, None)
    try:
        syscalls.mount(source, target, None, syscalls.MS_BIND | flags, None)
    finally:
        syscalls.mount(None, point, None, syscalls.MS_UNBINDABLE, None)
    syscalls.mount(None, dest.new_mount_path(expect), None, syscalls.MS_UNBINDABLE, None)


class MountContext:
    """What mounting needs beyond the mount entry itself."""

    def __init__(self, rootfs, bundle, cgroup_views=(), own_net_ns=True, in_user_ns=False,
                 idmapped_trees=None):
        self.rootfs = rootfs
        self.bundle = bundle
        self.cgroup_views = cgroup_views  # [(directory name under the mount, host dir)]
        self.own_net_ns = own_net_ns
        self.in_user_ns = in_user_ns
        # {index in mounts: fd of the detached, idmapped mount to attach there} (idmap.prepare)
        self.idmapped_trees = idmapped_trees or {}


def mount_id(fd):
    """The id of the mount `fd` is on (as in /proc/self/mountinfo)."""
    with open(f"/proc/self/fdinfo/{fd}") as f:
        for line in f:
            if line.startswith("mnt_id:"):
                return int(line.split()[1])
    return None


class _Destination:
    """Where one mount goes: `fd` names what the mount will cover, found by a
    walk that stays inside `root` (rootpath).

    mount(2) takes paths, and the kernel would walk a path string again, after
    a container sharing the rootfs may have swapped a directory on it for a
    symlink to the host (CVE-2023-27561, CVE-2021-30465). So the kernel gets
    /proc/self/fd/N, which leads to the file of the fd and nowhere else.
    Before pivot_root that /proc is the host's (paths resolve from the host's
    root, even once the container's proc is mounted in the rootfs); after,
    the container's. In both, "self" is the init.
    """

    def __init__(self, root, path, where, fd):
        self.root = root
        self.path = path    # as the container sees it, for messages
        self.where = where  # the mount's JSON path, for messages
        self.fd = fd
        self.top = None     # fd of the mount made on fd, once asked for
        # After pivot_root, in a container without /proc: the path itself,
        # which the kernel then resolves inside the container's root anyway.
        self.by_path = root == "/" and not os.path.isdir("/proc/self/fd")

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        os.close(self.fd)
        if self.top is not None:
            os.close(self.top)

    def proc_path(self, fd, path=None):
        """The path to hand mount(2) for `fd` (which names `path`, or the destination)."""
        if self.by_path:
            return path or self.path
        try:
            return fd_path_in_root(self.root, fd)
        except OcirtError as e:
            raise OcirtError(f"mount on {self.path}: {e.message}", path=self.where) from None

    def target(self):
        """The path to hand mount(2) to mount on the destination."""
        return self.proc_path(self.fd)

    def mount(self, source, fstype, flags=0, data=None):
        _mount(source, self.target(), fstype, flags, data, shown=self.path, where=self.where)

    def new_mount_fd(self, expect=None):
        """An fd of the mount just made on the destination, for what acts on
        that mount (remount, propagation, filling it). The destination's fd
        names the directory underneath, so this walks again from the root,
        and checks that it found another mount than the one covered and, for
        a bind (`expect`: the stat of its source), the source's own file:
        else something was renamed in between, and create fails."""
        if self.top is None:
            fd = open_in_root(self.root, self.path)
            found = fd is not None and (self.by_path or mount_id(fd) != mount_id(self.fd))
            if found and expect is not None:
                st = os.fstat(fd)
                found = (st.st_dev, st.st_ino) == (expect.st_dev, expect.st_ino)
            if not found:
                if fd is not None:
                    os.close(fd)
                raise OcirtError(f"{self.path} changed while it was being mounted on; is another container "
                                 f"sharing this root filesystem?", path=self.where)
            self.top = fd
        return self.top

    def new_mount_path(self, expect=None):
        return self.proc_path(self.new_mount_fd(expect))


def _in_root(where, opener, root, path):
    """opener(root, path) (a rootpath open_*), its errors naming the mount."""
    try:
        return opener(root, path)
    except OcirtError as e:
        raise OcirtError(e.message, path=e.path or where) from None


def mount_entry(ctx, entry, index):
    destination = entry["destination"]
    if not destination.startswith("/"):
        destination = "/" + destination  # runc resolves relative destinations against /
    fstype = entry.get("type") or ""
    opts = parse_mount_options(entry.get("options") or ())
    if fstype == "bind":
        opts.is_bind = True
    source = entry.get("source")
    if opts.is_bind:
        _bind_mount(ctx, source, destination, opts, index)
    elif fstype in ("cgroup", "cgroup2"):
        _cgroup_mount(ctx, destination, opts, index)
    else:
        _filesystem_mount(ctx, fstype, source, destination, opts, index)


def _filesystem_mount(ctx, fstype, source, destination, opts, index):
    where = f"mounts[{index}]"
    fd = _in_root(where, open_in_root, ctx.rootfs, destination)
    old_mode = None
    if fd is not None:
        old_mode = os.fstat(fd).st_mode
        if not stat.S_ISDIR(old_mode):
            os.close(fd)
            fd = None
    if fd is None:
        fd = _in_root(where, open_dir_in_root, ctx.rootfs, destination)
    with _Destination(ctx.rootfs, destination, where, fd) as dest:
        flags = opts.flags & ~syscalls.MS_REMOUNT
        if fstype == "tmpfs" and old_mode is not None and stat.S_ISDIR(old_mode):
            _tmpfs_mount(dest, source, flags, opts, old_mode)
        else:
            target = dest.target()
            try:
                syscalls.mount(source, target, fstype, flags, opts.data or None)
            except PermissionError:
                # sysfs needs a network namespace of our own; without one, show the host's.
                if fstype == "sysfs" and not ctx.own_net_ns:
                    dest.mount("/sys", None, syscalls.MS_BIND | syscalls.MS_REC)
                    _remount_bind(dest, opts.flags, expect=os.stat("/sys"))
                else:
                    raise OcirtError(f"mount {fstype} on {destination}: Operation not permitted",
                                     path=where) from None
            except OSError as e:
                raise OcirtError(f"mount {fstype} on {destination}: {_strerror(e)}", path=where) from None
        _apply_propagation_and_attrs(dest, opts)


def _tmpfs_mount(dest, source, flags, opts, old_mode):
    """A tmpfs over an existing directory of the image.

    Without a mode= option it takes the directory's mode (as runc does:
    a tmpfs over /run stays 0755 rather than tmpfs's 1777), through the
    mount data rather than a chmod afterwards, which would take a path.
    With tmpcopyup the directory's contents are copied into it first
    (podman asks for this on /tmp, /run, /var/tmp): through a descriptor
    opened before the mount, since the mount hides the directory's own
    entries.
    """
    data = opts.data
    if not any(o.startswith("mode=") for o in data.split(",")):
        data = ",".join(filter(None, (data, f"mode={stat.S_IMODE(old_mode):o}")))
    under = None
    if opts.tmpcopyup:
        under = _open_directory(dest, dest.target())
    try:
        dest.mount(source or "tmpfs", "tmpfs", flags, data)
        if under is not None:
            top = _open_directory(dest, dest.new_mount_path())
            try:
                _copy_tree(under, top)
            except OSError as e:
                raise OcirtError(f"tmpcopyup on {dest.path}: {_strerror(e)}", path=dest.where) from None
            finally:
                os.close(top)
    finally:
        if under is not None:
            os.close(under)


def _open_directory(dest, proc_path):
    try:
        return os.open(proc_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise OcirtError(f"tmpcopyup on {dest.path}: {_strerror(e)}", path=dest.where) from None


def _copy_tree(src_fd, dst_fd):
    """Copy the entries of directory src_fd into directory dst_fd, keeping
    modes, owners and symlinks; fds only, so no path can lead elsewhere."""
    for entry in os.scandir(src_fd):
        name = entry.name
        st = entry.stat(follow_symlinks=False)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            os.mkdir(name, 0o700, dir_fd=dst_fd)
            sub_src = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_fd)
            try:
                sub_dst = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                  dir_fd=dst_fd)
                try:
                    _copy_tree(sub_src, sub_dst)
                finally:
                    os.close(sub_dst)
            finally:
                os.close(sub_src)
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(name, dir_fd=src_fd), name, dir_fd=dst_fd)
        elif stat.S_ISREG(mode):
            fin = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_fd)
            try:
                fout = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                               0o600, dir_fd=dst_fd)
                try:
                    while True:
                        chunk = os.read(fin, 1 << 20)
                        if not chunk:
                            break
                        os.write(fout, chunk)
                finally:
                    os.close(fout)
            finally:
                os.close(fin)
        elif stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            os.mknod(name, mode, st.st_rdev, dir_fd=dst_fd)
        else:
            continue  # sockets: nothing to copy
        os.chown(name, st.st_uid, st.st_gid, dir_fd=dst_fd, follow_symlinks=False)
        if not stat.S_ISLNK(mode):
            os.chmod(name, stat.S_IMODE(mode), dir_fd=dst_fd)
        os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst_fd, follow_symlinks=False)


def _bind_mount(ctx, source, destination, opts, index):
    where = f"mounts[{index}]"
    if not source:
        raise OcirtError("bind mount without a source", path=f"{where}.source")
    if not os.path.isabs(source):
        source = os.path.join(ctx.bundle, source)
    # An idmapped mount comes ready, detached: its own fd says what it is
    # (the source may not even be reachable from the container's user namespace).
    tree = ctx.idmapped_trees.pop(index, None)
    try:
        try:
            source_stat = os.stat(source) if tree is None else os.fstat(tree)
        except OSError as e:
            raise OcirtError(f"bind mount source {source}: {_strerror(e)}", path=f"{where}.source") from None
        opener = open_dir_in_root if stat.S_ISDIR(source_stat.st_mode) else open_file_in_root
        with _Destination(ctx.rootfs, destination, where, _in_root(where, opener, ctx.rootfs, destination)) as dest:
            if tree is not None:
                _attach(dest, tree)
            else:
                dest.mount(source, None, syscalls.MS_BIND | (opts.flags & syscalls.MS_REC))
            extra = opts.flags & ~(syscalls.MS_BIND | syscalls.MS_REC | syscalls.MS_REMOUNT)
            if extra or opts.clear_flags:
                _remount_bind(dest, extra, opts.clear_flags, expect=source_stat)
            _apply_propagation_and_attrs(dest, opts, expect=source_stat)
    finally:
        if tree is not None:
            os.close(tree)


def _attach(dest, tree):
    """Move the detached mount `tree` onto the destination; its flags are
    then changed like those of any bind mount."""
    try:
        dest.target()  # the check that the destination is still in the rootfs
        syscalls.move_mount_fd(tree, dest.fd)
    except OSError as e:
        raise OcirtError(f"attaching the idmapped mount on {dest.path}: {_strerror(e)}", path=dest.where) from None


def _remount_bind(dest, flags, clear=0, expect=None):
    """Change the flags of the bind mount just made on dest."""
    _remount(dest.new_mount_path(expect), flags, clear, dest.path, dest.where)


def _remount(target, flags, clear=0, shown=None, where=None):
    # A bind remount replaces all the flags: keep the ones the kernel locks.
    current = os.statvfs(target).f_flag & _LOCKED_FLAGS
    _mount(None, target, None, syscalls.MS_BIND | syscalls.MS_REMOUNT | (current & ~clear) | flags,
           shown=shown, where=where)


def _cgroup_mount(ctx, destination, opts, index):
    """Show the container its own cgroups at `destination`.

    Each hierarchy's directory of the container is bind-mounted from the host
    (on v1 and hybrid hosts under a tmpfs holding one directory per
    hierarchy; on pure v2 directly), so the container sees its own cgroup as
    the root whether or not it has a cgroup namespace. Bind mounts rather
    than fresh cgroupfs mounts because the init joins its cgroups only just
    before exec (see init._wait_and_exec), after the mounts are made.
    """
    where = f"mounts[{index}]"
    flags = opts.flags & (syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC)
    view_flags = flags | (opts.flags & syscalls.MS_RDONLY)
    views = ctx.cgroup_views
    with _Destination(ctx.rootfs, destination, where,
                      _in_root(where, open_dir_in_root, ctx.rootfs, destination)) as dest:
        if len(views) == 1 and views[0][0] == "":
            _bind_cgroup_view(dest, views[0][1], view_flags)
        else:
            dest.mount("tmpfs", "tmpfs", flags, "mode=755")
            top = dest.new_mount_fd()
            for name, host_dir in views:
                # Inside the tmpfs just made, reached through its fd.
                os.mkdir(name, 0o755, dir_fd=top)
                sub_fd = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=top)
                with _Destination(ctx.rootfs, os.path.join(destination, name), where, sub_fd) as sub:
                    _bind_cgroup_view(sub, host_dir, view_flags)
            for alias, real in _cgroup_aliases(views):
                try:
                    os.symlink(real, alias, dir_fd=top)
                except FileExistsError:
                    pass
            if opts.flags & syscalls.MS_RDONLY:
                _mount(None, dest.proc_path(top), None, syscalls.MS_REMOUNT | syscalls.MS_RDONLY | flags,
                       "mode=755", shown=destination, where=where)
        _apply_propagation_and_attrs(dest, opts)


def _bind_cgroup_view(dest, host_dir, flags):
    dest.mount(host_dir, None, syscalls.MS_BIND | syscalls.MS_REC)
    _remount_bind(dest, flags, expect=os.stat(host_dir))


def _cgroup_aliases(views):
    """cpu,cpuacct style comounts also appear under each controller's name."""
    for name, _ in views:
        if "," in name:
            for part in name.split(","):
                yield part, name


def _apply_propagation_and_attrs(dest, opts, expect=None):
    if not (opts.propagation or opts.recursive_set or opts.recursive_clear):
        return
    top = dest.new_mount_fd(expect)
    for flag in opts.propagation:
        _mount(None, dest.proc_path(top), None, flag, shown=dest.path, where=dest.where)
    if opts.recursive_set or opts.recursive_clear:
        try:
            syscalls.mount_setattr("", opts.recursive_set, opts.recursive_clear, dirfd=top,
                                   flags=syscalls.AT_EMPTY_PATH)
        except OSError as e:
            raise OcirtError(f"mount_setattr on {dest.path}: {_strerror(e)}", path=dest.where) from None


def pivot(rootfs):
    """Make rootfs the new "/" and detach the old root from this mount namespace."""
    try:
        old_root = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.chdir(rootfs)
            syscalls.pivot_root(".", ".")
            # The old root is now stacked on the new one. "." must name it:
            # the cwd (the new root) would turn the container's own mounts
            # into slaves, losing their "shared" propagation.
            os.fchdir(old_root)
        finally:
            os.close(old_root)
        # A slave, so that detaching it cannot propagate an unmount to the host.
        syscalls.mount(None, ".", None, syscalls.MS_SLAVE | syscalls.MS_REC)
        syscalls.umount2(".", syscalls.MNT_DETACH)
        os.chdir("/")
    except OSError as e:
        raise OcirtError(f"pivot_root {rootfs}: {_strerror(e)}") from None
    _apply_final_root_propagation()


def move_root(rootfs):
    """--no-pivot: move the rootfs over "/" and chroot into it (for ramfs roots)."""
    try:
        os.chdir(rootfs)
        syscalls.mount(rootfs, "/", None, syscalls.MS_MOVE)
        os.chroot(".")
        os.chdir("/")
    except OSError as e:
        raise OcirtError(f"moving the rootfs {rootfs} to /: {_strerror(e)}") from None
    _apply_final_root_propagation()


def chroot_only(rootfs):
    """No mount namespace of its own: a pivot would change the host's root."""
    try:
        os.chroot(rootfs)
        os.chdir("/")
    except OSError as e:
        raise OcirtError(f"chroot {rootfs}: {_strerror(e)}") from None


def make_readonly(path):
    """Bind `path` onto itself read-only (readonlyPaths); missing paths are skipped."""
    fd = open_in_root("/", path)
    if fd is None:
        return
    with _Destination("/", path, None, fd) as dest:
        itself = os.fstat(fd)
        try:
            _bind(dest.target(), dest, syscalls.MS_REC, itself)
            _remount_bind(dest, syscalls.MS_RDONLY, expect=itself)
        except OSError as e:
            raise OcirtError(f"making {path} read-only: {_strerror(e)}") from None


def mask(path):
    """Hide `path` (maskedPaths): /dev/null over files, an empty read-only tmpfs over dirs."""
    fd = open_in_root("/", path)
    if fd is None:
        return
    with _Destination("/", path, None, fd) as dest:
        try:
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                syscalls.mount("tmpfs", dest.target(), "tmpfs", syscalls.MS_RDONLY, None)
                return
            null = _open_null_device(path)
            try:
                _bind(dest.proc_path(null, "/dev/null"), dest, 0, os.fstat(null))
            finally:
                os.close(null)
        except OSError as e:
            raise OcirtError(f"masking {path}: {_strerror(e)}") from None


def _open_null_device(masked):
    """The container's /dev/null, checked to be the null device: the image or
    another container could have put a file or a link to one there, and
    binding that over a masked path would unmask it (CVE-2025-31133)."""
    fd = open_in_root("/", "/dev/null")
    if fd is not None:
        st = os.fstat(fd)
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3):
            return fd
        os.close(fd)
    raise OcirtError(f"masking {masked}: /dev/null in the container is not the null device")


def remount_root_readonly():
    _remount("/", syscalls.MS_RDONLY)
