"""Device nodes inside the container's /dev, and the device cgroup rules they need."""
import os
import stat

from ocirt.errors import OcirtError
from ocirt.linux.rootpath import resolve_in_root, touch_in_root, mkdir_in_root

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
    the host's node where mknod is not allowed, as in a user namespace)."""
    path = dev["path"]
    target = resolve_in_root(rootfs, path)
    mkdir_in_root(rootfs, os.path.dirname(path))
    if use_bind:
        _bind_host_device(rootfs, path)
        return
    kind = _TYPE_BITS[dev["type"]]
    mode = dev.get("fileMode", 0o666) & 0o7777
    try:
        if os.path.lexists(target):
            os.unlink(target)
        if kind == stat.S_IFIFO:
            os.mkfifo(target, mode)
        else:
            os.mknod(target, kind | mode, os.makedev(dev["major"], dev["minor"]))
        os.chmod(target, mode)  # mknod's mode is filtered by the umask
        os.chown(target, dev.get("uid", 0), dev.get("gid", 0))
    except PermissionError:
        _bind_host_device(rootfs, path)
    except OSError as e:
        raise OcirtError(f"cannot create device {path}: {e.strerror}") from None


def _bind_host_device(rootfs, path):
    from ocirt.linux import syscalls

    if not os.path.exists(path):
        raise OcirtError(f"cannot create device {path}: mknod not permitted and the host has no {path} to bind")
    target = touch_in_root(rootfs, path)
    try:
        syscalls.mount(path, target, None, syscalls.MS_BIND)
    except OSError as e:
        raise OcirtError(f"cannot bind device {path}: {e.strerror}") from None


def create_default_devices(rootfs, in_user_namespace):
    for path, kind, major, minor in DEFAULT_DEVICES:
        create_device(rootfs, {"path": path, "type": kind, "major": major, "minor": minor,
                               "fileMode": 0o666}, in_user_namespace)
    for source, link in DEFAULT_LINKS:
        target = resolve_in_root(rootfs, link)
        if not os.path.lexists(target):
            os.symlink(source, target)
    if os.path.exists("/proc/kcore"):
        target = resolve_in_root(rootfs, "/dev/core")
        if not os.path.lexists(target):
            os.symlink("/proc/kcore", target)
