"""A private podman for the caller tests: every file podman writes lives under
one temporary directory, and every container runs under ocirt through conmon.

    with private_podman(OCIRT) as podman:
        podman("load", "-i", image_tar)
        result = podman("run", "--rm", image, "echo", "hi")   # podman --runtime OCIRT ...
        podman.leftovers()                                     # [] once all is removed

What `private_podman` sets up (and what a user would copy, with their own paths):

* containers.conf (CONTAINERS_CONF): `cgroup_manager = "cgroupfs"` (no
  systemd here), `events_logger = "file"`, `netns = "none"` (no network:
  netavark is never run, so no bridge, firewall rule or /run/netns is made),
  `runtime_supports_json` listing `ocirt` (podman then passes
  `--log-format=json --log FILE` and reads ocirt's error message from FILE),
  and `default_ulimits` no higher than this process's hard limits (podman's
  default of 1048576 open files is above the hard limit here, and without
  CAP_SYS_RESOURCE no runtime may raise it);
* storage.conf (CONTAINERS_STORAGE_CONF): overlay, graphroot and runroot
  under the temporary directory.

On exit it removes every pod and container, runs `podman system reset`,
waits for conmon and `podman container cleanup` to finish (and reaps them:
the test process is the subreaper they are re-parented to), unmounts what is
still mounted under the directory and removes it. What podman makes outside
the directory whatever its configuration (the /libpod_parent cgroups,
/run/containers/networks, the blob-info cache in /var/lib/containers, and
ocirt's default state dir /run/ocirt) is removed when it was not there before
and no other private podman is running (test runs may overlap). Anything that
could not be removed fails the exit.
"""
import contextlib
import glob
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time

CGROUP_ROOT = "/sys/fs/cgroup"
CGROUP_PARENT = "libpod_parent"        # podman's cgroupfs parent
OCIRT_STATE_DIR = "/run/ocirt"         # ocirt's default --root: podman passes none
HOST_DIRS = (OCIRT_STATE_DIR, "/run/containers", "/var/lib/containers")
BASE_PREFIX = "ocirt-podman-"
OWNER_FILE = "owner.pid"               # in each base dir: the pid of the test process
_ULIMITS = (("nofile", resource.RLIMIT_NOFILE, 1048576),
            ("nproc", resource.RLIMIT_NPROC, 32768))


def default_ulimits():
    """["nofile=N:N", "nproc=M:M"] within this process's hard limits."""
    limits = []
    for name, which, wanted in _ULIMITS:
        _, hard = resource.getrlimit(which)
        value = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
        limits.append(f"{name}={value}:{value}")
    return limits


def containers_conf(base, runtime):
    name = os.path.basename(runtime)
    return f"""\
[containers]
netns = "none"
default_ulimits = {json.dumps(default_ulimits())}

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{base}/events.log"
tmp_dir = "{base}/libpod-tmp"
volume_path = "{base}/volumes"
static_dir = "{base}/storage/libpod"
image_copy_tmp_dir = "{base}/tmp"
runtime = "{name}"
runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "{name}"]

[engine.runtimes]
{name} = ["{runtime}"]

[network]
network_config_dir = "{base}/networks"
"""


def storage_conf(base):
    return f"""\
[storage]
driver = "overlay"
graphroot = "{base}/storage"
runroot = "{base}/runroot"
"""


# --- the host, read through /proc and /sys --------------------------------------------

def _read(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return None


def _pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _proc_stat(pid):
    """(state, ppid) of a process, or None once it is gone."""
    stat = _read(f"/proc/{pid}/stat", "rb")
    if stat is None:
        return None
    fields = stat[stat.rindex(b")") + 2:].split()
    return fields[0].decode(), int(fields[1])


def _alive(pid):
    stat = _proc_stat(pid)
    return stat is not None and stat[0] != "Z"


def _cgroup_parents():
    """Every <hierarchy>/libpod_parent directory that exists now."""
    return sorted(p for p in glob.glob(os.path.join(CGROUP_ROOT, "*", CGROUP_PARENT))
                  if os.path.isdir(p))


def _remove_cgroup_tree(path):
    """rmdir a cgroup and its children, deepest first; True when it is gone.
    A cgroup that still has processes stays (EBUSY)."""
    for top, _, _ in sorted(os.walk(path), key=lambda entry: len(entry[0]), reverse=True):
        with contextlib.suppress(OSError):
            os.rmdir(top)
    return not os.path.exists(path)


def _other_podmans_running(base):
    """True when another private podman (another test run) is alive."""
    for other in glob.glob(os.path.join(os.path.dirname(base), BASE_PREFIX + "*")):
        owner = _read(os.path.join(other, OWNER_FILE))
        if other != base and owner and owner.strip().isdigit() and _alive(int(owner)):
            return True
    return False


class Podman:
    """`podman(...)` runs `podman --runtime <ocirt> ...` with the private
    configuration; it returns the CompletedProcess (text) and raises on a
    non-zero exit unless check=False."""

    def __init__(self, base, runtime):
        self.base = base
        self.runtime = runtime
        self.conf = os.path.join(base, "containers.conf")
        self.events_log = os.path.join(base, "events.log")
        self.storage_conf = os.path.join(base, "storage.conf")
        os.makedirs(os.path.join(base, "tmp"))
        for path, text in ((self.conf, containers_conf(base, runtime)),
                           (self.storage_conf, storage_conf(base)),
                           (os.path.join(base, OWNER_FILE), str(os.getpid()))):
            with open(path, "w") as f:
                f.write(text)
        # HOME too: `podman system reset` makes $HOME/.config/containers/podman
        self.env = dict(os.environ, CONTAINERS_CONF=self.conf,
                        CONTAINERS_STORAGE_CONF=self.storage_conf,
                        TMPDIR=os.path.join(base, "tmp"), HOME=base)
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR"):
            self.env.pop(name, None)
        self.ids = set()   # every container and pod id seen, for the leak checks

    def argv(self, *args):
        return ["podman", "--runtime", self.runtime, *map(str, args)]

    def __call__(self, *args, check=True, timeout=60, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        # Files, not pipes: nothing podman leaves running (conmon, the exit
        # command) can then hold our end open.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            result = subprocess.run(self.argv(*args), stdout=out, stderr=err, text=True,
                                    env=self.env, timeout=timeout, **kw)
            out.seek(0)
            err.seek(0)
            result.stdout, result.stderr = out.read(), err.read()
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(result.args)} exited {result.returncode}:\n"
                                 f"{result.stdout}{result.stderr}")
        return result

    def inspect(self, name, template):
        """`podman inspect --format TEMPLATE NAME`, stripped."""
        return self("inspect", "--format", template, name).stdout.strip()

    def remember_all(self):
        """Record the id of every container and pod there has been, from the
        file events backend's log (which has those removed by `run --rm` too)."""
        for line in (_read(self.events_log) or "").splitlines():
            event = json.loads(line)
            if event.get("Type") in ("container", "pod") and event.get("ID"):
                self.ids.add(event["ID"])

    def remove_all(self):
        """Stop every pod and container at once (no stop timeout) and remove them.

        Removal waits until conmon and the `podman container cleanup` it starts
        have finished, and is tried twice: podman 4.3 sometimes leaves the
        /dev/shm mount of a stopped user-namespaced container mounted, and
        `podman rm` then fails once with "unlinkat .../userdata/shm: device or
        resource busy" (about 1 in 8 under runc as under ocirt; podman issue
        #11594 is the same symptom)."""
        self.remember_all()
        self("pod", "stop", "--all", "--time", "0")
        self("stop", "--all", "--time", "0")
        self.wait_for_processes()
        for attempt in (1, 2):
            pods = self("pod", "rm", "--all", "--force", check=attempt == 2)
            containers = self("rm", "--all", "--force", check=attempt == 2)
            if pods.returncode == containers.returncode == 0:
                break
        self.prune_pod_cgroups()

    def prune_pod_cgroups(self):
        """Remove the empty cgroups of removed pods that podman leaves in the
        name=systemd and unified hierarchies. podman removes a pod's cgroup
        only in the v1 controllers it manages; the runtime (runc as well as
        ocirt) nests the member containers' cgroups in every hierarchy."""
        pods = set(self("pod", "ps", "-q", "--no-trunc").stdout.split())
        for parent in _cgroup_parents():
            for name in os.listdir(parent):
                if name in self.ids and name not in pods:
                    _remove_cgroup_tree(os.path.join(parent, name))

    # --- what is left on the host ----------------------------------------------------

    def _is_ours(self, pid):
        """conmon, `podman container cleanup` and ocirt name the base dir;
        container processes sit in a cgroup named after their container."""
        cmdline = _read(f"/proc/{pid}/cmdline", "rb") or b""
        if self.base.encode() in cmdline:
            return True
        cgroups = _read(f"/proc/{pid}/cgroup") or ""
        return f"/{CGROUP_PARENT}/" in cgroups and any(i in cgroups for i in self.ids)

    def processes(self):
        """Live processes of this podman, as (pid, command line)."""
        return [(pid, (_read(f"/proc/{pid}/cmdline", "rb") or b"").replace(b"\0", b" ").decode())
                for pid in _pids() if _alive(pid) and self._is_ours(pid)]

    def reap(self):
        """Reap conmons and exit commands that ended as our (the subreaper's) zombies."""
        me = os.getpid()
        for pid in _pids():
            if _proc_stat(pid) == ("Z", me):
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)

    def wait_for_processes(self, timeout=20):
        """Wait until no process of this podman runs; return those still running."""
        deadline = time.monotonic() + timeout
        while True:
            self.reap()
            left = self.processes()
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.1)

    def mounts(self):
        """Mount points under the private directory, deepest first."""
        points = [line.split()[4] for line in (_read("/proc/self/mountinfo") or "").splitlines()]
        return sorted((p for p in points if p == self.base or p.startswith(self.base + "/")),
                      key=len, reverse=True)

    def state_dirs(self):
        """ocirt state dirs (default root) of the containers seen."""
        return sorted(i for i in self.ids if os.path.exists(os.path.join(OCIRT_STATE_DIR, i)))

    def container_cgroups(self):
        """Cgroups under /libpod_parent named after a container or pod seen."""
        return [os.path.join(top, d)
                for parent in _cgroup_parents() for top, dirs, _ in os.walk(parent)
                for d in dirs if any(i in d for i in self.ids)]

    def leftovers(self):
        """What the containers seen so far left behind ([] when nothing)."""
        self.remember_all()
        problems = []
        procs = self.wait_for_processes(timeout=10)
        if procs:
            problems.append(f"processes: {procs}")
        if self.state_dirs():
            problems.append(f"ocirt state dirs in {OCIRT_STATE_DIR}: {self.state_dirs()}")
        if self.container_cgroups():
            problems.append(f"cgroups: {self.container_cgroups()}")
        return problems


@contextlib.contextmanager
def private_podman(runtime):
    """A Podman on a fresh temporary directory; cleaned up and checked on exit
    (AssertionError when something could not be removed)."""
    existed = {path for path in HOST_DIRS if os.path.exists(path)}
    parents_existed = set(_cgroup_parents())
    base = tempfile.mkdtemp(prefix=BASE_PREFIX)
    os.chmod(base, 0o755)  # user-namespaced containers must reach their rootfs
    podman = Podman(base, runtime)
    try:
        yield podman
    finally:
        problems = _close(podman)
        if not _other_podmans_running(base):
            problems += _remove_host_dirs(existed, parents_existed)
    assert not problems, "podman left behind: " + "; ".join(problems)


def _close(podman):
    problems = []
    try:
        podman.remove_all()
        podman("system", "reset", "--force")
    except (AssertionError, subprocess.TimeoutExpired) as e:
        problems.append(f"clean-up failed: {e}")
    problems += podman.leftovers()
    for point in podman.mounts():
        problems.append(f"mount {point}")
        subprocess.run(["umount", "--lazy", point], check=False)
    shutil.rmtree(podman.base, ignore_errors=True)
    return problems


def _remove_host_dirs(existed, parents_existed):
    """Remove what podman made outside its directory, if it was not there before."""
    problems = []
    for parent in _cgroup_parents():
        if parent not in parents_existed and not _remove_cgroup_tree(parent):
            problems.append(f"cgroup {parent} is still in use")
    for path in HOST_DIRS:
        if path in existed:
            continue
        if path == OCIRT_STATE_DIR:
            with contextlib.suppress(OSError):   # only when empty: ocirt's, not podman's
                os.rmdir(path)
        else:
            shutil.rmtree(path, ignore_errors=True)
    return problems
