"""Device nodes inside the container's /dev, and the device cgroup rules they need."""
import os
import stat

from ocirt.errors import OcirtError
from ocirt.linux.rootpath import fd_path_in_root, open_file_in_root, open_parent_in_root

# The devices every container gets (runtime-spec "Default Devices").
DEFAULT_DEVICES = (
    # path, type, major, minor
    ("/dev/null", "c", 1, 3),
    ("/dev/zero", "c", 1, 5),
    ("/dev/full", "c", 1, 7),
    ("/dev/random", "c", 1, 8),
    ("/dev/urandom", "c", 1, 9),
    ("/dev/tty", "c", 5, 0),
)

DEFAULT_LINKS = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
    ("pts/ptmx", "/dev/ptmx"),
)

# Rules the default devices and the container's own pseudo-terminals need:
# /dev/pts/* (136) and /dev/ptmx (5:2).
_DEFAULT_RULES = tuple(
    {"allow": True, "type": t, "major": major, "minor": minor, "access": "rwm"}
    for _, t, major, minor in DEFAULT_DEVICES
) + (
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},
)

_TYPE_BITS = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def cgroup_rules(config_rules, devices):
    """The device cgroup rules to apply: the config's, then allow rules for every
    device the container is given (defaults and linux.devices) that the config
    does not mention itself, so that the devices the spec promises also work.
    """
    rules = list(config_rules or ())
    mentioned = {(r.get("type"), r.get("major"), r.get("minor")) for r in rules if r.get("type")}
    extra = list(_DEFAULT_RULES)
    for dev in devices or ():
        if dev.get("type") not in ("c", "u", "b"):
            continue  # a fifo ("p") is no device: the device cgroup has no rule for it
        extra.append({"allow": True, "type": "c" if dev["type"] == "u" else dev["type"],
                      "major": dev.get("major"), "minor": dev.get("minor"), "access": "rwm"})
    for rule in extra:
        if (rule["type"], rule.get("major"), rule.get("minor")) not in mentioned:
            rules.append(rule)
    return rules


def create_device(rootfs, dev, use_bind):
    """Create one device node at dev["path"] inside rootfs (mknod, or a bind mount of
    the host's node where mknod is not allowed, as in a user namespace).

    Everything goes through an fd of the parent directory (mknodat, fchownat
    without following symlinks): a path string would be walked again by the
    kernel, after a container sharing the rootfs may have made a component
    of it a symlink to the host."""
    path = dev["path"]
    if use_bind:
        _bind_host_device(rootfs, path)
        return
    kind = _TYPE_BITS[dev["type"]]
    mode = dev.get("fileMode", 0o666) & 0o7777
    parent_fd, name = open_parent_in_root(rootfs, path)
    try:
        try:
            os.unlink(name, dir_fd=parent_fd)
        except FileNotFoundError:
            pass
        if kind == stat.S_IFIFO:
            os.mkfifo(name, mode, dir_fd=parent_fd)
        else:
            os.mknod(name, kind | mode, os.makedev(dev["major"], dev["minor"]), dir_fd=parent_fd)
        # mknod's mode is filtered by the umask
        os.chmod(name, mode, dir_fd=parent_fd, follow_symlinks=False)
        os.chown(name, dev.get("uid", 0), dev.get("gid", 0), dir_fd=parent_fd, follow_symlinks=False)
    except PermissionError:
        _bind_host_device(rootfs, path)
    except OSError as e:
        raise OcirtError(f"cannot create device {path}: {e.strerror}") from None
    finally:
        os.close(parent_fd)


def _bind_host_device(rootfs, path):
    from ocirt.linux import syscalls

    if not os.path.exists(path):
        raise OcirtError(f"cannot create device {path}: mknod not permitted and the host has no {path} to bind")
    target_fd = open_file_in_root(rootfs, path)
    try:
        syscalls.mount(path, fd_path_in_root(rootfs, target_fd), None, syscalls.MS_BIND)
    except OcirtError as e:
        raise OcirtError(f"cannot bind device {path}: {e.message}") from None
    except OSError as e:
        raise OcirtError(f"cannot bind device {path}: {e.strerror}") from None
    finally:
        os.close(target_fd)


def create_default_devices(rootfs, in_user_namespace):
    for path, kind, major, minor in DEFAULT_DEVICES:
        create_device(rootfs, {"path": path, "type": kind, "major": major, "minor": minor,
                               "fileMode": 0o666}, in_user_namespace)
    links = list(DEFAULT_LINKS)
    if os.path.exists("/proc/kcore"):
        links.append(("/proc/kcore", "/dev/core"))
    for source, link in links:
        parent_fd, name = open_parent_in_root(rootfs, link)
        try:
            os.symlink(source, name, dir_fd=parent_fd)
        except FileExistsError:
            pass  # the image's own entry stays
        finally:
            os.close(parent_fd)
