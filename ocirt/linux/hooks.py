"""Run the config's lifecycle hooks (runtime-spec config.md, "POSIX-platform Hooks").

Each hook gets the container state as JSON on stdin, exactly its `env`,
`args` as argv, and no other fd. Its stdout and stderr are captured (as
runc does) and used only to explain a failure: ocirt's own stdio may be
the container's or a caller's log pipe, so it must not be written to.

posix_spawn rather than subprocess: `import subprocess` costs ~15 ms
(threading, selectors, ...), and glibc's posix_spawn (vfork + exec)
reports an exec failure directly.
"""

import errno
import os

from ocirt.errors import OcirtError
from ocirt.signals import SIGNALS, signal_name

_KEEP_OUTPUT = 64 * 1024  # bytes of each stream kept for the error message


def run_hooks(hooks, state, phase):
    """Run `hooks` (a list of {path, args, env, timeout}) in order with
    `state` on stdin; the first failure raises an OcirtError."""
    if not hooks:
        return
    payload = _payload(state)
    for hook in hooks:
        _run(hook, payload, phase)


def run_hooks_warn(hooks, state, phase):
    """Run every hook even when one fails (poststart, poststop); return the
    failures as warning strings for the caller to log."""
    if not hooks:
        return []
    payload = _payload(state)
    warnings = []
    for hook in hooks:
        try:
            _run(hook, payload, phase)
        except OcirtError as e:
            warnings.append(str(e))
    return warnings


def _payload(state):
    from ocirt import jsonfast

    return jsonfast.dumps(state).encode()


def _run(hook, payload, phase):
    path = hook.get("path", "")
    name = f"{phase} hook {path}"
    argv = hook.get("args") or [path]
    env = {}
    for entry in hook.get("env") or ():
        key, sep, value = entry.partition("=")
        if not sep or not key:
            raise OcirtError(f"{name}: env entry {entry!r} is not KEY=VALUE")
        env[key] = value
    timeout = hook.get("timeout")

    pid, stdin_w, out_r, err_r = _spawn(name, path, argv, env)
    status, output = _communicate(pid, stdin_w, out_r, err_r, payload, timeout)
    if status is None:
        raise OcirtError(f"{name} timed out after {timeout} s")
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return
    reason = f"exit status {code}" if code > 0 else f"killed by signal {signal_name(-code)}"
    last = _last_line(output[1]) or _last_line(output[0])
    raise OcirtError(f"{name} failed: {reason}" + (f": {last}" if last else ""))


def _spawn(name, path, argv, env):
    """Start the hook in its own process group; return (pid, stdin, stdout, stderr) fds."""
    stdin_r, stdin_w = _pipe()
    out_r, out_w = _pipe()
    err_r, err_w = _pipe()
    actions = [(os.POSIX_SPAWN_DUP2, stdin_r, 0), (os.POSIX_SPAWN_DUP2, out_w, 1),
               (os.POSIX_SPAWN_DUP2, err_w, 2)]
    # Our fds are close-on-exec, but those ocirt inherited (--preserve-fds,
    # LISTEN_FDS, a caller's leaks) are not: close them in the hook.
    actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_fds()]
    try:
        pid = os.posix_spawn(
            path, argv, env, file_actions=actions, setpgroup=0, setsigmask=(),
            # Python ignores these, and ignored signals survive exec.
            setsigdef=(SIGNALS["SIGPIPE"], SIGNALS["SIGXFSZ"]))
    except OSError as e:
        for fd in (stdin_w, out_r, err_r):
            os.close(fd)
        raise OcirtError(f"{name} failed: cannot execute: {os.strerror(e.errno)}") from None
    except (TypeError, ValueError) as e:  # bad args/env types or NUL bytes
        for fd in (stdin_w, out_r, err_r):
            os.close(fd)
        raise OcirtError(f"{name}: invalid args or env: {e}") from None
    finally:
        for fd in (stdin_r, out_w, err_w):
            os.close(fd)
    return pid, stdin_w, out_r, err_r


def _pipe():
    # Keep pipe ends off 0-2 (free when ocirt runs with closed stdio), so
    # the dup2 actions onto 0-2 cannot clobber one another.
    fds = []
    for fd in os.pipe():
        if fd < 3:
            import fcntl

            new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
            os.close(fd)
            fd = new
        fds.append(fd)
    return fds


def _inheritable_fds():
    try:
        candidates = [int(fd) for fd in os.listdir("/proc/self/fd")]
    except OSError:  # no /proc (inside a container before it is mounted)
        candidates = range(3, min(os.sysconf("SC_OPEN_MAX"), 65536))
    found = []
    for fd in candidates:
        if fd > 2:
            try:
                if os.get_inheritable(fd):
                    found.append(fd)
            except OSError:
                pass  # the fd listdir itself used, or not open
    return found


def _communicate(pid, stdin_w, out_r, err_r, payload, timeout):
    """Feed `payload`, collect output until the hook exits or `timeout`
    passes (then kill its process group); return (wait status or None on
    timeout, [stdout, stderr])."""
    import select
    import time

    output = {out_r: b"", err_r: b""}
    poller = select.poll()
    for fd in output:
        poller.register(fd, select.POLLIN)
    os.set_blocking(stdin_w, False)
    poller.register(stdin_w, select.POLLOUT)
    open_fds = {stdin_w, out_r, err_r}
    try:
        pidfd = os.pidfd_open(pid)
        poller.register(pidfd, select.POLLIN)
    except (AttributeError, OSError):
        pidfd = None  # kernel < 5.3: poll in short ticks instead
    deadline = None if timeout is None else time.monotonic() + timeout
    status = None
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if pidfd is None:
                wait = 0.05 if wait is None else min(wait, 0.05)
            if deadline is not None and wait == 0:
                _kill_group(pid)
                os.waitpid(pid, 0)
                status = None
                break
            for fd, _ in poller.poll(None if wait is None else wait * 1000):
                if fd == stdin_w:
                    payload = _feed(stdin_w, payload)
                    if not payload:
                        poller.unregister(stdin_w)
                        os.close(stdin_w)
                        open_fds.discard(stdin_w)
                elif fd in output:
                    if not _collect(fd, output):
                        poller.unregister(fd)
        # Take what the hook wrote before it exited; its children may hold
        # the pipes open, so never wait for EOF.
        for fd in output:
            os.set_blocking(fd, False)
            for _ in range(16):  # bounded: a child may keep writing
                if not _collect(fd, output):
                    break
    finally:
        for fd in open_fds:
            os.close(fd)
        if pidfd is not None:
            os.close(pidfd)
    return status, [output[out_r], output[err_r]]


def _feed(fd, payload):
    """Write what the pipe takes now; return the rest (b"" when done or the hook closed stdin)."""
    try:
        return payload[os.write(fd, payload):]
    except BlockingIOError:
        return payload
    except OSError as e:
        if e.errno == errno.EPIPE:
            return b""  # the hook does not read its stdin: fine
        raise


def _collect(fd, output):
    """Read once into output[fd] (keeping its tail); False at EOF or nothing to read."""
    try:
        data = os.read(fd, 65536)
    except BlockingIOError:
        return False
    output[fd] = (output[fd] + data)[-_KEEP_OUTPUT:]
    return bool(data)


def _kill_group(pid):
    try:
        os.killpg(pid, SIGNALS["SIGKILL"])
    except ProcessLookupError:
        os.kill(pid, SIGNALS["SIGKILL"])


def _last_line(data):
    lines = data.decode(errors="replace").strip().splitlines()
    return lines[-1].strip() if lines else ""
