"""Lifecycle operations: create, start, state, kill, delete, run, pause, resume, ps, list.

Each operation loads the record, asks the state table whether it may run,
and drives the building blocks. Everything `create` builds is recorded
before it is built, so `delete --force` can undo a create that died half way.
"""
import os

from ocirt import state as st
from ocirt.errors import ContainerNotFound, OcirtError

OCI_VERSION = "1.3.0"


class Container:
    """A container's record plus where it lives; the status is always derived."""

    def __init__(self, store, container_id, record):
        self.store = store
        self.id = container_id
        self.record = record
        self.dir = store.dir(container_id)

    @classmethod
    def load(cls, store, container_id):
        st.validate_id(container_id)
        return cls(store, container_id, store.load(container_id))

    @property
    def pid(self):
        return self.record.get("pid", 0)

    def cgroups(self):
        from ocirt.linux.cgroups import Cgroups

        rec = self.record.get("cgroups")
        return Cgroups.from_record(rec) if rec else None

    def status(self):
        def frozen():
            cg = self.cgroups()
            return cg is not None and cg.is_frozen()

        return st.derive_status(self.record, self.dir, frozen)

    def init_alive(self):
        return st.pid_alive(self.pid, self.record.get("pid_start_time"))

    def oci_state(self, status=None):
        status = status or self.status()
        rec = self.record
        state = {
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "pid": self.pid if status != st.STOPPED else 0,
            "status": status,
            "bundle": rec["bundle"],
            "rootfs": rec["rootfs"],
            "created": rec["created"],
            "owner": "",
        }
        if rec.get("annotations"):
            state["annotations"] = rec["annotations"]
        return state

    def hook_state(self, status):
        state = {"ociVersion": OCI_VERSION, "id": self.id, "status": status,
                 "pid": self.pid, "bundle": self.record["bundle"]}
        if self.record.get("annotations"):
            state["annotations"] = self.record["annotations"]
        return state

    def signal_init(self, signum):
        """Signal the init through a pidfd, so a recycled pid is never hit."""
        import _signal as signal  # the C module: `signal` itself imports enum (~4 ms)

        try:
            pidfd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            raise OcirtError("container not running") from None
        try:
            # The pidfd pins the process; check it is still the one we started.
            if not self.init_alive():
                raise OcirtError("container not running")
            signal.pidfd_send_signal(pidfd, signum)
        except ProcessLookupError:
            raise OcirtError("container not running") from None
        finally:
            os.close(pidfd)


# ---------------------------------------------------------------- create

def create(store, container_id, bundle, *, pid_file=None, console_socket=None, no_pivot=False,
           preserve_fds=0, systemd_cgroup=False, subreaper=False, relay_terminal=False, new_keyring=True):
    """Build the container up to the exec fifo; returns the Container (status created).

    With a terminal and `relay_terminal` (foreground `run` without a console
    socket), ocirt receives the pty master itself: Container.terminal_master.
    """
    from ocirt import spec
    from ocirt.linux.cgroups import Cgroups
    from ocirt.linux.namespaces import NamespacePlan

    st.validate_id(container_id)
    bundle = os.path.abspath(bundle or ".")
    if not os.path.isdir(bundle):
        raise OcirtError(f"bundle {bundle} is not a directory")
    config = spec.load_config(bundle)
    from ocirt.linux.process import add_listen_env, listen_fds

    # systemd socket activation: LISTEN_FDS sockets go on to the container, as with runc.
    listening = listen_fds()
    add_listen_env(config["process"], listening)
    preserve_fds += listening
    rootfs = os.path.join(bundle, config["root"]["path"])  # an absolute root.path wins
    if not os.path.isdir(rootfs):
        raise OcirtError(f"rootfs {rootfs} does not exist or is not a directory", path="root.path",
                         source="config.json")
    rootfs = os.path.realpath(rootfs)
    linux = config.get("linux") or {}
    plan = NamespacePlan(linux.get("namespaces"))
    notes = _check_supported(config, plan, console_socket, relay_terminal)
    if store.exists(container_id):
        raise OcirtError(f"container {container_id!r} already exists")
    cgroups = Cgroups.for_container(container_id, linux.get("cgroupsPath"), systemd=systemd_cgroup)
    join_fds = plan.open_join_fds()
    try:
        store.claim(container_id)
    except BaseException:
        for _, fd in join_fds:
            os.close(fd)
        raise
    creation = _Creation(store, container_id, bundle, rootfs, config, plan, cgroups)
    # ocirt's own fds must not sit where the caller's preserved fds go (3 .. 3+N-1),
    # even when the caller passed fewer than N: the container would inherit them.
    join_fds = [(t, _lift_fd(fd, 3 + preserve_fds)) for t, fd in join_fds]
    try:
        lock = _lift_fd(store.lock(container_id), 3 + preserve_fds)
        try:
            creation.run(join_fds, no_pivot, preserve_fds, subreaper, console_socket, new_keyring)
            if pid_file:
                write_pid_file(pid_file, creation.init_pid)
        finally:
            os.close(lock)
    except BaseException:
        creation.undo()
        if creation.hooks_started:
            # The spec's lifecycle: a failed create hook still ends in poststop.
            from ocirt import log
            from ocirt.linux.hooks import run_hooks_warn

            for message in run_hooks_warn((config.get("hooks") or {}).get("poststop"),
                                          creation._hook_state(creation.init_pid, st.STOPPED), "poststop"):
                log.warning(message)
        raise
    from ocirt import log

    for message in notes + creation.warnings:
        log.warning(message)
    c = Container(store, container_id, creation.record)
    c.terminal_master = creation.terminal_master
    return c


def _check_supported(config, plan, console_socket, relay_terminal):
    """Refuse, before anything is built, what ocirt cannot do (yet) or the config cannot mean.

    Returns warnings, printed only once the create has succeeded (a refused
    create says one thing: why).
    """
    warnings = []
    proc = config["process"]
    linux = config.get("linux") or {}
    if proc.get("terminal") and not (console_socket or relay_terminal):
        raise OcirtError("process.terminal is true but no --console-socket was given to receive it",
                         path="process.terminal", source="config.json")
    if console_socket and not proc.get("terminal"):
        # As runc: a socket that would never receive anything is a caller's mistake.
        raise OcirtError("--console-socket was given but process.terminal is false: there is no terminal "
                         "to send", path="process.terminal", source="config.json")
    if proc.get("apparmorProfile"):
        raise OcirtError("AppArmor is not enabled on this host", path="process.apparmorProfile",
                         source="config.json")
    if proc.get("selinuxLabel"):
        raise OcirtError("SELinux is not enabled on this host", path="process.selinuxLabel",
                         source="config.json")
    if linux.get("mountLabel"):
        # A mount label only annotates files; without SELinux there is nothing to
        # label, and crun ignores it likewise. A process label would be a promise
        # of confinement, so that one stays an error.
        warnings.append("linux.mountLabel ignored: SELinux is not enabled on this host")
    if config.get("hostname") and not plan.has_own("uts"):
        raise OcirtError("unable to set hostname without a private UTS namespace",
                         path="hostname", source="config.json")
    if config.get("domainname") and not plan.has_own("uts"):
        raise OcirtError("unable to set domainname without a private UTS namespace",
                         path="domainname", source="config.json")
    # With a user namespace joined by path (containerd, CRI-O), mappings describe it and are not written.
    if (linux.get("uidMappings") or linux.get("gidMappings")) and not plan.has_own("user"):
        raise OcirtError("uidMappings/gidMappings need a user namespace",
                         path="linux.uidMappings", source="config.json")
    if not plan.has_own("mount"):
        for key, path in (("readonlyPaths", "linux.readonlyPaths"), ("maskedPaths", "linux.maskedPaths")):
            if linux.get(key):
                raise OcirtError(f"{key} need a private mount namespace", path=path, source="config.json")
        if (config.get("root") or {}).get("readonly"):
            raise OcirtError("a read-only root needs a private mount namespace", path="root.readonly",
                             source="config.json")
    if plan.creates("user") and not (linux.get("uidMappings") and linux.get("gidMappings")):
        raise OcirtError("a new user namespace needs uidMappings and gidMappings",
                         path="linux.uidMappings", source="config.json")
    return warnings


class _Creation:
    """The parent's side of create; `undo` removes whatever `run` got to build."""

    def __init__(self, store, container_id, bundle, rootfs, config, plan, cgroups):
        self.store = store
        self.id = container_id
        self.bundle = bundle
        self.rootfs = rootfs
        self.config = config
        self.plan = plan
        self.cgroups = cgroups
        self.init_pid = 0
        self.intermediate_pid = 0
        self.record = None
        self.warnings = []
        self.terminal_master = None
        self.hooks_started = False
        self.warmup = None

    def _new_record(self):
        me = os.getpid()
        hooks = self.config.get("hooks") or {}
        return {
            "status": st.CREATING,
            "creator_pid": me,
            "creator_start_time": st.process_start_time(me),
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": st.rfc3339_now(),
            "annotations": self.config.get("annotations") or {},
            # With the directories create() is about to make: a create killed half
            # way through cgroups.create() leaves parents only this record names.
            "cgroups": dict(self.cgroups.to_record(), created=_missing_cgroup_dirs(self.cgroups)),
            "own_namespaces": [t for t in ("pid", "mount", "user", "network", "ipc", "uts", "cgroup", "time")
                               if self.plan.has_own(t)],
            "poststart": hooks.get("poststart") or [],
            "poststop": hooks.get("poststop") or [],
            "pid": 0,
            "pid_start_time": None,
        }

    def run(self, join_fds, no_pivot, preserve_fds, subreaper, console_socket, new_keyring=True):
        from ocirt.linux import cgroupwarmup, syscalls
        from ocirt.linux.devices import cgroup_rules
        from ocirt.linux.sync import channel_pair
        from ocirt import init

        self.record = self._new_record()
        self.store.save(self.id, self.record)
        _fault_point("after-state-dir")
        linux = self.config.get("linux") or {}
        resources = dict(linux.get("resources") or {})
        resources["devices"] = cgroup_rules(resources.get("devices"), linux.get("devices"))
        self.cgroups.create()
        # The init's join will need a kernel grace period: let it pass meanwhile (cgroupwarmup).
        self.warmup = cgroupwarmup.start(self.cgroups.mounts)
        # Saved again: only now does the record know which parent dirs were made.
        self.record["cgroups"] = self.cgroups.to_record()
        self.store.save(self.id, self.record)
        _fault_point("after-cgroup")
        self.warnings = self.cgroups.apply(resources) or []

        min_fd = 3 + preserve_fds
        parent_ch, child_ch = channel_pair(min_fd)
        fifo_fd, status_fd = (self._make_fifo(name, min_fd) for name in ("exec.fifo", "exec.status"))
        terminal = bool(self.config["process"].get("terminal"))
        console_fd, relay_fd = self._console(terminal, console_socket, min_fd)
        # The init joins its cgroups itself, just before execve (init.join_cgroups).
        cgroup_fds = [_lift_fd(fd, min_fd) for fd in self.cgroups.join_fds()]
        listener_fd = _connect_seccomp_listener(linux.get("seccomp"), min_fd)
        ctx = init.InitContext(
            console_fd=console_fd, cgroup_fds=cgroup_fds, listener_fd=listener_fd, status_fd=status_fd,
            container_id=self.id, bundle=self.bundle, rootfs=self.rootfs, config=self.config,
            plan=self.plan, join_fds=join_fds, channel=child_ch, fifo_fd=fifo_fd,
            no_pivot=no_pivot, preserve_fds=preserve_fds, new_keyring=new_keyring,
            cgroup_views=_cgroup_views(self.cgroups),
            hook_state=self._hook_state(0),
        )
        init.preload(terminal)
        if subreaper:
            syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)
        pid = os.fork()
        if pid == 0:
            os.close(parent_ch.read_fd)
            os.close(parent_ch.write_fd)
            init.run_intermediate(ctx)  # never returns
        self.intermediate_pid = pid
        child_ch.close()
        os.close(fifo_fd)
        os.close(status_fd)
        for fd in cgroup_fds + [fd for fd in (console_fd, listener_fd) if fd is not None]:
            os.close(fd)
        for _, fd in join_fds:
            os.close(fd)
        _fault_point("after-clone")
        try:
            self._handshake(parent_ch)
        finally:
            parent_ch.close()
        if relay_fd is not None:
            from ocirt.linux.terminal import receive_master

            self.terminal_master = receive_master(relay_fd)

    def _make_fifo(self, name, min_fd):
        """A fifo in the container's directory, held open read-write by the init."""
        path = os.path.join(self.store.dir(self.id), name)
        os.mkfifo(path, 0o600)
        return _lift_fd(os.open(path, os.O_RDWR | os.O_CLOEXEC), min_fd)

    @staticmethod
    def _console(terminal, console_socket, min_fd):
        """(fd the container sends its pty master to, our end of it when we relay)."""
        if not terminal:
            return None, None
        if console_socket:
            from ocirt.linux.terminal import connect_console_socket

            return _lift_fd(connect_console_socket(console_socket), min_fd), None
        import socket

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        return _lift_fd(theirs.detach(), min_fd), ours.detach()

    def _handshake(self, channel):
        from ocirt.linux.hooks import run_hooks

        while True:
            kind, payload = channel.receive()
            if kind == "userns":
                self._write_id_maps(self.intermediate_pid)
                channel.send("mapped")
            elif kind == "timens":
                self._write_time_offsets(self.intermediate_pid)
                channel.send("offsets")
            elif kind == "pid":
                self.init_pid = int(payload)
                break
            elif kind == "error":
                raise OcirtError(payload)
            else:
                raise OcirtError("container init exited during setup")
        _reap(self.intermediate_pid)
        self.intermediate_pid = 0
        self.record["pid"] = self.init_pid
        self.record["pid_start_time"] = st.process_start_time(self.init_pid)
        self.store.save(self.id, self.record)
        self._set_oom_score_adj()
        channel.send("go", str(self.init_pid))
        _fault_point("during-mounts")
        channel.expect("hooks")
        self._stop_warmup()  # the init has joined its cgroups
        self.hooks_started = True
        hooks = self.config.get("hooks") or {}
        # prestart historically belongs to start (the conformance suite and
        # crun pass "created"); createRuntime is part of create.
        run_hooks(hooks.get("prestart"), self._hook_state(self.init_pid), "prestart")
        run_hooks(hooks.get("createRuntime"), self._hook_state(self.init_pid, st.CREATING), "createRuntime")
        channel.send("continue")
        channel.expect("ready")
        _fault_point("before-pid-file")
        self.record["status"] = st.CREATED
        self.store.save(self.id, self.record)

    def _hook_state(self, pid, status=st.CREATED):
        state = {"ociVersion": OCI_VERSION, "id": self.id, "status": status, "pid": pid,
                 "bundle": self.bundle}
        if self.config.get("annotations"):
            state["annotations"] = self.config["annotations"]
        return state

    def _write_id_maps(self, pid):
        linux = self.config["linux"]
        for kind, key in (("uid_map", "uidMappings"), ("gid_map", "gidMappings")):
            lines = "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in linux[key])
            try:
                with open(f"/proc/{pid}/{kind}", "w") as f:
                    f.write(lines)
            except OSError as e:
                raise OcirtError(f"writing {kind} of the user namespace: {e.strerror}",
                                 path=f"linux.{key}", source="config.json") from None

    def _write_time_offsets(self, pid):
        offsets = self.config["linux"].get("timeOffsets") or {}
        lines = "".join(f"{clock} {offsets[clock].get('secs', 0)} {offsets[clock].get('nanosecs', 0)}\n"
                        for clock in ("monotonic", "boottime") if clock in offsets)
        try:
            with open(f"/proc/{pid}/timens_offsets", "w") as f:
                f.write(lines)
        except OSError as e:
            raise OcirtError(f"writing the time namespace offsets: {e.strerror}",
                             path="linux.timeOffsets", source="config.json") from None

    def _set_oom_score_adj(self):
        value = self.config["process"].get("oomScoreAdj")
        if value is None:
            return
        try:
            with open(f"/proc/{self.init_pid}/oom_score_adj", "w") as f:
                f.write(str(value))
        except OSError as e:
            hint = " (lowering it needs CAP_SYS_RESOURCE)" if e.errno == 13 else ""
            raise OcirtError(f"setting oom_score_adj to {value}: {e.strerror}{hint}",
                             path="process.oomScoreAdj", source="config.json") from None

    def _stop_warmup(self):
        if self.warmup is not None:
            self.warmup.stop()
            self.warmup = None

    def undo(self):
        """Remove everything this creation built; safe to call at any point."""
        import _signal as signal  # the C module: `signal` itself imports enum (~4 ms)

        self._stop_warmup()
        for pid in (self.intermediate_pid, self.init_pid):
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.intermediate_pid:
            _reap(self.intermediate_pid)
        if self.init_pid:
            _wait_gone(self.init_pid, (self.record or {}).get("pid_start_time"))
        try:
            self.cgroups.kill_all(signal.SIGKILL)
            self.cgroups.destroy()
        except OcirtError:
            pass  # the record stays behind for `delete --force` to retry
        else:
            self.store.remove(self.id)


def _missing_cgroup_dirs(cgroups):
    """The directories cgroups.create() is about to make (each leaf and its missing parents), deepest last."""
    record = cgroups.to_record()
    missing = []
    for key, leaf in record["paths"].items():
        mount = record["mounts"][key]
        current = leaf
        chain = []
        while current != mount and len(current) > len(mount) and not os.path.isdir(current):
            chain.append(current)
            current = os.path.dirname(current)
        missing.extend(d for d in reversed(chain) if d not in missing)
    return missing


def _connect_seccomp_listener(seccomp, min_fd):
    """Connect to linux.seccomp.listenerPath now: after pivot_root the container cannot reach it."""
    path = (seccomp or {}).get("listenerPath")
    if not path:
        return None
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        raise OcirtError(f"cannot connect to the seccomp listener {path}: {e.strerror}",
                         path="linux.seccomp.listenerPath", source="config.json") from None
    return _lift_fd(sock.detach(), min_fd)


def _cgroup_views(cgroups):
    """(directory under the container's cgroup mount, host dir) for each hierarchy."""
    record = cgroups.to_record()
    views = []
    for key, host_dir in record["paths"].items():
        mountpoint = record["mounts"][key]
        name = os.path.relpath(mountpoint, "/sys/fs/cgroup")
        views.append(("" if name == "." else name, host_dir))
    return views


def _lift_fd(fd, min_fd):
    import fcntl

    if fd >= min_fd:
        return fd
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, min_fd)
    os.close(fd)
    return new


def _reap(pid):
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _wait_gone(pid, start_time=None, timeout=5.0):
    """Wait for a process we killed to exit (reap it if it is our child).

    Blocks on a pidfd, which the kernel makes readable when the process
    exits, instead of polling. With `start_time`, a pid that now names
    another process counts as gone.
    """
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return  # exited and reaped already (ESRCH); or nothing to wait on, and destroy() retries
    import select

    try:
        # The pidfd pins the pid: checked now, it cannot be reused behind our back.
        if start_time is not None and st.process_start_time(pid) not in (start_time, None):
            return
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        poller.poll(timeout * 1000)
    finally:
        os.close(pidfd)
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # someone else's child: its parent reaps it


def _fault_point(name):
    """Test hook: OCIRT_FAULT=<name> makes ocirt kill itself here (see tests/integration/test_faults.py)."""
    if os.environ.get("OCIRT_FAULT") == name:
        os.kill(os.getpid(), 9)


def write_pid_file(path, pid):
    """Decimal pid, no newline (go-runc parses it with Atoi), written atomically."""
    path = os.path.abspath(path)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w") as f:
            f.write(str(pid))
        os.rename(tmp, path)
    except OSError as e:
        raise OcirtError(f"writing pid file {path}: {e.strerror}") from None


# ---------------------------------------------------------------- start, kill, delete

def start(store, container_id):
    """Let the init exec; wait until it has (or has failed), then run poststart hooks."""
    from ocirt.linux.hooks import run_hooks_warn

    c = Container.load(store, container_id)
    lock = store.lock(container_id)
    try:
        st.check_allowed("start", c.status(), container_id)
        _fault_point("start-after-lock")
        # Saved before the init is released: if the state cannot be written
        # (a full disk), start fails with the container still created.
        c.record["status"] = st.RUNNING
        store.save(container_id, c.record)
        _fault_point("start-after-save")
        status_fd = _open_exec_status(c)
        try:
            fifo = os.path.join(c.dir, "exec.fifo")
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:
                raise OcirtError("container not running: its init is gone") from None
            try:
                # Released first, unlinked after: a start killed in between
                # leaves a fifo without a reader, which reads as running
                # (state.derive_status), never an init waiting on a fifo nobody can reach.
                os.write(fd, b"0")
                _fault_point("start-after-fifo")
                os.unlink(fifo)
            finally:
                os.close(fd)
            error = _read_exec_status(status_fd)
            _fault_point("start-after-exec")
        finally:
            if status_fd is not None:
                os.close(status_fd)
    finally:
        os.close(lock)
    if error:
        raise OcirtError(error)
    return run_hooks_warn(c.record.get("poststart"), c.hook_state(st.RUNNING), "poststart")


def _open_exec_status(c):
    path = os.path.join(c.dir, "exec.status")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    os.unlink(path)
    return fd


def _read_exec_status(fd):
    """The init's error message, or "" once it has exec'd (end-of-file)."""
    import select

    if fd is None:
        return ""
    chunks = []
    while True:
        select.select([fd], [], [])
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            continue
        if not data:
            return b"".join(chunks).decode(errors="replace")
        chunks.append(data)


def state(store, container_id):
    c = Container.load(store, container_id)
    return c.oci_state()


def kill(store, container_id, signum, all_processes=False):
    c = Container.load(store, container_id)
    status = c.status()
    st.check_allowed("kill-all" if all_processes else "kill", status, container_id)
    if all_processes:
        cg = c.cgroups()
        if cg is not None:
            cg.kill_all(signum)
        if status != st.STOPPED and c.init_alive():
            try:
                c.signal_init(signum)
            except OcirtError:
                if c.init_alive():
                    raise
                # the init just died of what kill_all sent: done
    else:
        c.signal_init(signum)
        if status == st.PAUSED and signum == 9:
            # A frozen task only dies once thawed (cgroup v1); runc thaws too.
            c.cgroups().thaw()


def delete(store, container_id, force=False):
    import _signal as signal  # the C module: `signal` itself imports enum (~4 ms)

    from ocirt.linux.hooks import run_hooks_warn

    st.validate_id(container_id)
    if not store.exists(container_id):
        if force:
            return []
        raise ContainerNotFound(container_id)
    lock = store.lock(container_id)
    try:
        try:
            c = Container.load(store, container_id)
        except st.ForeignRecord:
            raise  # never remove another runtime's container
        except (ContainerNotFound, OcirtError):
            if not force:
                raise
            store.remove(container_id)  # a directory without a readable record
            return []
        status = c.status()
        st.check_allowed("delete-force" if force else "delete", status, container_id)
        _fault_point("delete-after-lock")
        cg = c.cgroups()
        # Also when the status is stopped: a creator killed half way leaves
        # an init (pid and start time recorded, so never a recycled pid) that
        # may not be in its cgroup yet.
        if c.init_alive():
            try:
                c.signal_init(signal.SIGKILL)
            except OcirtError:
                pass
        if cg is not None:
            if cg.is_frozen():
                cg.thaw()
            cg.kill_all(signal.SIGKILL)
        if c.pid:
            _wait_gone(c.pid, c.record.get("pid_start_time"))
        _fault_point("delete-after-kill")
        if cg is not None:
            cg.destroy()
        _fault_point("delete-after-cgroup")
        warnings = []
        if c.record.get("status") != st.CREATING:
            warnings = run_hooks_warn(c.record.get("poststop"), c.hook_state(st.STOPPED), "poststop")
        store.remove(container_id)
        return warnings
    finally:
        os.close(lock)


def pause(store, container_id):
    c = Container.load(store, container_id)
    st.check_allowed("pause", c.status(), container_id)
    c.cgroups().freeze()


def resume(store, container_id):
    c = Container.load(store, container_id)
    st.check_allowed("resume", c.status(), container_id)
    c.cgroups().thaw()


def ps(store, container_id):
    c = Container.load(store, container_id)
    st.check_allowed("ps", c.status(), container_id)
    cg = c.cgroups()
    return cg.pids() if cg is not None else []


def list_containers(store):
    out = []
    for container_id in store.list_ids():
        try:
            c = Container.load(store, container_id)
        except OcirtError:
            continue  # removed while listing, or a half-written directory
        out.append(c.oci_state())
    return out


# ---------------------------------------------------------------- run

def run(store, container_id, bundle, *, detach=False, pid_file=None, console_socket=None,
        no_pivot=False, preserve_fds=0, systemd_cgroup=False, keep=False, new_keyring=True):
    """create + start; in the foreground, wait and return the container's exit code."""
    from ocirt.linux import process

    # In the foreground, termination signals go to the container from the start
    # (held until its pid is known), so that ocirt never dies mid-relay.
    forward = None if detach else process.SignalForwarder()
    c = create(store, container_id, bundle, pid_file=pid_file, console_socket=console_socket,
               no_pivot=no_pivot, preserve_fds=preserve_fds, systemd_cgroup=systemd_cgroup,
               new_keyring=new_keyring, subreaper=not detach, relay_terminal=not detach and not console_socket)
    if forward is not None:
        forward.target(c.pid)
    try:
        warnings = start(store, container_id)
    except BaseException:
        delete(store, container_id, force=True)
        raise
    if detach:
        return 0, warnings
    if c.terminal_master is not None:
        from ocirt.linux.terminal import relay

        relay(c.terminal_master)
    code = process.wait_foreground(c.pid)
    if not keep:
        warnings += delete(store, container_id, force=True)
    return code, warnings
