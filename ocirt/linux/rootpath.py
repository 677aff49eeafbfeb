"""Resolve paths inside a container's root the way a chroot would.

A mount destination, a device node or a masked path names a place inside
the container, but ocirt acts on it from the host before pivot_root. The
rootfs belongs to the image, so any of its components may be a symlink
such as `/etc -> /` or `a -> ../../..`; letting the host kernel follow
them would mount or create things outside the rootfs (CVE-2019-16884,
CVE-2023-27561). So the walk below never lets the kernel follow a link
or a `..`: each component is opened with O_NOFOLLOW relative to the
directory fd of its parent, symlinks are read and their targets walked
again from the root (absolute) or the parent (relative), and `..` pops
our own stack of fds, so it stops at the root.
"""

import errno
import os
import stat

from ocirt.errors import OcirtError

MAX_SYMLINKS = 255  # as filepath-securejoin; the kernel's own limit is 40

_O_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_O_STEP = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


def _components(path):
    # Reversed, so the next component is pending.pop().
    return [c for c in reversed(path.split("/")) if c and c != "."]


def _join(root, names):
    return root if not names else root.rstrip("/") + "/" + "/".join(names)


def _walk(root, path, mkdir_mode=None, keep_fd=False):
    """Walk `path` inside `root`; return (found, missing, mode, fd).

    `found` names the existing components (symlinks resolved), `mode` is
    the st_mode of the last of them (of `root` if none); `missing` the
    trailing components that do not exist, with `..` applied lexically
    (nothing exists below a missing directory). With `mkdir_mode` set,
    missing directories are created instead, so `missing` is empty. With
    `keep_fd`, `fd` is an O_PATH fd of the last component found (of the
    last directory walked when components are missing), for the caller to
    use and close; otherwise None.
    """
    pending = _components(path)
    found = []
    missing = []
    try:
        fds = [os.open(root, _O_DIR)]
    except OSError as e:
        raise OcirtError(f"cannot open the container root {root}: {e.strerror}") from None
    mode = os.fstat(fds[0]).st_mode
    hops = 0
    leaf = None  # with keep_fd: the fd of a last component that is not a directory
    try:
        while pending:
            name = pending.pop()
            if name == "..":
                if missing:
                    missing.pop()
                elif found:
                    found.pop()
                    os.close(fds.pop())
                    mode = stat.S_IFDIR
                continue
            if missing:
                missing.append(name)
                continue
            parent = fds[-1]
            try:
                fd = os.open(name, _O_STEP, dir_fd=parent)
            except FileNotFoundError:
                if mkdir_mode is None:
                    missing.append(name)
                    continue
                try:
                    os.mkdir(name, mkdir_mode, dir_fd=parent)
                except FileExistsError:
                    pass  # raced with another creator: look again
                pending.append(name)
                continue
            st_mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(st_mode):
                os.close(fd)
                hops += 1
                if hops > MAX_SYMLINKS:
                    raise OcirtError(f"cannot resolve {path!r} inside {root}: "
                                     f"too many levels of symbolic links")
                try:
                    target = os.readlink(name, dir_fd=parent)
                except OSError as e:
                    if e.errno not in (errno.EINVAL, errno.ENOENT):
                        raise
                    pending.append(name)  # changed meanwhile: look again
                    continue
                if target.startswith("/"):
                    for extra in fds[1:]:
                        os.close(extra)
                    del fds[1:]
                    found.clear()
                    mode = os.fstat(fds[0]).st_mode
                pending.extend(_components(target))
                continue
            if stat.S_ISDIR(st_mode):
                found.append(name)
                fds.append(fd)
                mode = st_mode
                continue
            if keep_fd and not pending:
                leaf = fd
            else:
                os.close(fd)
            if not pending:
                found.append(name)
                mode = st_mode
            elif mkdir_mode is not None:
                raise OcirtError(f"cannot create {path!r} inside {root}: "
                                 f"{'/'.join(found + [name])} is not a directory")
            else:
                # Nothing exists below a file; a later `..` undoes it lexically.
                missing.append(name)
        if leaf is not None:
            fd, leaf = leaf, None
        else:
            fd = fds.pop() if keep_fd else None
        return found, missing, mode, fd
    except OSError as e:
        verb = "resolve" if mkdir_mode is None else "create"
        raise OcirtError(f"cannot {verb} {path!r} inside {root}: {e.strerror}") from None
    finally:
        for fd in fds:
            os.close(fd)
        if leaf is not None:
            os.close(leaf)


def resolve_in_root(root, path):
    """Return the host path that `path` (as seen inside the container)
    names under the host directory `root`, following symlinks as if
    `root` were `/`. Missing trailing components are kept as given.

    The result lies inside `root` at the time of the call; a later change
    to the rootfs can still race with its use, so use it right away.
    """
    found, missing, _, _ = _walk(root, path)
    return _join(root, found + missing)


def _walk_to_dir(root, path, mode, keep_fd):
    """(names, fd or None) of directory `path`, created with its parents if missing."""
    found, _, last_mode, fd = _walk(root, path, mkdir_mode=mode, keep_fd=keep_fd)
    if not stat.S_ISDIR(last_mode):
        if fd is not None:
            os.close(fd)
        raise OcirtError(f"cannot create directory {path!r} inside {root}: "
                         f"it exists and is not a directory")
    return found, fd


def mkdir_in_root(root, path, mode=0o755):
    """Create `path` and its missing parents inside `root` (never outside,
    whatever symlinks are on the way: they resolve as in a chroot);
    return its host path."""
    return _join(root, _walk_to_dir(root, path, mode, keep_fd=False)[0])


def _touch(root, path, mode, keep_fd):
    """(names, fd or None) of `path`, an empty file created there if nothing is."""
    found, missing, _, fd = _walk(root, path, keep_fd=keep_fd)
    if not missing:
        return found, fd
    if fd is not None:
        os.close(fd)
    parent, _, parent_mode, dir_fd = _walk(root, "/".join(found + missing[:-1]),
                                           mkdir_mode=0o755, keep_fd=True)
    try:
        if not stat.S_ISDIR(parent_mode):
            raise OcirtError(f"cannot create {path!r} inside {root}: "
                             f"{'/'.join(parent)} is not a directory")
        try:
            fd = os.open(missing[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         mode, dir_fd=dir_fd)
        except FileExistsError:
            # Created meanwhile, maybe as a symlink: resolve it again.
            found, missing, _, fd = _walk(root, path, keep_fd=keep_fd)
            if missing:
                if fd is not None:
                    os.close(fd)
                raise OcirtError(f"cannot create {path!r} inside {root}: it was removed while being created")
            return found, fd
        except OSError as e:
            raise OcirtError(f"cannot create {path!r} inside {root}: {e.strerror}") from None
    finally:
        os.close(dir_fd)
    if not keep_fd:
        os.close(fd)
        fd = None
    # Else the fd of the file just made (write-only), not a name to look up again.
    return parent + [missing[-1]], fd


def touch_in_root(root, path, mode=0o644):
    """Make sure `path` exists inside `root`, creating its parents and an
    empty file if needed (a bind-mount target for a file source); return
    its host path. An existing path of any type is left as it is."""
    return _join(root, _touch(root, path, mode, keep_fd=False)[0])


# The open_* functions below return an fd rather than a path. A path is
# walked again by the kernel when it is used, and a container that shares
# the rootfs can swap a directory on it for a symlink in between
# (CVE-2023-27561, CVE-2021-30465); an fd stays on the file the walk found.
# The caller closes it.

def open_in_root(root, path):
    """An O_PATH fd of `path` inside `root`, or None if it does not exist."""
    _, missing, _, fd = _walk(root, path, keep_fd=True)
    if missing:
        os.close(fd)
        return None
    return fd


def open_dir_in_root(root, path, mode=0o755):
    """mkdir_in_root, returning an O_PATH fd of the directory."""
    return _walk_to_dir(root, path, mode, keep_fd=True)[1]


def open_file_in_root(root, path, mode=0o644):
    """touch_in_root, returning an fd of what is at `path`."""
    return _touch(root, path, mode, keep_fd=True)[1]


def open_parent_in_root(root, path, mode=0o755):
    """(fd, name): an O_PATH fd of the directory holding `path` inside
    `root` (created with its parents if missing) and the name of `path` in
    it, a symlink there resolved first. For making, replacing or removing
    the entry itself through the fd (mknod, symlink, unlink)."""
    found, missing, _, _ = _walk(root, path)
    names = found + missing
    if not names:
        raise OcirtError(f"cannot create {path!r} inside {root}: it is the root itself")
    return _walk_to_dir(root, "/".join(names[:-1]), mode, keep_fd=True)[1], names[-1]


def fd_path_in_root(root, fd):
    """The /proc/self/fd path through which a syscall that takes a path
    (mount(2)) acts on `fd`, once checked to be still inside `root`. The
    magic link leads to the very file of the fd (not to a mount stacked on
    it since). A container cannot move the file out of the rootfs (rename
    does not cross mounts), so the check is a second line: it catches
    whoever else could."""
    proc_path = f"/proc/self/fd/{fd}"
    try:
        where = os.readlink(proc_path)
    except OSError as e:
        raise OcirtError(f"cannot read {proc_path}: {e.strerror} (is /proc mounted?)") from None
    if where != root and not where.startswith(root.rstrip("/") + "/"):
        raise OcirtError(f"it was moved out of the container root {root}, to {where}")
    return proc_path
