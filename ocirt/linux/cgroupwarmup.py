"""Pay the kernel's cgroup-migration grace period early, off the critical path.

Every write to a cgroup.procs file takes the kernel's global
cgroup_threadgroup_rwsem for writing. After a quiet spell the first writer
waits for an RCU grace period (rcu_sync_enter; 5-25 ms on this machine's
HZ=250 kernel); writers that come within about one grace period of the last
one do not wait. The only migration in a create is the init joining its
cgroups (init.join_cgroups), late on purpose (memory charging), and every
other process of the create waits for it: unhelped, the whole grace period
is idle time.

So the parent starts the grace period itself, from a thread, right after it
has made the container's cgroups: the thread holds cgroup_mutex while it
waits, and mkdir in a cgroup hierarchy needs that mutex; writing limits does
not. The thread moves this process into the cgroup it is already in, a move
that changes nothing but takes the lock. Resource limits, the fork, the
intermediate and the init's mounts run meanwhile. Until `stop` (the init has
joined), the thread repeats the move every few milliseconds, each one fast,
so the fast window is still open whenever the join comes, however late a
loaded machine makes it.
"""
import _signal  # the C module: `signal` itself imports enum
import _thread
import os
import time

_INTERVAL = 0.003  # s between moves: well inside the fast window (one grace period, >= ~5 ms)
_KEEP_FOR = 1.0  # s at most, should `stop` never come


class Warmup:
    def __init__(self, fd):
        self._stopped = _thread.allocate_lock()
        self._stopped.acquire()
        _thread.start_new_thread(self._keep_warm, (fd,))

    def _keep_warm(self, fd):
        try:
            # Signals go to the main thread, so they still interrupt its blocking reads.
            _signal.pthread_sigmask(_signal.SIG_BLOCK, _signal.valid_signals())
            deadline = time.monotonic() + _KEEP_FOR
            while True:
                os.write(fd, b"0")  # "0": the writer's own process, into the cgroup it is in
                if self._stopped.acquire(timeout=_INTERVAL) or time.monotonic() > deadline:
                    return
        except Exception:
            pass  # only a warm-up: never a traceback on ocirt's stderr
        finally:
            os.close(fd)

    def stop(self):
        if self._stopped.locked():
            self._stopped.release()


def start(mounts):
    """A running Warmup, or None; `mounts` maps hierarchy keys to mount points (Cgroups.mounts).

    Best effort: anything unexpected means no warm-up, never an error.
    """
    path = _own_procs_file(mounts)
    if path is None:
        return None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return Warmup(fd)
    except RuntimeError:  # no thread to be had (a pids limit on the caller)
        os.close(fd)
        return None


def _own_procs_file(mounts):
    """cgroup.procs of the cgroup this process is in, in one of `mounts`; None if none is found.

    The file is checked to list this process: a mount showing only part of
    its hierarchy could otherwise map our path onto another cgroup, and the
    move would be a real one.
    """
    from ocirt.linux.cgroups import UNIFIED, parse_proc_cgroup

    try:
        with open("/proc/self/cgroup") as f:
            own = parse_proc_cgroup(f.read())
    except OSError:
        return None
    me = str(os.getpid())
    for key in sorted(mounts, key=lambda k: k != UNIFIED):  # cgroup2 first: one line, always there
        if key not in own:
            continue
        path = os.path.join(mounts[key], own[key].lstrip("/"), "cgroup.procs")
        try:
            with open(path) as f:
                if me in f.read().split():
                    return path
        except OSError:
            continue
    return None
