"""Container statuses, the one table of allowed operations, and the on-disk store.

The store keeps one directory per container under --root:
  <root>/<id>/state.json   the record, replaced atomically (write, fsync, rename)
  <root>/<id>/exec.fifo    present between create and start
A container's status is derived from the live system each time (see
`derive_status`), never trusted from the record alone.
"""
import errno
import fcntl
import os
import time

from ocirt.errors import ContainerNotFound, InvalidState, OcirtError

CREATING = "creating"
CREATED = "created"
RUNNING = "running"
STOPPED = "stopped"
PAUSED = "paused"
STATUSES = (CREATING, CREATED, RUNNING, STOPPED, PAUSED)

# Which operation may run from which status. Nothing else decides this.
# "kill-all" is `kill --all`: callers (containerd) send it to containers that
# have already stopped and expect success, so it is allowed (a no-op) there.
ALLOWED = {
    "start": {CREATED},
    "kill": {CREATED, RUNNING, PAUSED},
    "kill-all": {CREATED, RUNNING, PAUSED, STOPPED},
    "delete": {STOPPED},
    "delete-force": set(STATUSES),
    "pause": {RUNNING},
    "resume": {PAUSED},
    "exec": {CREATED, RUNNING},
    "update": {CREATED, RUNNING, PAUSED},
    "ps": {CREATED, RUNNING, PAUSED, STOPPED},
    "events": {CREATED, RUNNING, PAUSED},
}

# What a user is told when an operation is refused, by status.
_REFUSALS = {
    STOPPED: "container not running",
    PAUSED: "container is paused",
    CREATING: "container is still being created",
    CREATED: "container has not been started",
    RUNNING: "container is running",
}


def check_allowed(operation, status, container_id):
    """Raise InvalidState unless `operation` may run on a container in `status`."""
    if status in ALLOWED[operation]:
        return
    if operation == "delete":
        raise InvalidState(
            f"cannot delete container {container_id!r} that is {status}: stop it first or use --force"
        )
    raise InvalidState(f"cannot {operation} container {container_id!r}: {_REFUSALS[status]}")


_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.+-")


def validate_id(container_id):
    """Ids become directory names under --root: refuse anything that could escape it."""
    if not container_id:
        raise OcirtError("container id must not be empty")
    if container_id in (".", "..") or not _ID_CHARS.issuperset(container_id):
        raise OcirtError(
            f"invalid container id {container_id!r}: use only letters, digits and _ . + -"
        )
    if len(container_id) > 1024:
        raise OcirtError("invalid container id: longer than 1024 characters")


_RECORD_KEYS = frozenset(("status", "bundle", "rootfs", "created", "pid"))


class ForeignRecord(OcirtError):
    """A directory under --root that another runtime made."""


def _lock_timeout(default):
    """OCIRT_LOCK_TIMEOUT (seconds) overrides the bound on lock waits; tests use it."""
    try:
        value = float(os.environ.get("OCIRT_LOCK_TIMEOUT", default))
    except ValueError:
        return default
    return value if value >= 0 else default


def rfc3339_now():
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def process_start_time(pid):
    """The start time (clock ticks since boot) of `pid`, or None if it is gone or a zombie.

    Together with the pid it identifies a process across pid reuse.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # comm may contain spaces and parentheses: fields start after the last ')'.
    fields = stat[stat.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def pid_alive(pid, start_time):
    return pid > 0 and start_time is not None and process_start_time(pid) == start_time


class StateStore:
    """One directory per container under `root`, with locking and atomic writes."""

    LOCK_TIMEOUT = 30.0

    def __init__(self, root):
        self.root = os.path.abspath(root)

    def dir(self, container_id):
        validate_id(container_id)
        return os.path.join(self.root, container_id)

    def ensure_root(self):
        try:
            os.makedirs(self.root, mode=0o711, exist_ok=True)
        except FileExistsError:
            raise OcirtError(f"state root {self.root} is not a directory") from None
        except OSError as e:
            raise OcirtError(f"cannot create state root {self.root}: {e.strerror}") from None

    def claim(self, container_id):
        """Atomically reserve `container_id`: exactly one concurrent creator wins."""
        self.ensure_root()
        path = self.dir(container_id)
        try:
            os.mkdir(path, 0o711)
        except FileExistsError:
            raise OcirtError(f"container {container_id!r} already exists") from None
        except OSError as e:
            raise OcirtError(f"cannot create state directory {path}: {e.strerror}") from None
        return path

    def exists(self, container_id):
        return os.path.isdir(self.dir(container_id))

    def lock(self, container_id, timeout=None):
        """Take the container's exclusive lock; returns the fd (close it to unlock)."""
        path = self.dir(container_id)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise ContainerNotFound(container_id) from None
        if timeout is None:
            timeout = _lock_timeout(self.LOCK_TIMEOUT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            pass
        try:
            _flock_within(fd, timeout)
        except _LockTimeout:
            os.close(fd)
            raise OcirtError(
                f"container {container_id!r} is locked by another ocirt process (waited {timeout:g} s)"
            ) from None
        return fd

    def load(self, container_id):
        from ocirt import jsonfast

        path = os.path.join(self.dir(container_id), "state.json")
        try:
            with open(path, "rb") as f:
                data = f.read()
        except (FileNotFoundError, NotADirectoryError):
            raise ContainerNotFound(container_id) from None
        try:
            record = jsonfast.loads(data)
        except ValueError:
            raise OcirtError(f"state of container {container_id!r} is corrupt ({path})") from None
        # Callers share state roots between runtimes (containerd's /run/containerd/runc/<ns>).
        if not isinstance(record, dict) or not _RECORD_KEYS.issubset(record):
            raise ForeignRecord(f"{path} is not a state record written by ocirt "
                                "(a container of another runtime under the same --root?)")
        return record

    def save(self, container_id, record):
        from ocirt import jsonfast

        directory = self.dir(container_id)
        tmp = os.path.join(directory, ".state.json.tmp")
        data = jsonfast.dumps(record).encode()
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, os.path.join(directory, "state.json"))
        except OSError as e:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise OcirtError(f"cannot write state of container {container_id!r}: {e.strerror}") from None

    def remove(self, container_id):
        """Remove the container's directory and everything in it; missing is fine."""
        path = self.dir(container_id)
        try:
            names = os.listdir(path)
        except FileNotFoundError:
            return
        for name in names:
            try:
                os.unlink(os.path.join(path, name))
            except FileNotFoundError:
                pass
        try:
            os.rmdir(path)
        except FileNotFoundError:
            pass

    def list_ids(self):
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        except NotADirectoryError:
            raise OcirtError(f"state root {self.root} is not a directory") from None
        return sorted(n for n in names if not n.startswith(".") and os.path.isdir(os.path.join(self.root, n)))


class _LockTimeout(Exception):
    pass


def _flock_within(fd, timeout):
    """Block in flock until the lock is ours, woken the moment its holder lets go
    (no polling); an interval timer ends the wait after `timeout` s."""
    import _signal  # the C module: `signal` itself imports enum (~4 ms)

    if timeout <= 0:
        raise _LockTimeout

    def expired(signum, frame):
        raise _LockTimeout

    previous = _signal.signal(_signal.SIGALRM, expired)
    try:
        _signal.setitimer(_signal.ITIMER_REAL, timeout)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        finally:
            _signal.setitimer(_signal.ITIMER_REAL, 0)
    finally:
        _signal.signal(_signal.SIGALRM, previous)


def derive_status(record, container_dir, is_frozen=None):
    """The status of a container from its record and the live system.

    `is_frozen` is a callable asked only when the init process is alive, so
    that a status query reads the freezer only when it matters.
    """
    status = record.get("status")
    if status == CREATING:
        # A creator that died half way leaves a record nobody will finish.
        creator = record.get("creator_pid", 0)
        if pid_alive(creator, record.get("creator_start_time")):
            return CREATING
        return STOPPED
    if not pid_alive(record.get("pid", 0), record.get("pid_start_time")):
        return STOPPED
    fifo = _exec_fifo(os.path.join(container_dir, "exec.fifo"))
    if fifo == _FIFO_WAITING:
        return CREATED
    if fifo == _FIFO_ABANDONED and status == CREATED:
        # `start` saves "running" before it releases the fifo; so nobody has,
        # and the init no longer waits on it: it was killed and is exiting
        # (its files are closed before it becomes a zombie).
        return STOPPED
    if is_frozen is not None and is_frozen():
        return PAUSED
    return RUNNING


_FIFO_WAITING, _FIFO_ABANDONED, _FIFO_GONE = "waiting", "abandoned", "gone"


def _exec_fifo(path):
    """Whether the init still holds the exec fifo, waiting for `start`.

    A fifo opens for writing without blocking only when someone has it open
    for reading; the init closes it once `start` has released it, and `start`
    unlinks it then. So a fifo left behind by a `start` killed between release
    and unlink is abandoned, as is one whose init is gone.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return _FIFO_GONE
    except OSError:  # ENXIO: nobody reads it any more
        return _FIFO_ABANDONED
    os.close(fd)
    return _FIFO_WAITING


def errno_name(err):
    return errno.errorcode.get(err, str(err))
