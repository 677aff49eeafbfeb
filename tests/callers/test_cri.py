"""ocirt under Kubernetes' CRI: containerd 1.6's CRI plugin with a RuntimeClass
handler `ocirt`, driven the way kubelet drives it.

There is no kubelet and no crictl in Debian 12, so `callers.cri.client` (a
runtime.v1 client over grpcio) sends kubelet's calls: RunPodSandbox with host
networking and pod-level pid and ipc namespaces, CreateContainer and
StartContainer, ExecSync, UpdateContainerResources, StopContainer with a grace
period, RemoveContainer, StopPodSandbox and RemovePodSandbox.

Setup, as on a node of this machine:
  * a private containerd (callers/containerd_daemon.py) whose CRI plugin maps
    the handler `ocirt` to the runc v2 shim with `BinaryName = OCIRT`
    (`cri_config` below is the configuration a user would copy);
  * `restrict_oom_score_adj = true`: sandboxes ask for oomScoreAdj -998, which
    needs CAP_SYS_RESOURCE, absent here;
  * no CNI: host-network pods only, with no hostname (as kubelet sends them);
  * the sandbox ("pause") image is busybox running `sleep 2147483647`; it and
    the busybox image are built by the tests and imported into the `k8s.io`
    namespace, nothing is pulled;
  * like kubelet (cgroupfs driver), the tests make each pod's cgroup
    `<top>/pod<uid>` in every hierarchy and pass it as `cgroup_parent`;
    containerd puts each container at `<cgroup_parent>/<id>`.

The shim runs the runtime with `--root /run/containerd/runc/k8s.io`. That ocirt,
not runc, ran a pod is checked with `ocirt --root ... state <id>`, which reads
ocirt's own record. After each pod is removed, nothing of it may be left: no
state dir, no cgroup under its pod cgroup, no mount, no shim.
"""
import json
import os
import subprocess
import time
import uuid
from types import SimpleNamespace

import grpc
import pytest

from conftest import OCIRT
from callers.containerd_daemon import running
from callers.cri.client import CriClient
from callers.oci_image import build_image

HANDLER = "ocirt"
K8S_NAMESPACE = "k8s.io"  # the containerd namespace CRI always uses
RUNTIME_ROOT = f"/run/containerd/runc/{K8S_NAMESPACE}"
PAUSE_IMAGE = "docker.io/library/ocirt-pause:latest"
CGROUP_MOUNTS_UNDER = "/sys/fs/cgroup"
MIB = 1 << 20


def cri_config(daemon):
    """The CRI plugin's part of containerd's config.toml (version 2)."""
    return f"""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # Sandboxes ask for oomScoreAdj -998; without CAP_SYS_RESOURCE it must be clamped.
  restrict_oom_score_adj = true
  # Test-only: no fixed streaming port, and no CNI config from the host.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{daemon.dir}/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{HANDLER}]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{HANDLER}.options]
        BinaryName = "{OCIRT}"
"""


# ---------------------------------------------------------------- host views

def cgroup_mounts():
    """{controller-or-name: mount point} for every cgroup hierarchy mounted
    under /sys/fs/cgroup ("" is the cgroup2 hierarchy)."""
    mounts = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4]
            fstype, options = fields[-3], fields[-1]
            if not point.startswith(CGROUP_MOUNTS_UNDER + "/"):
                continue
            if fstype == "cgroup2":
                mounts[""] = point
            elif fstype == "cgroup":
                for option in options.split(","):
                    if option in ("rw", "ro") or option.startswith("release_agent"):
                        continue
                    mounts[option] = point
    return mounts


def process_cgroup(pid, controller):
    """The cgroup path of `pid` in the hierarchy holding `controller` ("" for v2)."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controller in controllers.split(",") or controllers == controller:
                return path
    raise AssertionError(f"process {pid} is in no {controller or 'v2'} cgroup")


def cgroup_file(pid, controller, name):
    mount = cgroup_mounts()[controller]
    with open(os.path.join(mount, process_cgroup(pid, controller).lstrip("/"), name)) as f:
        return f.read().strip()


def namespaces(pid, kinds=("pid", "ipc", "net", "uts", "mnt")):
    return {kind: os.readlink(f"/proc/{pid}/ns/{kind}") for kind in kinds}


def process_alive(pid):
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def mounts_mentioning(text):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if text in line]


def shims_for(sandbox_id):
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"containerd-shim-runc-v2") and sandbox_id.encode() in argv:
            found.append(int(entry))
    return found


def ocirt_state(container_id):
    """What ocirt itself records about a container the shim made with it."""
    result = subprocess.run([OCIRT, "--root", RUNTIME_ROOT, "state", container_id],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, f"ocirt does not know {container_id}: {result.stderr}"
    return json.loads(result.stdout)


def wait_for(predicate, timeout=10, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def pause_image(busybox_rootfs, tmp_path_factory):
    tar = tmp_path_factory.mktemp("images") / "ocirt-pause.oci.tar"
    build_image(busybox_rootfs, tar, PAUSE_IMAGE, cmd=["sleep", "2147483647"])
    return str(tar)


@pytest.fixture(scope="module")
def cri(busybox_image, pause_image):
    """A CRI endpoint: SimpleNamespace(client, api, daemon, image)."""
    def configure(daemon):
        daemon.namespaces.add(K8S_NAMESPACE)

    with running(extra_toml=cri_config, cri=True, configure=configure) as daemon:
        for tar in (pause_image, busybox_image.tar):
            daemon.ctr("image", "import", tar, check=True, namespace=K8S_NAMESPACE)
        client = CriClient(daemon.address)
        try:
            try:
                client.wait_ready()
                client.Version(version="v1")
            except grpc.RpcError as exc:
                raise AssertionError(f"containerd serves no CRI runtime.v1: {exc.details()}\n"
                                     f"{daemon.log()[-3000:]}") from None
            api = client.api
            # The CRI plugin learns about imported images from containerd's events.
            for name in (PAUSE_IMAGE, busybox_image.name):
                wait_for(lambda name=name: client.ImageStatus(image=api.ImageSpec(image=name)).image.id,
                         what=f"CRI to see {name}")
            yield SimpleNamespace(client=client, api=api, daemon=daemon, image=busybox_image.name)
            for image in client.ListImages().images:
                client.RemoveImage(image=api.ImageSpec(image=image.id))
            assert client.ListImages().images == []
        finally:
            client.close()


@pytest.fixture(scope="module")
def kubepods():
    """A top cgroup for this run's pods (kubelet's `kubepods`), removed at the end."""
    top = f"/ocirt-kubepods-{uuid.uuid4().hex[:8]}"
    yield top
    for mount in cgroup_mounts().values():
        path = os.path.join(mount, top.lstrip("/"))
        if os.path.isdir(path):
            os.rmdir(path)  # fails (and so errors the module) if a pod cgroup is left


class Pod:
    """One pod as kubelet makes it: its cgroup, the sandbox, its containers."""

    def __init__(self, cri, kubepods, name="pod"):
        self.cri = cri
        self.api = cri.api
        self.uid = uuid.uuid4().hex
        self.cgroup_parent = f"{kubepods}/pod{self.uid}"
        self.log_dir = os.path.join(cri.daemon.dir, "pod-logs", self.uid)
        self.containers = []
        self.sandbox_id = None
        api = self.api
        # hostNetwork pod; containers share the pod's pid and ipc namespaces.
        self.namespace_options = api.NamespaceOption(network=api.NODE, pid=api.POD, ipc=api.POD)
        self.config = api.PodSandboxConfig(
            metadata=api.PodSandboxMetadata(name=name, uid=self.uid, namespace="default"),
            hostname="",  # kubelet sends none for hostNetwork pods
            log_directory=self.log_dir,
            labels={"app": name},
            linux=api.LinuxPodSandboxConfig(
                cgroup_parent=self.cgroup_parent,
                security_context=api.LinuxSandboxSecurityContext(namespace_options=self.namespace_options)))

    # kubelet's pod cgroup manager makes the pod cgroup before the sandbox and removes it after.
    def make_cgroup(self):
        for mount in cgroup_mounts().values():
            os.makedirs(os.path.join(mount, self.cgroup_parent.lstrip("/")), exist_ok=True)

    def cgroups_below(self):
        found = []
        for mount in cgroup_mounts().values():
            top = os.path.join(mount, self.cgroup_parent.lstrip("/"))
            if os.path.isdir(top):
                found += [os.path.join(top, d) for d in os.listdir(top) if os.path.isdir(os.path.join(top, d))]
        return sorted(found)

    def remove_cgroup(self):
        for mount in cgroup_mounts().values():
            path = os.path.join(mount, self.cgroup_parent.lstrip("/"))
            if os.path.isdir(path):
                os.rmdir(path)

    def run(self):
        self.sandbox_id = self.cri.client.RunPodSandbox(config=self.config,
                                                        runtime_handler=HANDLER).pod_sandbox_id
        return self.sandbox_id

    def status(self):
        reply = self.cri.client.PodSandboxStatus(pod_sandbox_id=self.sandbox_id, verbose=True)
        return reply.status, json.loads(reply.info["info"])

    def container_config(self, name, command, resources=None, **security):
        api = self.api
        return api.ContainerConfig(
            metadata=api.ContainerMetadata(name=name),
            image=api.ImageSpec(image=self.cri.image),
            command=command,
            log_path=f"{name}.log",
            linux=api.LinuxContainerConfig(
                resources=resources or api.LinuxContainerResources(),
                security_context=api.LinuxContainerSecurityContext(
                    namespace_options=self.namespace_options,
                    seccomp=api.SecurityProfile(profile_type=api.SecurityProfile.RuntimeDefault),
                    **security)))

    def create(self, name, command, resources=None, **security):
        container_id = self.cri.client.CreateContainer(
            pod_sandbox_id=self.sandbox_id, sandbox_config=self.config,
            config=self.container_config(name, command, resources, **security)).container_id
        self.containers.append(container_id)
        return container_id

    def start(self, name, command, resources=None, **security):
        container_id = self.create(name, command, resources, **security)
        self.cri.client.StartContainer(container_id=container_id)
        return container_id

    def container(self, container_id):
        reply = self.cri.client.ContainerStatus(container_id=container_id, verbose=True)
        return reply.status, json.loads(reply.info["info"])

    def log(self, name):
        with open(os.path.join(self.log_dir, f"{name}.log")) as f:
            return f.read()

    def ids(self):
        return [self.sandbox_id, *self.containers] if self.sandbox_id else list(self.containers)

    def tear_down(self):
        """kubelet's pod deletion: stop and remove containers, then the sandbox."""
        client = self.cri.client
        existing = {c.id for c in client.ListContainers().containers}
        for container_id in self.containers:
            if container_id in existing:
                client.StopContainer(container_id=container_id, timeout=0)
                client.RemoveContainer(container_id=container_id)
        if self.sandbox_id and self.sandbox_id in {p.id for p in client.ListPodSandbox().items}:
            client.StopPodSandbox(pod_sandbox_id=self.sandbox_id)
            client.RemovePodSandbox(pod_sandbox_id=self.sandbox_id)

    def leftovers(self):
        """What is left of this pod on the host (empty once it is removed)."""
        left = [f"runtime state {RUNTIME_ROOT}/{i}" for i in self.ids()
                if os.path.exists(os.path.join(RUNTIME_ROOT, i))]
        left += [f"cgroup {d}" for d in self.cgroups_below()]
        left += [f"mount {m}" for i in self.ids() for m in mounts_mentioning(i)]
        if self.sandbox_id:
            left += [f"shim process {pid}" for pid in shims_for(self.sandbox_id)]
        return left


@pytest.fixture
def pod(cri, kubepods):
    """A running host-network pod under ocirt; removed afterwards, leaving nothing."""
    p = Pod(cri, kubepods)
    p.make_cgroup()
    try:
        p.run()
        yield p
        p.tear_down()
        # The shim exits shortly after the sandbox is deleted.
        deadline = time.monotonic() + 5
        while p.leftovers() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert p.leftovers() == [], "left behind by the pod"
    finally:
        try:
            p.tear_down()
        finally:
            p.remove_cgroup()


# ---------------------------------------------------------------- scenarios

def test_runtime_reports_ready_and_images(cri):
    client, api = cri.client, cri.api
    version = client.Version(version="v1")
    assert (version.runtime_name, version.runtime_api_version) == ("containerd", "v1")
    conditions = {c.type: c.status for c in client.Status().status.conditions}
    assert conditions["RuntimeReady"] is True  # NetworkReady is false: there is no CNI
    tags = sorted(tag for image in client.ListImages().images for tag in image.repo_tags)
    assert tags == sorted([PAUSE_IMAGE, cri.image])
    assert client.ImageStatus(image=api.ImageSpec(image=cri.image)).image.repo_tags == [cri.image]


def test_pod_sandbox_runs_under_ocirt(pod):
    status, info = pod.status()
    assert status.state == pod.api.SANDBOX_READY
    assert status.runtime_handler == HANDLER
    assert info["runtimeType"] == "io.containerd.runc.v2"
    assert info["runtimeOptions"]["binary_name"] == OCIRT
    pause = info["pid"]
    with open(f"/proc/{pause}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:2] == [b"sleep", b"2147483647"]

    # ocirt made it: its own record in the shim's --root names the same process.
    state = ocirt_state(pod.sandbox_id)
    assert (state["status"], state["pid"]) == ("running", pause)
    assert state["bundle"].endswith(f"/io.containerd.runtime.v2.task/{K8S_NAMESPACE}/{pod.sandbox_id}")

    # Host network and no hostname: net and uts are the host's; pid, ipc and mnt are the pod's.
    host, sandbox = namespaces(os.getpid()), namespaces(pause)
    assert sandbox["net"] == host["net"] and sandbox["uts"] == host["uts"]
    assert all(sandbox[kind] != host[kind] for kind in ("pid", "ipc", "mnt"))
    # The cgroup kubelet asked for.
    assert process_cgroup(pause, "memory") == f"{pod.cgroup_parent}/{pod.sandbox_id}"


def test_container_joins_the_pod(pod):
    container_id = pod.start("app", ["sh", "-c", "echo started; exec sleep 1000"])
    status, info = pod.container(container_id)
    assert status.state == pod.api.CONTAINER_RUNNING
    assert info["runtimeType"] == "io.containerd.runc.v2" and info["sandboxID"] == pod.sandbox_id
    pid = info["pid"]
    assert ocirt_state(container_id)["pid"] == pid

    # It shares the pause process's pid, ipc, net and uts namespaces; its mounts are its own.
    _, sandbox_info = pod.status()
    mine, pause = namespaces(pid), namespaces(sandbox_info["pid"])
    assert {k: mine[k] for k in ("pid", "ipc", "net", "uts")} == \
        {k: pause[k] for k in ("pid", "ipc", "net", "uts")}
    assert mine["mnt"] != pause["mnt"]
    assert process_cgroup(pid, "memory") == f"{pod.cgroup_parent}/{container_id}"

    # Pod pid namespace: the pause process is pid 1 and the container sees it.
    ps = pod.cri.client.ExecSync(container_id=container_id, cmd=["ps", "-o", "pid,args"], timeout=10)
    assert ps.exit_code == 0
    processes = [line.split(None, 1) for line in ps.stdout.decode().splitlines()[1:]]
    assert ["1", "sleep 2147483647"] in processes
    assert any(args == "sleep 1000" for _, args in processes)
    # Seccomp RuntimeDefault reached the process (mode 2: filter).
    seccomp = pod.cri.client.ExecSync(container_id=container_id,
                                      cmd=["grep", "^Seccomp:", "/proc/self/status"], timeout=10)
    assert seccomp.stdout.decode().split() == ["Seccomp:", "2"]
    # The container's stdout reached the CRI log file.
    wait_for(lambda: " stdout F started\n" in pod.log("app"), what="the log line")


def test_exec_sync(pod):
    client = pod.cri.client
    container_id = pod.start("app", ["sleep", "1000"])

    result = client.ExecSync(container_id=container_id,
                             cmd=["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=10)
    assert (result.exit_code, result.stdout, result.stderr) == (3, b"out\n", b"err\n")
    assert client.ExecSync(container_id=container_id, cmd=["true"], timeout=10).exit_code == 0

    with pytest.raises(grpc.RpcError) as failed:
        client.ExecSync(container_id=container_id, cmd=["/nonexistent"], timeout=10)
    details = failed.value.details()
    assert "OCI runtime exec failed" in details
    assert "/nonexistent" in details and "no such file or directory" in details

    # The shim kills a command that outlives its timeout (no runtime call); the container lives on.
    with pytest.raises(grpc.RpcError) as timed_out:
        client.ExecSync(container_id=container_id, cmd=["sleep", "30"], timeout=1)
    assert "timeout" in timed_out.value.details()
    status, _ = pod.container(container_id)
    assert status.state == pod.api.CONTAINER_RUNNING
    ps = client.ExecSync(container_id=container_id, cmd=["ps", "-o", "args"], timeout=10).stdout.decode()
    assert "sleep 30" not in ps


def test_update_container_resources(pod):
    api, client = pod.api, pod.cri.client
    container_id = pod.start("app", ["sleep", "1000"], resources=api.LinuxContainerResources(
        cpu_period=100000, cpu_quota=50000, cpu_shares=512, memory_limit_in_bytes=64 * MIB))
    pid = pod.container(container_id)[1]["pid"]
    assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(64 * MIB)
    assert cgroup_file(pid, "cpu", "cpu.cfs_quota_us") == "50000"
    assert cgroup_file(pid, "cpu", "cpu.cfs_period_us") == "100000"
    assert cgroup_file(pid, "cpu", "cpu.shares") == "512"

    client.UpdateContainerResources(container_id=container_id, linux=api.LinuxContainerResources(
        cpu_period=100000, cpu_quota=20000, cpu_shares=256, memory_limit_in_bytes=96 * MIB))
    assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(96 * MIB)
    assert cgroup_file(pid, "cpu", "cpu.cfs_quota_us") == "20000"
    assert cgroup_file(pid, "cpu", "cpu.shares") == "256"
    # The container sees its new limit through its cgroup mount.
    inside = client.ExecSync(container_id=container_id,
                             cmd=["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"], timeout=10)
    assert inside.stdout == f"{96 * MIB}\n".encode()


def test_stop_container_grace_period(pod):
    client, api = pod.cri.client, pod.api
    stubborn = pod.start("stubborn", ["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"])
    polite = pod.start("polite", ["sh", "-c", "echo ready; exec sleep 1000"])
    for name in ("stubborn", "polite"):
        wait_for(lambda: "stdout F ready" in pod.log(name), what=f"{name} to start")

    began = time.monotonic()
    client.StopContainer(container_id=stubborn, timeout=2)
    took = time.monotonic() - began
    status, _ = pod.container(stubborn)
    assert status.state == api.CONTAINER_EXITED
    assert status.exit_code == 137, "SIGKILL after the grace period"
    assert 2 <= took < 10, took

    began = time.monotonic()
    client.StopContainer(container_id=polite, timeout=10)
    assert time.monotonic() - began < 5
    status, _ = pod.container(polite)
    assert (status.state, status.exit_code) == (api.CONTAINER_EXITED, 143)  # SIGTERM

    for container_id in (stubborn, polite):
        client.RemoveContainer(container_id=container_id)
        assert not os.path.exists(os.path.join(RUNTIME_ROOT, container_id))
    assert {c.id for c in client.ListContainers().containers} & {stubborn, polite} == set()
    assert [d for d in pod.cgroups_below() if not d.endswith(pod.sandbox_id)] == []


def test_container_exit_code_reaches_kubelet(pod):
    api = pod.api
    container_id = pod.start("job", ["sh", "-c", "echo done; exit 7"])
    status = wait_for(lambda: (s := pod.container(container_id)[0]).state == api.CONTAINER_EXITED and s,
                      what="the container to exit")
    assert (status.exit_code, status.reason) == (7, "Error")
    assert "stdout F done" in pod.log("job")
    # kubelet then stops (the shim sends `kill --all 9` to a stopped container) and removes it.
    pod.cri.client.StopContainer(container_id=container_id, timeout=10)
    pod.cri.client.RemoveContainer(container_id=container_id)
    assert not os.path.exists(os.path.join(RUNTIME_ROOT, container_id))


def test_start_fails_for_a_missing_binary(pod):
    client = pod.cri.client
    container_id = pod.create("broken", ["/nonexistent"])
    with pytest.raises(grpc.RpcError) as failed:
        client.StartContainer(container_id=container_id)
    details = failed.value.details()
    assert "OCI runtime create failed" in details
    assert "/nonexistent" in details and "no such file or directory" in details
    status, _ = pod.container(container_id)
    assert status.state in (pod.api.CONTAINER_CREATED, pod.api.CONTAINER_EXITED)
    client.RemoveContainer(container_id=container_id)
    assert not os.path.exists(os.path.join(RUNTIME_ROOT, container_id))


def test_security_context(pod):
    client = pod.cri.client
    container_id = pod.start("locked", ["sleep", "1000"], run_as_user=pod.api.Int64Value(value=65534),
                             readonly_rootfs=True, no_new_privs=True)
    whoami = client.ExecSync(container_id=container_id, cmd=["id", "-u"], timeout=10)
    assert whoami.stdout == b"65534\n"
    status = client.ExecSync(container_id=container_id, cmd=["cat", "/proc/self/status"], timeout=10)
    fields = dict(line.split(":", 1) for line in status.stdout.decode().splitlines())
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["CapEff"].strip() == "0000000000000000"
    touch = client.ExecSync(container_id=container_id, cmd=["touch", "/file"], timeout=10)
    assert touch.exit_code != 0 and b"Read-only file system" in touch.stderr


def test_stop_and_remove_pod_sandbox(cri, kubepods):
    """The whole life of a pod, ending as kubelet ends it, then nothing is left."""
    client, api = cri.client, cri.api
    pod = Pod(cri, kubepods, name="lifecycle")
    pod.make_cgroup()
    try:
        pod.run()
        container_id = pod.start("app", ["sleep", "1000"])
        _, info = pod.status()
        pause, app = info["pid"], pod.container(container_id)[1]["pid"]

        client.StopContainer(container_id=container_id, timeout=5)
        client.RemoveContainer(container_id=container_id)
        client.StopPodSandbox(pod_sandbox_id=pod.sandbox_id)
        status, _ = pod.status()
        assert status.state == api.SANDBOX_NOTREADY
        assert not process_alive(pause) and not process_alive(app)
        client.RemovePodSandbox(pod_sandbox_id=pod.sandbox_id)
        assert pod.sandbox_id not in {p.id for p in client.ListPodSandbox().items}

        wait_for(lambda: not pod.leftovers(), timeout=5, what=f"the pod to go: {pod.leftovers()}")
        # ocirt removed only what it made: the pod cgroup kubelet made is still there, empty.
        for mount in cgroup_mounts().values():
            assert os.path.isdir(os.path.join(mount, pod.cgroup_parent.lstrip("/")))
    finally:
        pod.tear_down()
        pod.remove_cgroup()
