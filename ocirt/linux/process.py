"""The last steps before a container process execs: user, fds, signals, executable lookup."""
import os

from ocirt.errors import OcirtError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def env_dict(env_list):
    env = {}
    for item in env_list or ():
        key, sep, value = item.partition("=")
        if sep:
            env[key] = value
    return env


def find_executable(name, env):
    """Resolve args[0] inside the container the way exec(3p) with PATH does.

    The messages match runc's, which callers (podman) map to exit codes.
    """
    if "/" in name:
        if not os.path.exists(name):
            raise OcirtError(f'exec: "{name}": stat {name}: no such file or directory')
        if os.path.isdir(name) or not os.access(name, os.X_OK):
            raise OcirtError(f'exec: "{name}": permission denied')
        return name
    for directory in env.get("PATH", DEFAULT_PATH).split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise OcirtError(f'exec: "{name}": executable file not found in $PATH')


def set_user(user):
    """Switch to the configured uid, gid and supplementary groups, then umask."""
    uid = user.get("uid", 0)
    gid = user.get("gid", 0)
    try:
        os.setgroups(user.get("additionalGids") or [])
    except PermissionError:
        # In a user namespace where setgroups is denied, only an empty list is possible.
        if user.get("additionalGids"):
            raise OcirtError("setgroups: Operation not permitted (setgroups is denied in this user namespace)") from None
    try:
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    except OSError as e:
        raise OcirtError(f"cannot switch to uid {uid} gid {gid}: {e.strerror}") from None
    if user.get("umask") is not None:
        os.umask(user["umask"])


def close_fds_on_exec(preserve_fds):
    """Fds 3 .. 3+N-1 are the caller's to hand on; everything above is closed at exec.

    Close-on-exec rather than close: ocirt still uses some of them (the exec
    fifo) until the moment of exec. close_range needs no /proc, which a
    container may not have.
    """
    from ocirt.linux import syscalls

    for fd in range(3, 3 + preserve_fds):
        try:
            os.set_inheritable(fd, True)
        except OSError:
            pass  # not open: nothing to pass on
    syscalls.close_range(3 + preserve_fds, flags=syscalls.CLOSE_RANGE_CLOEXEC)


def close_fds_except(preserve_fds, keep):
    """Close every fd from 3 + preserve_fds up that is not in `keep`.

    Run right after fork: nothing the runtime had open (its lock on the
    container, the caller's stray fds) may stay with the container side.
    """
    keep_below = 3 + preserve_fds
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd >= keep_below and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def reset_signals():
    """Give the new program default signal handling and an empty mask.

    Python ignores SIGPIPE and SIGXFSZ, and execve keeps ignored signals
    ignored; a container process must not inherit that.
    """
    import _signal

    for signum in range(1, _signal.NSIG):
        if signum in (_signal.SIGKILL, _signal.SIGSTOP):
            continue
        try:
            _signal.signal(signum, _signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # signals glibc reserves (32, 33)
    _signal.pthread_sigmask(_signal.SIG_SETMASK, [])


def exit_on_terminating_signals():
    """While waiting for `start`, the init is pid 1 of its namespace, where the
    kernel drops signals that have no handler; a handler lets `kill` stop it."""
    import _signal

    def handler(signum, frame):
        os._exit(128 + signum)

    for signum in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP, _signal.SIGQUIT,
                   _signal.SIGUSR1, _signal.SIGUSR2, _signal.SIGALRM, _signal.SIGPIPE):
        _signal.signal(signum, handler)


def listen_fds():
    """Sockets passed by systemd socket activation (LISTEN_FDS for this pid), as runc honours them."""
    count = os.environ.get("LISTEN_FDS", "")
    if not count.isdigit() or os.environ.get("LISTEN_PID", str(os.getpid())) != str(os.getpid()):
        return 0
    return int(count)


def add_listen_env(process_spec, count):
    if count:
        env = [e for e in process_spec.get("env") or () if not e.startswith(("LISTEN_FDS=", "LISTEN_PID="))]
        process_spec["env"] = env + [f"LISTEN_FDS={count}", "LISTEN_PID=1"]


class SignalForwarder:
    """Termination signals that reach a foreground ocirt go to its process, from
    before the fork on: one that arrives before the process's pid is known is
    delivered once it is, instead of killing ocirt and orphaning the process.
    Used by foreground `run` and `exec`."""

    SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")

    def __init__(self):
        import _signal as signal  # the C module: `signal` itself imports enum (~4 ms)

        self.pid = None
        self.pending = []
        for name in self.SIGNALS:
            signal.signal(getattr(signal, name), self)

    def __call__(self, signum, frame):
        if self.pid is None:
            self.pending.append(signum)
        else:
            self._send(signum)

    def target(self, pid):
        self.pid = pid
        for signum in self.pending:
            self._send(signum)
        self.pending = []

    def _send(self, signum):
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass


def wait_foreground(pid):
    """Reap until `pid` exits; its exit code (128+N when killed by signal N).

    ocirt is the subreaper here, so orphans of the container come to it too;
    they are reaped along the way.
    """
    while True:
        try:
            done, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 255
        if done == pid:
            if os.WIFSIGNALED(status):
                return 128 + os.WTERMSIG(status)
            return os.WEXITSTATUS(status)
