"""`exec`: start another process inside a running container.

The parent forks an intermediate that joins the init's cgroups (so every
child is accounted there) and namespaces (user first; the pid namespace only
applies to children), then forks the process, which takes the process spec
(terminal, rlimits, cwd, user, capabilities, no_new_privs) and execs. The
intermediate reports the process's host pid and exits; the process is then
re-parented to the caller's subreaper (containerd's shim, conmon) or, in the
foreground, to ocirt, which waits for it and returns its exit code.
"""
import os

from ocirt import state as st
from ocirt.container import Container, _fault_point, _lift_fd, _reap, write_pid_file
from ocirt.errors import EXIT_EXEC_FAILED, OcirtError
from ocirt.linux import process
from ocirt.linux.namespaces import JOIN_ORDER, NAMESPACES


def exec_process(store, container_id, process_spec, *, detach=False, pid_file=None,
                 console_socket=None, preserve_fds=0, ignore_paused=False, source="process.json"):
    """Run `process_spec` in the container; returns the exit code (0 when detached)."""
    from ocirt import init
    from ocirt.linux import syscalls
    from ocirt.linux.sync import channel_pair

    c = Container.load(store, container_id)
    status = c.status()
    if status == st.PAUSED and not ignore_paused:
        raise OcirtError(f"cannot exec in paused container {container_id!r} (use --ignore-paused to override)",
                         exit_code=EXIT_EXEC_FAILED)
    if status != st.PAUSED:
        st.check_allowed("exec", status, container_id)
    terminal = bool(process_spec.get("terminal"))
    if terminal and detach and not console_socket:
        raise OcirtError("cannot allocate a terminal for a detached exec without --console-socket",
                         exit_code=EXIT_EXEC_FAILED)
    if console_socket and not terminal:
        raise OcirtError("--console-socket needs --tty (or terminal: true in --process): there is no "
                         "terminal to send", exit_code=EXIT_EXEC_FAILED)
    count = process.listen_fds()
    process.add_listen_env(process_spec, count)
    preserve_fds += count
    min_fd = 3 + preserve_fds

    ns_fds = _open_namespaces(c, min_fd)
    cg = c.cgroups()
    cgroup_fds = [_lift_fd(fd, min_fd) for fd in (cg.join_fds() if cg is not None else [])]
    parent_ch, child_ch = channel_pair(min_fd)
    console_fd = relay_fd = None
    if terminal:
        if console_socket:
            from ocirt.linux.terminal import connect_console_socket

            console_fd = _lift_fd(connect_console_socket(console_socket), min_fd)
        else:
            import socket

            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            console_fd, relay_fd = _lift_fd(theirs.detach(), min_fd), ours.detach()
            if os.isatty(0) and not process_spec.get("consoleSize"):
                from ocirt.linux.terminal import get_size

                # Sized before the program runs: the relay only starts once it has exec'd.
                rows, cols = get_size(0)
                process_spec["consoleSize"] = {"height": rows, "width": cols}
    init.preload(terminal)
    if terminal:
        from ocirt.linux import terminal as term

        term.bind_dev_console = False  # the init's /dev/console stays as it is
    _set_oom_score_adj(process_spec, c.pid, source)
    # A subreaper even with --detach: the process is ours once the intermediate
    # exits, so one that fails before its exec is reaped here (a zombie left
    # in the container's pid namespace keeps its init from finishing its exit);
    # one that succeeds passes to the caller's subreaper when we exit.
    syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)
    forward = None if detach else process.SignalForwarder()
    # Processes started by exec get the container's seccomp profile, as runc's do.
    seccomp_config = _container_seccomp(c)
    from ocirt.container import _connect_seccomp_listener

    listener_fd = _connect_seccomp_listener(seccomp_config, min_fd)
    ctx = init.InitContext(
        container_id=container_id, process=process_spec, join_fds=ns_fds, cgroup_fds=cgroup_fds,
        channel=child_ch, console_fd=console_fd, preserve_fds=preserve_fds, source=source,
        seccomp_config=seccomp_config, listener_fd=listener_fd, state=c.hook_state(st.RUNNING),
    )
    pid = os.fork()
    if pid == 0:
        parent_ch.close()
        init.run_exec_intermediate(ctx)  # never returns
    child_ch.close()
    _fault_point("exec-after-fork")
    for fd in [*cgroup_fds, *(fd for _, fd in ns_fds)] + [fd for fd in (console_fd, listener_fd) if fd is not None]:
        os.close(fd)
    try:
        process_pid = _exec_handshake(parent_ch, pid)
    finally:
        parent_ch.close()
    if forward is not None:
        forward.target(process_pid)
    _fault_point("exec-after-handshake")
    if pid_file:
        write_pid_file(pid_file, process_pid)
    if detach:
        return 0
    if relay_fd is not None:
        from ocirt.linux.terminal import receive_master, relay

        relay(receive_master(relay_fd))
    return process.wait_foreground(process_pid)


def _container_seccomp(c):
    from ocirt import jsonfast

    try:
        with open(os.path.join(c.record["bundle"], "config.json"), "rb") as f:
            return ((jsonfast.loads(f.read()).get("linux") or {}).get("seccomp")) or None
    except (OSError, ValueError):
        return None


def _set_oom_score_adj(process_spec, init_pid, source):
    """The process's oom_score_adj: process.oomScoreAdj, else the container's
    (its init's, as runc gives every exec'd process the container's value).

    Set on ourselves before the fork, so the process has it from its first
    instruction; otherwise it would keep the caller's (a shim's -998 would
    shield the container's processes from the OOM killer).
    """
    value = process_spec.get("oomScoreAdj")
    explicit = value is not None
    if not explicit:
        try:
            with open(f"/proc/{init_pid}/oom_score_adj") as f:
                value = int(f.read())
        except (OSError, ValueError):
            return
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(value))
    except OSError as e:
        if explicit:
            hint = " (lowering it needs CAP_SYS_RESOURCE)" if e.errno == 13 else ""
            raise OcirtError(f"setting oom_score_adj to {value}: {e.strerror}{hint}",
                             path="oomScoreAdj", source=source, exit_code=EXIT_EXEC_FAILED) from None


def _open_namespaces(c, min_fd):
    """Open the init's namespaces now, then check the init is still the same
    process: the fds then pin the right namespaces even if the pid is reused."""
    own = set(c.record.get("own_namespaces") or ())
    fds = []
    try:
        for ns_type in JOIN_ORDER:
            if ns_type in own:
                fd = os.open(f"/proc/{c.pid}/ns/{NAMESPACES[ns_type][1]}", os.O_RDONLY | os.O_CLOEXEC)
                fds.append((ns_type, _lift_fd(fd, min_fd)))
    except FileNotFoundError:
        for _, fd in fds:
            os.close(fd)
        raise OcirtError("container not running", exit_code=EXIT_EXEC_FAILED) from None
    if not c.init_alive():
        for _, fd in fds:
            os.close(fd)
        raise OcirtError("container not running", exit_code=EXIT_EXEC_FAILED)
    return fds


def _exec_handshake(channel, intermediate_pid):
    """The process's host pid, once it has exec'd or failed.

    Read to end-of-file: the intermediate sends the pid and exits, the process
    sends an error or execs (the channel is close-on-exec). Both write to the
    same pipe, so a process that fails fast can report before its pid arrives;
    it must still be reaped.
    """
    process_pid = error = None
    try:
        while True:
            kind, payload = channel.receive()
            if kind == "eof":
                break
            if kind == "pid":
                process_pid = int(payload)
            elif kind == "error" and error is None:
                error = payload
    finally:
        _reap(intermediate_pid)
    if error is not None:
        if process_pid is not None:
            # Only now, with the intermediate gone, is the process surely our child.
            _reap(process_pid)
        raise OcirtError(error, exit_code=EXIT_EXEC_FAILED)
    if process_pid is None:
        raise OcirtError("exec failed: the joining process exited", exit_code=EXIT_EXEC_FAILED)
    return process_pid
