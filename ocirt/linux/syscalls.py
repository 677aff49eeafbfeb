"""Pythonic wrappers over the C shim: each raises OSError naming the call.

Only the syscalls Python 3.11 lacks are here; everything else uses `os`.
"""
import os

from ocirt._shim import ffi, lib

# clone/unshare/setns flags (linux/sched.h)
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount flags (linux/mount.h)
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_UNBINDABLE = 0x20000
MNT_DETACH = 0x2

# prctl options (linux/prctl.h)
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

_MASK32 = 0xFFFFFFFF


def _fail(what):
    err = ffi.errno
    raise OSError(err, f"{what}: {os.strerror(err)}")


def _cstr(value):
    if value is None:
        return ffi.NULL
    return os.fsencode(value)


def unshare(flags):
    if lib.ocirt_unshare(flags) < 0:
        _fail(f"unshare {flags:#x}")


def setns(fd, nstype=0):
    if lib.ocirt_setns(fd, nstype) < 0:
        _fail("setns")


def mount(source, target, fstype, flags=0, data=None):
    if lib.ocirt_mount(_cstr(source), _cstr(target), _cstr(fstype), flags, _cstr(data)) < 0:
        _fail(f"mount {fstype or source!s} on {target}")


def umount2(target, flags=0):
    if lib.ocirt_umount2(_cstr(target), flags) < 0:
        _fail(f"umount {target}")


def pivot_root(new_root, put_old):
    if lib.ocirt_pivot_root(_cstr(new_root), _cstr(put_old)) < 0:
        _fail(f"pivot_root {new_root}")


def sethostname(name):
    raw = name.encode()
    if lib.ocirt_sethostname(raw, len(raw)) < 0:
        _fail(f"sethostname {name!r}")


def setdomainname(name):
    raw = name.encode()
    if lib.ocirt_setdomainname(raw, len(raw)) < 0:
        _fail(f"setdomainname {name!r}")


def capget():
    """(effective, permitted, inheritable) of this thread as 64-bit masks."""
    eff, perm, inh = (ffi.new("uint32_t[2]") for _ in range(3))
    if lib.ocirt_capget(eff, perm, inh) < 0:
        _fail("capget")
    return tuple(words[0] | (words[1] << 32) for words in (eff, perm, inh))


def capset(effective, permitted, inheritable):
    def words(mask):
        return ffi.new("uint32_t[2]", [mask & _MASK32, (mask >> 32) & _MASK32])

    if lib.ocirt_capset(words(effective), words(permitted), words(inheritable)) < 0:
        _fail("capset")


def prctl(option, arg2=0, arg3=0, arg4=0, arg5=0):
    rc = lib.ocirt_prctl(option, arg2, arg3, arg4, arg5)
    if rc < 0:
        _fail(f"prctl {option}")
    return rc


def personality(persona):
    rc = lib.ocirt_personality(persona)
    if rc < 0:
        _fail(f"personality {persona:#x}")
    return rc


AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = 0o2000000  # O_CLOEXEC
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40
MOUNT_ATTR_IDMAP = 0x00100000


def mount_setattr(path, attr_set=0, attr_clr=0, propagation=0, recursive=True, dirfd=AT_FDCWD,
                  userns_fd=0, flags=0):
    """`userns_fd` goes with MOUNT_ATTR_IDMAP; `flags` adds AT_EMPTY_PATH and the like."""
    flags |= AT_RECURSIVE if recursive else 0
    if lib.ocirt_mount_setattr(dirfd, _cstr(path), flags, attr_set, attr_clr, propagation, userns_fd) < 0:
        _fail(f"mount_setattr {path or dirfd}")


def open_tree(path, flags, dirfd=AT_FDCWD):
    """An fd of the mount at `path`; with OPEN_TREE_CLONE a detached copy of it."""
    fd = lib.ocirt_open_tree(dirfd, _cstr(path), flags)
    if fd < 0:
        _fail(f"open_tree {path}")
    return fd


def move_mount_fd(from_fd, to_fd):
    """Attach the mount `from_fd` (e.g. from open_tree) onto the file `to_fd` names."""
    if lib.ocirt_move_mount(from_fd, b"", to_fd, b"", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0:
        _fail("move_mount")


CLOSE_RANGE_CLOEXEC = 4


def close_range(first, last=0xFFFFFFFF, flags=0):
    if lib.ocirt_close_range(first, last, flags) < 0:
        _fail(f"close_range {first}")


def join_session_keyring(name):
    """A new session keyring named `name` for this process (and its children)."""
    if lib.ocirt_join_session_keyring(_cstr(name)) < 0:
        _fail(f"keyctl join_session_keyring {name}")
