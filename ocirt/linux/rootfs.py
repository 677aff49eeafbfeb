"""Building the container's root filesystem inside its mount namespace.

Order (runtime-spec config.md "Mounts", runtime-linux.md):
  1. "/" gets rootfsPropagation (default: recursive slave, so nothing the
     container mounts reaches the host, while host mounts still propagate in);
  2. the rootfs is bind-mounted on itself so that it is a mount point for pivot_root;
  3. config mounts, in order, each destination resolved inside the rootfs at
     mount time (a symlink in the image cannot point a mount outside it);
  4. /dev: default devices and links when /dev is a fresh tmpfs, then linux.devices;
  5. pivot_root (or MS_MOVE + chroot with --no-pivot);
  6. readonlyPaths, maskedPaths, and root.readonly.
"""
import os
import stat

from ocirt.errors import OcirtError
from ocirt.linux import syscalls
from ocirt.linux.mountopts import parse_mount_options
from ocirt.linux.rootpath import mkdir_in_root, resolve_in_root, touch_in_root

_PROPAGATION = {
    "shared": syscalls.MS_SHARED | syscalls.MS_REC,
    "slave": syscalls.MS_SLAVE | syscalls.MS_REC,
    "private": syscalls.MS_PRIVATE | syscalls.MS_REC,
    "unbindable": syscalls.MS_UNBINDABLE | syscalls.MS_REC,
}

# Flags a bind remount must keep: the kernel locks them on mounts that came
# from a more privileged mount namespace, and a remount that drops one fails.
_LOCKED_FLAGS = syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC | 0x400 | 0x800 | 0x200000
# (0x400 MS_NOATIME, 0x800 MS_NODIRATIME, 0x200000 MS_RELATIME; statvfs's f_flag uses the same bits)


def _mount(source, target, fstype, flags=0, data=None):
    try:
        syscalls.mount(source, target, fstype, flags, data)
    except OSError as e:
        raise OcirtError(f"mount {fstype or source} on {target}: {e.strerror}") from None


def set_root_propagation(propagation):
    flags = _PROPAGATION.get(propagation or "slave")
    if flags is None:
        raise OcirtError(f"unknown rootfsPropagation {propagation!r}", path="linux.rootfsPropagation")
    _mount(None, "/", None, flags)


def bind_rootfs(rootfs):
    _mount(rootfs, rootfs, None, syscalls.MS_BIND | syscalls.MS_REC)
    # pivot_root refuses a new root whose parent mount is shared.
    _mount(None, rootfs, None, syscalls.MS_PRIVATE)


class MountContext:
    """What mounting needs beyond the mount entry itself."""

    def __init__(self, rootfs, bundle, cgroup_views=(), own_cgroup_ns=False, own_net_ns=True,
                 in_user_ns=False):
        self.rootfs = rootfs
        self.bundle = bundle
        self.cgroup_views = cgroup_views  # [(name, fstype, options, host_dir)]
        self.own_cgroup_ns = own_cgroup_ns
        self.own_net_ns = own_net_ns
        self.in_user_ns = in_user_ns


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
        _cgroup_mount(ctx, fstype, destination, opts)
    else:
        target = mkdir_in_root(ctx.rootfs, destination)
        flags = opts.flags & ~syscalls.MS_REMOUNT
        try:
            syscalls.mount(source, target, fstype, flags, opts.data or None)
        except PermissionError:
            # sysfs needs a network namespace of our own; without one, show the host's.
            if fstype == "sysfs" and not ctx.own_net_ns:
                _mount("/sys", target, None, syscalls.MS_BIND | syscalls.MS_REC)
                _remount_bind(target, opts.flags)
            else:
                raise OcirtError(f"mount {fstype} on {destination}: Operation not permitted",
                                 path=f"mounts[{index}]") from None
        except OSError as e:
            raise OcirtError(f"mount {fstype} on {destination}: {e.strerror}", path=f"mounts[{index}]") from None
    _apply_propagation_and_attrs(ctx, destination, opts)


def _bind_mount(ctx, source, destination, opts, index):
    if not source:
        raise OcirtError("bind mount without a source", path=f"mounts[{index}].source")
    if not os.path.isabs(source):
        source = os.path.join(ctx.bundle, source)
    try:
        source_is_dir = stat.S_ISDIR(os.stat(source).st_mode)
    except OSError as e:
        raise OcirtError(f"bind mount source {source}: {e.strerror}", path=f"mounts[{index}].source") from None
    target = (mkdir_in_root if source_is_dir else touch_in_root)(ctx.rootfs, destination)
    flags = syscalls.MS_BIND | (opts.flags & syscalls.MS_REC)
    _mount(source, target, None, flags)
    extra = opts.flags & ~(syscalls.MS_BIND | syscalls.MS_REC | syscalls.MS_REMOUNT)
    if extra or opts.clear_flags:
        _remount_bind(target, extra, opts.clear_flags)


def _remount_bind(target, flags, clear=0):
    current = os.statvfs(target).f_flag & _LOCKED_FLAGS
    _mount(None, target, None,
           syscalls.MS_BIND | syscalls.MS_REMOUNT | (current & ~clear) | flags)


def _cgroup_mount(ctx, fstype, destination, opts):
    """Show the container its own cgroups at `destination`.

    On a v1 or hybrid host that is a tmpfs holding one directory per hierarchy;
    on pure v2, one cgroup2 mount. With a cgroup namespace each hierarchy is
    mounted fresh (the namespace makes the container's cgroup its root);
    without one, the container's directories are bind-mounted from the host.
    """
    target = mkdir_in_root(ctx.rootfs, destination)
    flags = opts.flags & (syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC)
    views = ctx.cgroup_views
    if len(views) == 1 and views[0][1] == "cgroup2" and views[0][0] == "":
        _mount_one_hierarchy(ctx, target, views[0], flags)
    else:
        _mount("tmpfs", target, "tmpfs", flags, "mode=755")
        for view in views:
            sub = mkdir_in_root(ctx.rootfs, os.path.join(destination, view[0]))
            _mount_one_hierarchy(ctx, sub, view, flags)
        for alias, real in _cgroup_aliases(views):
            link = resolve_in_root(ctx.rootfs, os.path.join(destination, alias))
            if not os.path.lexists(link):
                os.symlink(real, link)
    if opts.flags & syscalls.MS_RDONLY:
        for view in views:
            path = target if view[0] == "" else os.path.join(target, view[0])
            _remount_bind(path, syscalls.MS_RDONLY | flags)
        if not (len(views) == 1 and views[0][0] == ""):
            _mount(None, target, None, syscalls.MS_REMOUNT | syscalls.MS_RDONLY | flags, "mode=755")


def _mount_one_hierarchy(ctx, target, view, flags):
    name, fstype, options, host_dir = view
    if ctx.own_cgroup_ns:
        data = None if fstype == "cgroup2" else options
        _mount(fstype, target, fstype, flags, data)
    else:
        _mount(host_dir, target, None, syscalls.MS_BIND | syscalls.MS_REC)


def _cgroup_aliases(views):
    """cpu,cpuacct style comounts also appear under each controller's name."""
    for name, fstype, _, _ in views:
        if "," in name:
            for part in name.split(","):
                yield part, name


def _apply_propagation_and_attrs(ctx, destination, opts):
    if not (opts.propagation or opts.recursive_set or opts.recursive_clear):
        return
    target = resolve_in_root(ctx.rootfs, destination)
    for flag in opts.propagation:
        _mount(None, target, None, flag)
    if opts.recursive_set or opts.recursive_clear:
        try:
            syscalls.mount_setattr(target, opts.recursive_set, opts.recursive_clear)
        except OSError as e:
            raise OcirtError(f"mount_setattr on {destination}: {e.strerror}") from None


def pivot(rootfs):
    """Make rootfs the new "/" and detach the old root from this mount namespace."""
    try:
        os.chdir(rootfs)
        syscalls.pivot_root(".", ".")
        # The old root is now stacked under "."; make it private so that
        # detaching it cannot propagate an unmount to the host.
        syscalls.mount(None, ".", None, syscalls.MS_SLAVE | syscalls.MS_REC)
        syscalls.umount2(".", syscalls.MNT_DETACH)
        os.chdir("/")
    except OSError as e:
        raise OcirtError(f"pivot_root {rootfs}: {e.strerror}") from None


def move_root(rootfs):
    """--no-pivot: move the rootfs over "/" and chroot into it (for ramfs roots)."""
    try:
        os.chdir(rootfs)
        syscalls.mount(rootfs, "/", None, syscalls.MS_MOVE)
        os.chroot(".")
        os.chdir("/")
    except OSError as e:
        raise OcirtError(f"moving the rootfs {rootfs} to /: {e.strerror}") from None


def chroot_only(rootfs):
    """No mount namespace of its own: a pivot would change the host's root."""
    try:
        os.chroot(rootfs)
        os.chdir("/")
    except OSError as e:
        raise OcirtError(f"chroot {rootfs}: {e.strerror}") from None


def make_readonly(path):
    """Bind `path` onto itself read-only (readonlyPaths); missing paths are skipped."""
    if not os.path.lexists(path):
        return
    try:
        syscalls.mount(path, path, None, syscalls.MS_BIND | syscalls.MS_REC)
        _remount_bind(path, syscalls.MS_RDONLY)
    except OcirtError:
        raise
    except OSError as e:
        raise OcirtError(f"making {path} read-only: {e.strerror}") from None


def mask(path):
    """Hide `path` (maskedPaths): /dev/null over files, an empty read-only tmpfs over dirs."""
    try:
        is_dir = stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return
    try:
        if is_dir:
            syscalls.mount("tmpfs", path, "tmpfs", syscalls.MS_RDONLY, None)
        else:
            syscalls.mount("/dev/null", path, None, syscalls.MS_BIND)
    except OSError as e:
        raise OcirtError(f"masking {path}: {e.strerror}") from None


def remount_root_readonly():
    _remount_bind("/", syscalls.MS_RDONLY)
