"""The container side of `create`: everything between fork and execve.

Two processes run this code, both forked from `ocirt create` (the parent,
container.py), and talk to it over a Channel:
  * the intermediate joins namespaces given by path, creates the user
    namespace (the parent writes its id maps), unshares the other
    namespaces and forks the init, whose host pid it reports; then it exits.
    The extra fork is needed because a new pid namespace only applies to
    children.
  * the init (pid 1 of a new pid namespace) builds the root filesystem,
    sets up the process, reports "ready", waits on the exec fifo for
    `start`, runs startContainer hooks and execs the container's program.
Both are non-dumpable, so the container cannot open them through /proc.
"""
import os

from ocirt.errors import EXIT_EXEC_FAILED, OcirtError, shorten
from ocirt.linux import namespaces, syscalls


def preload(terminal=False):
    """Import now everything the container side will use.

    After pivot_root the container cannot see ocirt's files, so a lazy import
    there would fail; the parent calls this before it forks.
    """
    import _signal, fcntl, resource, select, time  # noqa: F401 (used lazily below)

    from ocirt import capabilities, jsonfast  # noqa: F401
    from ocirt.linux import devices, hooks, process, rlimits, rootfs  # noqa: F401

    from ocirt.linux import seccomp  # noqa: F401

    if terminal:
        import socket, struct  # noqa: F401

        from ocirt.linux import terminal as _  # noqa: F401


class InitContext:
    """What the container side needs; built by the parent before it forks."""

    def __init__(self, **fields):
        self.__dict__.update(fields)

    # fields: container_id, bundle, rootfs, config, plan, join_fds, channel,
    # fifo_fd, no_pivot, preserve_fds, cgroup_views, hook_state


def _report(channel, error):
    if isinstance(error, OcirtError):
        if error.path and not error.source:
            error.source = "config.json"  # a late error about the config: say which file
        message = str(error)
    elif isinstance(error, OSError):
        message = f"{error.strerror or error}" if not error.filename else f"{error.filename}: {error.strerror}"
    else:
        message = f"internal error in container init: {type(error).__name__}: {error}"
    try:
        channel.send("error", message)
    except (OSError, OcirtError):
        pass  # the parent is gone: nobody to tell


def run_intermediate(ctx):
    """Child of the parent. Never returns."""
    try:
        from ocirt.linux.process import close_fds_except

        close_fds_except(ctx.preserve_fds, {*ctx.channel.fds(), ctx.fifo_fd, ctx.status_fd,
                                            ctx.console_fd, ctx.listener_fd, *ctx.cgroup_fds,
                                            *(fd for _, fd in ctx.join_fds)})
        syscalls.prctl(syscalls.PR_SET_DUMPABLE, 0)
        syscalls.prctl(syscalls.PR_SET_PDEATHSIG, 9)
        ctx.idmapped_trees = _prepare_idmapped_mounts(ctx)
        namespaces.join(ctx.join_fds)
        plan = ctx.plan
        if plan.creates("user"):
            namespaces.unshare(syscalls.CLONE_NEWUSER)
            ctx.channel.send("userns")
            ctx.channel.expect("mapped")
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        # The cgroup namespace is made by the init once it is in its cgroup.
        namespaces.unshare(plan.unshare_flags(exclude=("user", "cgroup")))
        if plan.creates("time") and (ctx.config["linux"].get("timeOffsets")):
            # Written by the parent: this process is non-dumpable, so in a user
            # namespace its /proc files belong to a uid it cannot act as.
            ctx.channel.send("timens")
            ctx.channel.expect("offsets")
        pid = os.fork()
        if pid == 0:
            run_init(ctx)
        ctx.channel.send("pid", str(pid))
        os._exit(0)
    except BaseException as e:
        _report(ctx.channel, e)
        os._exit(1)


def _prepare_idmapped_mounts(ctx):
    """Idmapped mounts need root of the host: made now, before any namespace
    is entered, and attached by the init (see ocirt/linux/idmap.py)."""
    from ocirt.linux import idmap

    if not any(idmap.wanted(mount) for mount in ctx.config.get("mounts") or ()):
        return {}
    user_ns_fd = next((fd for ns_type, fd in ctx.join_fds if ns_type == "user"), None)
    return idmap.prepare(ctx.config, ctx.bundle, user_ns_fd)


def run_init(ctx):
    """The container's init. Never returns."""
    from ocirt.linux import process

    try:
        os.setsid()
        if ctx.new_keyring:
            _join_new_keyring(ctx.container_id)
        host_pid = int(ctx.channel.expect("go"))
        ctx.hook_state["pid"] = host_pid
        # Compiled before the cgroup join (see _build_filesystem): libseccomp's
        # allocations are then not charged to the container.
        seccomp_config = (ctx.config.get("linux") or {}).get("seccomp")
        compiled = _compile_seccomp(seccomp_config)
        _build_filesystem(ctx)
        proc = ctx.config["process"]
        if proc.get("terminal"):
            from ocirt.linux import terminal

            terminal.setup_in_container(ctx.console_fd, proc.get("consoleSize"),
                                        (proc.get("user") or {}).get("uid"))
        ctx.executable, ctx.env = prepare_process(proc)
        ctx.seccomp = _SeccompLoader(compiled, seccomp_config,
                                     ctx.listener_fd, ctx.hook_state, proc.get("noNewPrivileges"))
        # Before any filter is loaded: the profile need not allow close_range.
        process.close_fds_on_exec(ctx.preserve_fds)
        ctx.seccomp.before_privileges_drop()
        drop_privileges(proc)
    except BaseException as e:
        _report(ctx.channel, e)
        os._exit(1)
    _wait_and_exec(ctx)


def _build_filesystem(ctx):
    from ocirt.linux import rootfs as rootfs_mod
    from ocirt.linux.devices import create_default_devices, create_device
    from ocirt.linux.hooks import run_hooks

    config = ctx.config
    linux = config.get("linux") or {}
    plan = ctx.plan
    own_mount_ns = plan.has_own("mount")
    rootfs = ctx.rootfs
    in_user_ns = plan.has_own("user")
    if own_mount_ns:
        rootfs_mod.set_root_propagation(linux.get("rootfsPropagation"))
        rootfs_mod.bind_rootfs(rootfs)
    mctx = rootfs_mod.MountContext(
        rootfs, ctx.bundle, ctx.cgroup_views,
        own_net_ns=plan.has_own("network"), in_user_ns=in_user_ns,
        idmapped_trees=ctx.idmapped_trees,
    )
    dev_is_fresh = False
    for index, entry in enumerate(config.get("mounts") or ()):
        rootfs_mod.mount_entry(mctx, entry, index)
        if entry.get("destination", "").rstrip("/") == "/dev" and entry.get("type") != "bind":
            dev_is_fresh = True
    if dev_is_fresh:
        create_default_devices(rootfs, in_user_ns)
    for device in linux.get("devices") or ():
        create_device(rootfs, device, in_user_ns)

    # Into the container's cgroups before any hook runs and before `create`
    # returns: hooks and callers (containerd's shim) look the cgroup up from
    # /proc/<pid>/cgroup. Joining only now keeps the pages dirtied by the
    # work above charged to the caller, not to the container's memory limit.
    # The cgroup namespace must come after the join, so that its root is the
    # container's cgroup.
    join_cgroups(ctx.cgroup_fds, plan.creates("cgroup"))
    # prestart and createRuntime hooks run in the parent, in the runtime's namespaces.
    ctx.channel.send("hooks")
    ctx.channel.expect("continue")
    run_hooks((config.get("hooks") or {}).get("createContainer"),
              _container_hook_state(ctx.hook_state, "creating"), "createContainer")

    if not own_mount_ns:
        rootfs_mod.chroot_only(rootfs)
    elif ctx.no_pivot:
        rootfs_mod.move_root(rootfs)
    else:
        rootfs_mod.pivot(rootfs)
    # Before readonlyPaths: those usually include /proc/sys.
    _apply_container_settings(config)
    for path in linux.get("readonlyPaths") or ():
        rootfs_mod.make_readonly(path)
    for path in linux.get("maskedPaths") or ():
        rootfs_mod.mask(path)
    if (config.get("root") or {}).get("readonly"):
        rootfs_mod.remount_root_readonly()


def _apply_container_settings(config):
    """What belongs to the container as a whole, not to one process."""
    linux = config.get("linux") or {}
    if config.get("hostname") is not None:
        syscalls.sethostname(config["hostname"])
    if config.get("domainname") is not None:
        syscalls.setdomainname(config["domainname"])
    for key, value in (linux.get("sysctl") or {}).items():
        _write_sysctl(key, value)


def prepare_process(proc, source="config.json"):
    """First half of applying a runtime-spec `process`: what can fail because of
    the config, done while errors still reach `create` (or `exec`).

    Shared by the container's init and by `exec`. Returns (executable, env).
    """
    from ocirt.capabilities import check_grantable
    from ocirt.linux import process
    from ocirt.linux.rlimits import apply_rlimits

    apply_rlimits(proc.get("rlimits") or [], source=source)
    env = process.env_dict(proc.get("env"))
    cwd = proc.get("cwd") or "/"
    try:
        os.chdir(cwd)
    except OSError as e:
        raise OcirtError(f"cannot change to cwd {cwd}: {e.strerror}", path="process.cwd", source=source) from None
    executable = process.find_executable(proc["args"][0], env)
    check_grantable(proc.get("capabilities") or {}, source=source)
    return executable, env


def drop_privileges(proc, source="config.json"):
    """Second half: user, capabilities, no_new_privs.

    The bounding set and KEEPCAPS go before the user switch (both need
    root's capabilities), the final capability sets after it.
    """
    from ocirt.capabilities import apply_capabilities
    from ocirt.linux import process

    # No `capabilities` at all means no capabilities, as with runc.
    caps = proc.get("capabilities") or {}
    apply_capabilities(caps, keep_for_setuid=True, source=source)
    process.set_user(proc.get("user") or {})
    apply_capabilities(caps, source=source)
    if proc.get("noNewPrivileges"):
        syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)


def _join_new_keyring(container_id):
    """Like runc: the container gets its own session keyring instead of sharing
    the caller's. Where the kernel has no keyrings (or a seccomp policy on the
    caller denies keyctl), the container runs without one, as with runc."""
    try:
        syscalls.join_session_keyring(f"_ses.{container_id}")
    except OSError as e:
        if e.errno not in (38, 1):  # ENOSYS, EPERM
            raise OcirtError(f"cannot create a session keyring: {e.strerror}") from None


def _container_hook_state(state, status):
    """The state for hooks run in the container's namespaces: the pid as the container sees it."""
    return dict(state, status=status, pid=os.getpid())


def _compile_seccomp(seccomp_config):
    if not seccomp_config:
        return None
    from ocirt.linux.seccomp import compile_filter

    return compile_filter(seccomp_config)


class _SeccompLoader:
    """Loads the filter at the latest point the process's privileges allow.

    Loading a filter needs no_new_privs or CAP_SYS_ADMIN. With
    noNewPrivileges the filter goes in right before execve, so nothing of
    ocirt runs under it; without, it must go in before the capabilities are
    dropped, and the remaining set-up (setuid, capset, execve) runs under it.
    """

    def __init__(self, compiled, config, listener_fd, state, no_new_privs):
        self.compiled = compiled
        self.config = config or {}
        self.listener_fd = listener_fd
        self.state = state
        self.late = bool(no_new_privs)

    def before_privileges_drop(self):
        if self.compiled is not None and not self.late:
            self._load()

    def before_exec(self):
        if self.compiled is not None and self.late:
            self._load()

    def _load(self):
        notify_fd = self.compiled.load()
        if notify_fd is not None:
            from ocirt.linux.seccomp import send_to_listener

            send_to_listener(self.listener_fd, notify_fd, self.state, self.config.get("listenerMetadata"))
            os.close(notify_fd)


def join_cgroups(cgroup_fds, new_cgroup_ns):
    """Move this process into the container's cgroups through pre-opened
    cgroup.procs fds, then make the cgroup namespace (rooted there) if asked.

    Memory is charged to the cgroup a page is first touched in, so the later
    this happens, the less of ocirt's own Python work counts against the
    container's memory limit.
    """
    for fd in cgroup_fds:
        os.write(fd, b"0")
        os.close(fd)
    if new_cgroup_ns:
        namespaces.unshare(syscalls.CLONE_NEWCGROUP)


def _write_sysctl(key, value):
    path = "/proc/sys/" + key.replace(".", "/")
    try:
        with open(path, "w") as f:
            f.write(str(value))
    except OSError as e:
        from ocirt.spec import json_path

        raise OcirtError(f"sysctl {key}={value}: {e.strerror}", path=json_path(["linux", "sysctl", key]),
                         source="config.json") from None


def _wait_and_exec(ctx):
    """Report ready, wait until `start` writes to the exec fifo, then exec.

    `start` learns the outcome through the exec status fifo: end-of-file
    when the exec succeeded (the fd is close-on-exec), or the error.
    """
    from ocirt.linux import process

    process.exit_on_terminating_signals()
    try:
        ctx.channel.send("ready")
    except (OSError, OcirtError):
        os._exit(1)
    ctx.channel.close()
    try:
        data = os.read(ctx.fifo_fd, 1)
    except OSError:
        data = b""
    if not data:
        os._exit(1)
    os.close(ctx.fifo_fd)
    try:
        from ocirt.linux.hooks import run_hooks

        proc = ctx.config["process"]
        run_hooks((ctx.config.get("hooks") or {}).get("startContainer"),
                  _container_hook_state(ctx.hook_state, "created"), "startContainer")
        ctx.hook_state["status"] = "running"
        process.reset_signals()
        ctx.seccomp.before_exec()
        os.execve(ctx.executable, proc["args"], ctx.env)
    except BaseException as e:
        message = str(e) if isinstance(e, OcirtError) else f"exec {ctx.executable}: {getattr(e, 'strerror', e)}"
        try:
            os.write(ctx.status_fd, shorten(message, 3000).encode()[:4000])
        except OSError:
            os.write(2, f"ocirt: {message}\n".encode())
        os._exit(127)


# ---------------------------------------------------------------- exec

def run_exec_intermediate(ctx):
    """Child of `ocirt exec`: join the container, fork the process. Never returns.

    fields: process, join_fds, cgroup_fds, channel, console_fd, preserve_fds, source,
    seccomp_config, listener_fd, state
    """
    try:
        from ocirt.linux.process import close_fds_except

        close_fds_except(ctx.preserve_fds, {*ctx.channel.fds(), ctx.console_fd, ctx.listener_fd,
                                            *ctx.cgroup_fds, *(fd for _, fd in ctx.join_fds)})
        syscalls.prctl(syscalls.PR_SET_DUMPABLE, 0)
        syscalls.prctl(syscalls.PR_SET_PDEATHSIG, 9)
        namespaces.join(ctx.join_fds)
        try:
            pid = os.fork()
        except MemoryError:
            raise
        except OSError as e:
            # fork into a pid namespace whose init has died fails with ENOMEM.
            if e.errno == 12 and any(t == "pid" for t, _ in ctx.join_fds):
                raise OcirtError("container not running") from None
            raise
        if pid == 0:
            _run_exec_process(ctx)
        ctx.channel.send("pid", str(pid))
        os._exit(0)
    except BaseException as e:
        _report(ctx.channel, e)
        os._exit(1)


def _run_exec_process(ctx):
    """The exec'd process before execve: inside every namespace of the container."""
    from ocirt.linux import process

    try:
        os.setsid()
        proc = ctx.process
        if proc.get("terminal"):
            from ocirt.linux import terminal

            terminal.setup_in_container(ctx.console_fd, proc.get("consoleSize"),
                                        (proc.get("user") or {}).get("uid"))
        executable, env = prepare_process(proc, ctx.source)
        compiled = _compile_seccomp(ctx.seccomp_config)
        join_cgroups(ctx.cgroup_fds, False)
        seccomp = _SeccompLoader(compiled, ctx.seccomp_config, ctx.listener_fd, ctx.state,
                                 proc.get("noNewPrivileges"))
        process.close_fds_on_exec(ctx.preserve_fds)
        seccomp.before_privileges_drop()
        drop_privileges(proc, ctx.source)
        process.reset_signals()
        seccomp.before_exec()
        # The channel is close-on-exec: the parent reads end-of-file once this succeeds.
        os.execve(executable, proc["args"], env)
    except BaseException as e:
        _report(ctx.channel, e)
        os._exit(EXIT_EXEC_FAILED)
