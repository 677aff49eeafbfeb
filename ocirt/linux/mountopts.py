"""Parse the `options` of an OCI mount into mount(2) flags, propagation
changes, mount_setattr(2) attributes and filesystem data.

Pure data: nothing here touches the kernel, so the mount code stays a
short sequence of calls and this table can be tested on its own.
"""

# mount(2) flags, from linux/mount.h.
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_POSIXACL = 1 << 16
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_I_VERSION = 1 << 23
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

# mount_setattr(2) attributes, from linux/mount.h. The atime modes are an
# enum inside MOUNT_ATTR__ATIME, not independent bits (RELATIME is 0).
MOUNT_ATTR_RDONLY = 0x00000001
MOUNT_ATTR_NOSUID = 0x00000002
MOUNT_ATTR_NODEV = 0x00000004
MOUNT_ATTR_NOEXEC = 0x00000008
MOUNT_ATTR__ATIME = 0x00000070
MOUNT_ATTR_RELATIME = 0x00000000
MOUNT_ATTR_NOATIME = 0x00000010
MOUNT_ATTR_STRICTATIME = 0x00000020
MOUNT_ATTR_NODIRATIME = 0x00000080
MOUNT_ATTR_IDMAP = 0x00100000
MOUNT_ATTR_NOSYMFOLLOW = 0x00200000
AT_RECURSIVE = 0x8000

# option -> (clear?, MS_* bit). A later option overrides an earlier one
# on the same bit ("ro,rw" is rw), as mount(8) does.
_FLAGS = {
    "async": (True, MS_SYNCHRONOUS),
    "atime": (True, MS_NOATIME),
    "bind": (False, MS_BIND),
    "dev": (True, MS_NODEV),
    "diratime": (True, MS_NODIRATIME),
    "dirsync": (False, MS_DIRSYNC),
    "exec": (True, MS_NOEXEC),
    "iversion": (False, MS_I_VERSION),
    "lazytime": (False, MS_LAZYTIME),
    "loud": (True, MS_SILENT),
    "mand": (False, MS_MANDLOCK),
    "noatime": (False, MS_NOATIME),
    "nodev": (False, MS_NODEV),
    "nodiratime": (False, MS_NODIRATIME),
    "noexec": (False, MS_NOEXEC),
    "noiversion": (True, MS_I_VERSION),
    "nolazytime": (True, MS_LAZYTIME),
    "nomand": (True, MS_MANDLOCK),
    "norelatime": (True, MS_RELATIME),
    "nostrictatime": (True, MS_STRICTATIME),
    "nosuid": (False, MS_NOSUID),
    "nosymfollow": (False, MS_NOSYMFOLLOW),
    "rbind": (False, MS_BIND | MS_REC),
    "relatime": (False, MS_RELATIME),
    "remount": (False, MS_REMOUNT),
    "ro": (False, MS_RDONLY),
    "rw": (True, MS_RDONLY),
    "silent": (False, MS_SILENT),
    "strictatime": (False, MS_STRICTATIME),
    "suid": (True, MS_NOSUID),
    "symfollow": (True, MS_NOSYMFOLLOW),
    "sync": (False, MS_SYNCHRONOUS),
}

_PROPAGATION = {
    "private": MS_PRIVATE,
    "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED,
    "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE,
    "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE,
    "runbindable": MS_UNBINDABLE | MS_REC,
}

# Recursive attributes (applied with mount_setattr + AT_RECURSIVE):
# option -> (clear?, MOUNT_ATTR_* bit).
_RECURSIVE = {
    "rro": (False, MOUNT_ATTR_RDONLY),
    "rrw": (True, MOUNT_ATTR_RDONLY),
    "rnosuid": (False, MOUNT_ATTR_NOSUID),
    "rsuid": (True, MOUNT_ATTR_NOSUID),
    "rnodev": (False, MOUNT_ATTR_NODEV),
    "rdev": (True, MOUNT_ATTR_NODEV),
    "rnoexec": (False, MOUNT_ATTR_NOEXEC),
    "rexec": (True, MOUNT_ATTR_NOEXEC),
    "rnodiratime": (False, MOUNT_ATTR_NODIRATIME),
    "rdiratime": (True, MOUNT_ATTR_NODIRATIME),
    "rnosymfollow": (False, MOUNT_ATTR_NOSYMFOLLOW),
    "rsymfollow": (True, MOUNT_ATTR_NOSYMFOLLOW),
}

# The kernel rejects a partial MOUNT_ATTR__ATIME in attr_clr, so every
# recursive atime option selects a whole mode: "turn X off" options fall
# back to the kernel default (relatime), except rnorelatime, which as in
# mount(8) means "update atime on every access" (strictatime).
_RECURSIVE_ATIME = {
    "ratime": MOUNT_ATTR_RELATIME,
    "rnoatime": MOUNT_ATTR_NOATIME,
    "rrelatime": MOUNT_ATTR_RELATIME,
    "rnorelatime": MOUNT_ATTR_STRICTATIME,
    "rstrictatime": MOUNT_ATTR_STRICTATIME,
    "rnostrictatime": MOUNT_ATTR_RELATIME,
}

# Options ocirt itself acts on rather than passing them to mount(2).
_EXTENSIONS = ("defaults", "idmap", "ridmap", "tmpcopyup")

MOUNT_OPTION_NAMES = sorted(
    (*_FLAGS, *_PROPAGATION, *_RECURSIVE, *_RECURSIVE_ATIME, *_EXTENSIONS))


class MountOptions:
    """What a mount's `options` ask for, split by the call that does it."""

    __slots__ = ("flags", "clear_flags", "propagation", "recursive_set",
                 "recursive_clear", "is_bind", "data", "idmap", "ridmap",
                 "tmpcopyup")

    def __init__(self):
        self.flags = 0            # MS_* bits to set
        self.clear_flags = 0      # MS_* bits explicitly cleared (rw, suid, ...)
        self.propagation = []     # MS_SHARED/... possibly | MS_REC, in order
        self.recursive_set = 0    # MOUNT_ATTR_* for mount_setattr attr_set
        self.recursive_clear = 0  # MOUNT_ATTR_* for mount_setattr attr_clr
        self.is_bind = False
        self.data = ""            # unknown options, for the filesystem
        self.idmap = False
        self.ridmap = False
        self.tmpcopyup = False

    def __repr__(self):
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"MountOptions({fields})"


def parse_mount_options(options):
    """Split a mount's `options` list into a MountOptions."""
    result = MountOptions()
    data = []
    for option in options or ():
        if option in _FLAGS:
            clear, bit = _FLAGS[option]
            if clear:
                result.flags &= ~bit
                result.clear_flags |= bit
            else:
                result.flags |= bit
                result.clear_flags &= ~bit
        elif option in _PROPAGATION:
            result.propagation.append(_PROPAGATION[option])
        elif option in _RECURSIVE:
            clear, bit = _RECURSIVE[option]
            if clear:
                result.recursive_set &= ~bit
                result.recursive_clear |= bit
            else:
                result.recursive_set |= bit
                result.recursive_clear &= ~bit
        elif option in _RECURSIVE_ATIME:
            result.recursive_set = (result.recursive_set & ~MOUNT_ATTR__ATIME) | _RECURSIVE_ATIME[option]
            result.recursive_clear |= MOUNT_ATTR__ATIME
        elif option == "idmap":
            result.idmap = True
        elif option == "ridmap":
            result.ridmap = True
        elif option == "tmpcopyup":
            result.tmpcopyup = True
        elif option != "defaults":
            data.append(option)
    result.is_bind = bool(result.flags & MS_BIND)
    result.data = ",".join(data)
    return result
