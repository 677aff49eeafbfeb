"""A private containerd for tests: its own config, root, state and sockets in a
temporary directory, `ctr` against it, and a clean-up that leaves nothing behind.

    from callers.containerd_daemon import Containerd
    daemon = Containerd(namespace="ocirt-ctr-1a2b3c4d")   # makes daemon.dir
    daemon.start(extra_toml=f'''
    [plugins."io.containerd.grpc.v1.cri"]
      sandbox_image = "docker.io/library/ocirt-pause:latest"
      restrict_oom_score_adj = true
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.ocirt]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.ocirt.options]
          BinaryName = "{OCIRT}"
          Root = "{daemon.dir}/ocirt-root"
    ''', cri=True)
    daemon.ctr("image", "import", "busybox.tar", check=True)
    result = daemon.ctr("run", "--rm", "--runc-binary", OCIRT, IMAGE, "c1", "echo", "hi")
    ...
    leftovers = daemon.stop()     # [] when the tests cleaned up after themselves
    daemon.cleanup()              # force-removes whatever is left, then the temp dir

* `Containerd(namespace=...)` picks the containerd namespace `ctr` uses
  (default: a fresh `ocirt-ctr-<hex>`). The runc shim always runs the runtime
  with `--root <Root option or /run/containerd/runc>/<namespace>`, and ctr puts
  containers in the cgroup `/<namespace>/<id>`, so a namespace of its own keeps
  the runtime's state dir and the cgroups of a test run private.
  CRI always uses the namespace "k8s.io": add it with `daemon.namespaces.add("k8s.io")`
  so that stop()/cleanup() cover it too, and give the runtime a private
  `options.Root` (as above), then `daemon.add_runtime_root("<Root>/k8s.io")`.
* `start(extra_toml="", cri=False)`: `extra_toml` is appended to the generated
  config, which sets only top-level keys and the [grpc], [ttrpc], [debug] and
  opt-plugin tables, so it may hold any other table. The CRI plugin is
  disabled unless `cri=True` (it would otherwise start CNI and streaming).
* `ctr(*args, check=False, timeout=60, namespace=None)` returns a
  CompletedProcess with text stdout and stderr; `ctr_argv(*args)` gives the
  argv, e.g. to run ctr on a pty.
* `stop()` removes what clients left behind in the namespaces (tasks with SIGKILL,
  containers and their snapshots), stops containerd, and returns a
  list of descriptions of what it had to remove or still finds (state dirs of
  containers, cgroups, shims, mounts), so a fixture can assert it is empty.
  `cleanup()` then removes anything still there and the temporary directory.
* `log()` returns containerd's own debug log, for assertion messages.

`running(...)` wraps all of it for a pytest fixture:

    @pytest.fixture(scope="module")
    def daemon():
        with running(extra_toml=lambda d: f'... {d.dir} ...', cri=True) as d:
            yield d          # on exit: stop(), cleanup(), then AssertionError
                             # listing anything the tests left behind
"""
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

RUNC_SHIM_ROOT = "/run/containerd/runc"
# Created on demand by containerd/ctr/the shim; removed by cleanup() if empty.
SHARED_RUN_DIRS = ("/run/containerd/runc", "/run/containerd/fifo", "/run/containerd/s", "/run/containerd")
CRI_PLUGIN = "io.containerd.grpc.v1.cri"
CGROUP_ROOT = "/sys/fs/cgroup"
MNT_DETACH = 2

CONFIG_TEMPLATE = """\
version = 2
root = "{dir}/root"
state = "{dir}/state"
disabled_plugins = [{disabled}]

[grpc]
  address = "{dir}/containerd.sock"

[ttrpc]
  address = "{dir}/containerd.sock.ttrpc"

[debug]
  address = "{dir}/debug.sock"
  level = "debug"

# The opt plugin would otherwise create /opt/containerd.
[plugins."io.containerd.internal.v1.opt"]
  path = "{dir}/opt"

"""


@contextlib.contextmanager
def running(namespace=None, extra_toml="", cri=False, configure=None):
    """A started Containerd for the `with` block; stopped and removed after it.

    `extra_toml` is text, or a function of the (not yet started) Containerd
    returning text (to use `d.dir`). `configure(d)` runs before start, e.g. to
    add namespaces or runtime roots. Raises AssertionError after the clean-up
    when the block left containers, tasks, runtime state, cgroups, shims or
    mounts behind (unless the block itself raised).
    """
    daemon = Containerd(namespace=namespace)
    try:
        if configure:
            configure(daemon)
        daemon.start(extra_toml(daemon) if callable(extra_toml) else extra_toml, cri=cri)
        yield daemon
        left = daemon.stop()
    finally:
        log_tail = daemon.log()[-2000:]
        daemon.cleanup()
    assert not left, "left behind after the tests: " + "; ".join(left) + "\ncontainerd log:\n" + log_tail


class Containerd:
    def __init__(self, namespace=None, binary="containerd", ctr_binary="ctr"):
        # Short: unix socket paths must stay under 108 bytes.
        self.dir = tempfile.mkdtemp(prefix="ocirt-ctrd-", dir="/tmp")
        self.namespace = namespace or f"ocirt-ctr-{uuid.uuid4().hex[:8]}"
        self.namespaces = {self.namespace}
        self.binary = binary
        self.ctr_binary = ctr_binary
        self.address = os.path.join(self.dir, "containerd.sock")
        self.config_path = os.path.join(self.dir, "config.toml")
        self.log_path = os.path.join(self.dir, "containerd.log")
        self.proc = None
        self._runtime_roots = set()

    @property
    def runtime_roots(self):
        """Directories the runtime gets as --root: <shim root>/<ns> per namespace,
        plus any added (e.g. a CRI runtime's options.Root/k8s.io)."""
        return self._runtime_roots | {os.path.join(RUNC_SHIM_ROOT, ns) for ns in self.namespaces}

    def add_runtime_root(self, path):
        self._runtime_roots.add(path)

    # -- running -------------------------------------------------------------

    def start(self, extra_toml="", cri=False, timeout=30):
        disabled = [] if cri else [CRI_PLUGIN]
        config = CONFIG_TEMPLATE.format(dir=self.dir, disabled=", ".join(f'"{p}"' for p in disabled))
        with open(self.config_path, "w") as f:
            f.write(config + extra_toml)
        with open(self.log_path, "ab") as log:
            # A session of its own: a ^C on the test run must not kill it before clean-up.
            self.proc = subprocess.Popen([self.binary, "--config", self.config_path],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"containerd exited {self.proc.returncode}:\n{self.log()[-3000:]}")
            if os.path.exists(self.address) and self.ctr("version", timeout=10).returncode == 0:
                return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"containerd did not answer within {timeout}s:\n{self.log()[-3000:]}")
            time.sleep(0.1)

    def ctr_argv(self, *args, namespace=None):
        return [self.ctr_binary, "--address", self.address, "--namespace", namespace or self.namespace,
                *map(str, args)]

    def ctr(self, *args, check=False, timeout=60, namespace=None, input=None):
        argv = self.ctr_argv(*args, namespace=namespace)
        result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout,
                                stdin=None if input is not None else subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {result.returncode}:\n"
                                 f"stdout: {result.stdout}\nstderr: {result.stderr}")
        return result

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    # -- stopping ------------------------------------------------------------

    def stop(self, timeout=15):
        """Remove tasks and containers left in our namespaces, stop containerd,
        and return what had been left behind (empty list: nothing)."""
        left = []
        if self.proc and self.proc.poll() is None:
            for ns in sorted(self.namespaces):
                left += self._remove_tasks_and_containers(ns)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                left.append("containerd ignored SIGTERM")
                self.proc.kill()
                self.proc.wait()
        deadline = time.monotonic() + 5  # shims exit shortly after their last task is deleted
        while self._shims() and time.monotonic() < deadline:
            time.sleep(0.1)
        _reap_children_named("containerd-shim")
        left += self.leftovers()
        return left

    def _remove_tasks_and_containers(self, ns):
        left = []
        tasks = self.ctr("task", "ls", "-q", namespace=ns).stdout.split()
        for task in tasks:
            left.append(f"task {ns}/{task}")
            self.ctr("task", "kill", "--all", "--signal", "SIGKILL", task, namespace=ns)
            self.ctr("task", "delete", "--force", task, namespace=ns)
        for container in self.ctr("container", "ls", "-q", namespace=ns).stdout.split():
            left.append(f"container {ns}/{container}")
            self.ctr("container", "rm", container, namespace=ns)
        return left

    def leftovers(self):
        """What would be left on the host if the temp dir went away now."""
        left = []
        for root in sorted(self.runtime_roots):
            if os.path.isdir(root) and os.listdir(root):
                left.append(f"runtime state in {root}: {sorted(os.listdir(root))}")
        for path in self._container_cgroups():
            left.append(f"cgroup {path}")
        for pid in self._shims():
            left.append(f"shim process {pid}")
        for mount in self._mounts():
            left.append(f"mount {mount}")
        return left

    def cleanup(self):
        """Force-remove everything: shims, mounts, cgroups, runtime state, temp dir."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pid in self._shims():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _reap_children_named("containerd-shim")
        for mount in reversed(self._mounts()):
            _umount(mount)
        for ns in self.namespaces:
            for controller in _controllers():
                _remove_cgroup_tree(os.path.join(controller, ns))
        for root in self.runtime_roots:
            shutil.rmtree(root, ignore_errors=True)
        for shared in SHARED_RUN_DIRS:
            try:
                os.rmdir(shared)
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- what belongs to us -------------------------------------------------

    def _container_cgroups(self):
        """Cgroup dirs below /<ns> in any hierarchy (the parent /<ns> itself is
        left by runc too, and is not counted)."""
        found = []
        for ns in sorted(self.namespaces):
            for controller in _controllers():
                top = os.path.join(controller, ns)
                if os.path.isdir(top):
                    found += [os.path.join(top, d) for d in sorted(os.listdir(top))
                              if os.path.isdir(os.path.join(top, d))]
        return found

    def _shims(self):
        """Live shim processes started by this containerd (found by -address)."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"containerd-shim-runc-v2") and self.address.encode() in argv:
                pids.append(int(entry))
        return pids

    def _mounts(self):
        """Mount points under our temp dir, in mount order."""
        points = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                point = line.split()[4].replace("\\040", " ")
                if point == self.dir or point.startswith(self.dir + "/"):
                    points.append(point)
        return points


def _controllers():
    """Every cgroup hierarchy mounted under /sys/fs/cgroup (v1 controllers,
    the v2 `unified` mount, or the v2 root itself)."""
    found = [CGROUP_ROOT]
    for name in os.listdir(CGROUP_ROOT):
        path = os.path.join(CGROUP_ROOT, name)
        if os.path.isdir(path) and not os.path.islink(path) and os.path.ismount(path):
            found.append(path)
    return found


def _remove_cgroup_tree(top):
    """rmdir a cgroup and its children, deepest first (cgroup dirs only hold
    kernel files, so rmdir is the way to remove them)."""
    if not os.path.isdir(top):
        return
    for path, _, _ in sorted(os.walk(top), key=lambda entry: len(entry[0]), reverse=True):
        try:
            os.rmdir(path)
        except OSError:
            pass


def _umount(point):
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.umount2(point.encode(), MNT_DETACH)


def _reap_children_named(comm):
    """Reap our zombie children called `comm`: the shims are re-parented to the
    test process when it is a child subreaper (tests/conftest.py `subreaper`)."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index(b"(") + 1:stat.rindex(b")")]
        fields = stat[stat.rindex(b")") + 2:].split()
        if fields[0] == b"Z" and int(fields[1]) == me and name == comm.encode()[:15]:
            try:
                os.waitpid(int(entry), os.WNOHANG)
            except ChildProcessError:
                pass
