"""Linux namespaces (runtime-spec config-linux.md "Namespaces", "User namespace
mappings", "Offset for Time Namespace"): created, shared with the host,
joined by path, and what the container sees in each.

Namespaces are compared by inode: a process's /proc/PID/ns/<name> links
point at one nsfs inode per namespace, so two processes share a namespace
exactly when the inodes are equal.
"""
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import REPO, new_id

# spec type -> name under /proc/PID/ns/
NS = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
      "user": "user", "cgroup": "cgroup", "time": "time"}

# Prints "<name> <inode>" for each namespace of the shell; the `stat`
# children are in the same namespaces as the shell.
PRINT_NS = ('for n in ' + " ".join(NS.values()) +
            '; do echo "$n $(stat -L -c %i /proc/self/ns/$n)"; done')

MAPPING = [{"containerID": 0, "hostID": 100000, "size": 65536}]  # as podman-userns-config.json
TEN_DAYS = 86400 * 10


def host_ns(name):
    return os.stat(f"/proc/self/ns/{name}").st_ino


def proc_ns(pid, name):
    return os.stat(f"/proc/{pid}/ns/{name}").st_ino


def parse_ns(text):
    found = {}
    for line in text.splitlines():
        name, _, inode = line.partition(" ")
        if name in NS.values() and inode.isdigit():
            found[name] = int(inode)
    assert set(found) == set(NS.values()), text
    return found


def set_namespaces(types, mappings=False, hostname="ocirt"):
    """An edit= for make_bundle: exactly these namespaces (types or dicts)."""
    def edit(cfg):
        cfg["linux"]["namespaces"] = [t if isinstance(t, dict) else {"type": t} for t in types]
        cfg.pop("hostname", None)
        if hostname is not None:
            cfg["hostname"] = hostname
        if mappings:
            cfg["linux"]["uidMappings"] = MAPPING
            cfg["linux"]["gidMappings"] = MAPPING
    return edit


def run_out(ocirt, bundle):
    out = ocirt("run", "--bundle", bundle, new_id(), check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


def start_sleeper(ocirt, make_bundle, edit=None):
    """A long-running container (like a pod's sandbox); returns (id, host pid)."""
    cid = new_id("a")
    ocirt("run", "-d", "--bundle", make_bundle(["sleep", "1000"], edit=edit), cid)
    return cid, ocirt.state(cid)["pid"]


def assert_nothing_left(ocirt, cid):
    assert not os.path.exists(os.path.join(ocirt.root, cid))
    out = ocirt("state", cid, check=False)
    assert out.returncode != 0 and "does not exist" in out.stderr


# ------------------------------------------------------------ created / shared

# Besides the type under test, each config has a mount namespace (a container
# without one is tested on its own below). A user namespace also needs its own
# pid and ipc namespaces here: mounting proc and mqueue (in the default mounts)
# needs the pid/ipc namespace to be owned by the user namespace.
ALSO_NEEDED = {"user": ("pid", "ipc")}


@pytest.mark.parametrize("ns_type", sorted(NS))
def test_listed_namespace_is_new_and_unlisted_ones_are_the_hosts(ocirt, make_bundle, ns_type, request):
    types = {"mount", ns_type, *ALSO_NEEDED.get(ns_type, ())}
    rootfs = userns_rootfs(request) if "user" in types else None
    bundle = make_bundle(["sh", "-c", PRINT_NS], rootfs=rootfs,
                         edit=set_namespaces(sorted(types), mappings="user" in types,
                                             hostname="ocirt" if "uts" in types else None))
    seen = parse_ns(run_out(ocirt, bundle))
    for spec_type, name in NS.items():
        if spec_type in types:
            assert seen[name] != host_ns(name), f"{name} should be a new namespace"
        else:
            assert seen[name] == host_ns(name), f"{name} should be the host's"


def test_pid_namespace(ocirt, make_bundle):
    bundle = make_bundle(["sh", "-c", "echo $$; ps -o pid,comm"])
    first, *ps = run_out(ocirt, bundle).splitlines()
    assert first == "1"
    pids = {int(line.split()[0]) for line in ps[1:]}
    # only the shell and its ps, numbered from 1: none of the host's processes
    assert 1 in pids and len(pids) <= 3 and max(pids) < 10, ps


def test_network_namespace_has_only_loopback(ocirt, make_bundle):
    bundle = make_bundle(["cat", "/proc/net/dev"])
    lines = run_out(ocirt, bundle).splitlines()[2:]  # two header lines
    assert [line.split(":")[0].strip() for line in lines] == ["lo"]
    with open("/proc/net/dev") as f:
        assert len(f.read().splitlines()[2:]) >= 1  # the host has its own list


def test_uts_namespace_hostname_and_domainname(ocirt, make_bundle):
    host = os.uname().nodename
    bundle = make_bundle(["sh", "-c", "hostname; cat /proc/sys/kernel/domainname"],
                         hostname="inside-ocirt", domainname="example.test")
    assert run_out(ocirt, bundle).splitlines() == ["inside-ocirt", "example.test"]
    assert os.uname().nodename == host


def test_hostname_without_uts_namespace_is_an_error(ocirt, make_bundle):
    cid = new_id()
    bundle = make_bundle(["true"], edit=set_namespaces(["mount", "pid"], hostname="nope"))
    out = ocirt("create", "--bundle", bundle, cid, check=False)
    assert out.returncode != 0 and "hostname" in out.stderr and "UTS" in out.stderr
    assert_nothing_left(ocirt, cid)


def test_ipc_namespace_hides_host_sysv_objects(ocirt, make_bundle, tmp_path):
    # A SysV message queue made on the host is not visible in the container.
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    qid = libc.msgget(0, 0o600 | 0o1000)  # IPC_PRIVATE, IPC_CREAT
    assert qid >= 0
    try:
        bundle = make_bundle(["cat", "/proc/sysvipc/msg"])
        inside = run_out(ocirt, bundle).splitlines()[1:]
        with open("/proc/sysvipc/msg") as f:
            assert any(line.split()[1] == str(qid) for line in f.read().splitlines()[1:])
        assert inside == []
    finally:
        libc.msgctl(qid, 0, None)  # IPC_RMID


def test_cgroup_namespace_makes_own_cgroup_the_root(ocirt, make_bundle):
    cid = new_id()
    out = ocirt("run", "--bundle", make_bundle(["cat", "/proc/self/cgroup"]), cid, check=False)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines and all(line.split(":", 2)[2] == "/" for line in lines), lines

    # Without one, the container sees where its cgroup really is.
    cid = new_id()
    bundle = make_bundle(["cat", "/proc/self/cgroup"],
                         edit=set_namespaces(["pid", "network", "ipc", "uts", "mount"]))
    out = ocirt("run", "--bundle", bundle, cid, check=False)
    assert out.returncode == 0, out.stderr
    assert all(cid in line.split(":", 2)[2] for line in out.stdout.splitlines()), out.stdout


def userns_rootfs(request):
    """The rootfs a user-namespaced container can reach (see the userns_dir fixture)."""
    return os.path.join(request.getfixturevalue("userns_dir"), "rootfs")


def _time_edit(cfg):
    cfg["linux"]["namespaces"].append({"type": "time"})
    cfg["linux"]["timeOffsets"] = {"monotonic": {"secs": TEN_DAYS},
                                   "boottime": {"secs": TEN_DAYS, "nanosecs": 500}}


def test_time_namespace_offsets(ocirt, make_bundle):
    bundle = make_bundle(["sh", "-c", "cat /proc/self/timens_offsets /proc/uptime"], edit=_time_edit)
    with open("/proc/uptime") as f:
        before = float(f.read().split()[0])
    monotonic, boottime, uptime = run_out(ocirt, bundle).splitlines()
    assert monotonic.split() == ["monotonic", str(TEN_DAYS), "0"]
    assert boottime.split() == ["boottime", str(TEN_DAYS), "500"]
    with open("/proc/uptime") as f:
        after = float(f.read().split()[0])
    # /proc/uptime follows CLOCK_BOOTTIME
    assert before + TEN_DAYS <= float(uptime.split()[0]) <= after + TEN_DAYS + 1


def test_time_namespace_with_user_namespace(ocirt, make_bundle, request):
    def edit(cfg):
        _time_edit(cfg)
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = MAPPING
        cfg["linux"]["gidMappings"] = MAPPING

    bundle = make_bundle(["sh", "-c", "cat /proc/self/timens_offsets; id -u"], edit=edit,
                         rootfs=userns_rootfs(request))
    out = run_out(ocirt, bundle).splitlines()
    assert out[0].split() == ["monotonic", str(TEN_DAYS), "0"] and out[-1] == "0"


# ------------------------------------------------------------ user namespace

@pytest.fixture(scope="module")
def userns_dir():
    """A directory the container's root (host uid 100000) can reach.

    pytest's tmp dirs live under /tmp/pytest-of-root, which is mode 0700: a
    process whose ids are mapped in a user namespace has no capability over
    host root's files, so it cannot even bind-mount a rootfs under it
    (EACCES). The rootfs and bind sources of user-namespaced containers are
    therefore made here (mode 0711), removed after the module.
    """
    top = tempfile.mkdtemp(prefix="ocirt-userns-")
    os.chmod(top, 0o711)
    subprocess.run(["sh", os.path.join(REPO, "bundles", "busybox", "make-rootfs"), os.path.join(top, "rootfs")],
                   check=True, capture_output=True)
    # Mount points must exist: the container's root cannot create them in a
    # rootfs that host root owns.
    os.mkdir(os.path.join(top, "rootfs", "shared"))
    yield top
    shutil.rmtree(top)


@pytest.fixture
def shared_dir(userns_dir):
    """A host directory anyone may write, bind-mounted at /shared by _userns_edit."""
    path = tempfile.mkdtemp(dir=userns_dir)
    os.chmod(path, 0o777)
    yield path
    shutil.rmtree(path)


def _userns_edit(shared_dir):
    def edit(cfg):
        cfg["root"]["path"] = os.path.join(os.path.dirname(shared_dir), "rootfs")
        set_namespaces(["pid", "network", "ipc", "uts", "mount", "cgroup", "user"], mappings=True)(cfg)
        cfg["mounts"].append({"destination": "/shared", "type": "bind", "source": shared_dir,
                              "options": ["rbind"]})
    return edit


USERNS_SCRIPT = r"""
cat /proc/self/uid_map /proc/self/gid_map
echo "id $(id -u) $(id -g)"
echo "rootfs $(stat -c %u:%g /bin/busybox)"
echo hi > /dev/shm/f && echo "shm $(stat -c %u:%g /dev/shm/f)"
echo hi > /shared/f && echo "shared $(stat -c %u /shared/f)"
echo "proc1 $(cat /proc/1/comm)"
echo "sysfs $(ls /sys/class/net)"
echo x > /dev/null && echo "null ok"
echo "zero $(head -c 8 /dev/zero | wc -c)"
echo "urandom $(head -c 8 /dev/urandom | wc -c)"
echo x 2>/dev/null > /dev/full || echo "full ENOSPC"
echo "ptmx $(stat -c %F /dev/pts/ptmx)"
awk '{print "mount", $2, $3}' /proc/self/mounts
awk '$5 == "/dev/null" {print "bound /dev/null"}' /proc/self/mountinfo
"""


def test_user_namespace(ocirt, make_bundle, shared_dir):
    bundle = make_bundle(["sh", "-c", USERNS_SCRIPT], edit=_userns_edit(shared_dir))
    out = run_out(ocirt, bundle)
    lines = out.splitlines()
    assert [line.split() for line in lines[:2]] == [["0", "100000", "65536"]] * 2
    assert "id 0 0" in lines
    # The rootfs belongs to host root, which is unmapped: nobody inside.
    assert "rootfs 65534:65534" in lines
    assert "shm 0:0" in lines
    assert "shared 0" in lines
    assert os.stat(os.path.join(shared_dir, "f")).st_uid == 100000  # container root is host uid 100000
    assert "proc1 sh" in lines
    assert "sysfs lo" in lines  # a real sysfs of the container's network namespace
    for line in ("null ok", "zero 8", "urandom 8", "full ENOSPC", "ptmx character special file",
                 "bound /dev/null"):
        assert line in lines, out
    mounts = {tuple(line.split()[1:]) for line in lines if line.startswith("mount ")}
    for target, fstype in (("/proc", "proc"), ("/dev", "tmpfs"), ("/dev/pts", "devpts"),
                           ("/dev/shm", "tmpfs"), ("/dev/mqueue", "mqueue"), ("/sys", "sysfs")):
        assert (target, fstype) in mounts, out


def test_user_namespace_process_is_host_uid(ocirt, make_bundle, shared_dir):
    cid, pid = start_sleeper(ocirt, make_bundle, edit=_userns_edit(shared_dir))
    try:
        with open(f"/proc/{pid}/status") as f:
            status = dict(line.split(":", 1) for line in f.read().splitlines())
        assert status["Uid"].split() == ["100000"] * 4
        assert status["Gid"].split() == ["100000"] * 4
        assert proc_ns(pid, "user") != host_ns("user")
    finally:
        ocirt("delete", "--force", cid)


def test_user_namespace_without_mappings_is_an_error(ocirt, make_bundle):
    cid = new_id()
    bundle = make_bundle(["true"], edit=set_namespaces(["pid", "ipc", "mount", "uts", "user"]))
    out = ocirt("create", "--bundle", bundle, cid, check=False)
    assert out.returncode != 0 and "uidMappings" in out.stderr, out.stderr
    assert_nothing_left(ocirt, cid)


def test_mappings_without_user_namespace_are_an_error(ocirt, make_bundle):
    cid = new_id()

    def edit(cfg):
        cfg["linux"]["uidMappings"] = MAPPING
        cfg["linux"]["gidMappings"] = MAPPING

    out = ocirt("create", "--bundle", make_bundle(["true"], edit=edit), cid, check=False)
    assert out.returncode != 0 and "user namespace" in out.stderr, out.stderr
    assert_nothing_left(ocirt, cid)


# ------------------------------------------------------------ joined by path

# The namespaces of containerd-cri-container-config.json and
# podman-pod-member-config.json (in /work/shared/fixtures), with the pid of
# their sandbox replaced: a pod's containers join its sandbox's namespaces.
POD_LAYOUTS = {
    "containerd-cri": [{"type": "pid", "path": "/proc/{pid}/ns/pid"},
                       {"type": "ipc", "path": "/proc/{pid}/ns/ipc"},
                       {"type": "uts", "path": "/proc/{pid}/ns/uts"},
                       {"type": "mount"},
                       {"type": "network", "path": "/proc/{pid}/ns/net"}],
    "podman-pod": [{"type": "pid"},
                   {"type": "network", "path": "/proc/{pid}/ns/net"},
                   {"type": "ipc", "path": "/proc/{pid}/ns/ipc"},
                   {"type": "uts", "path": "/proc/{pid}/ns/uts"},
                   {"type": "mount"}],
}


def _pod_member(layout, sandbox_pid):
    return [{k: v.format(pid=sandbox_pid) for k, v in ns.items()} for ns in POD_LAYOUTS[layout]]


@pytest.mark.parametrize("layout", sorted(POD_LAYOUTS))
def test_join_sandbox_namespaces(ocirt, make_bundle, layout):
    sandbox, spid = start_sleeper(ocirt, make_bundle,
                                  edit=set_namespaces(["pid", "network", "ipc", "uts", "mount"],
                                                      hostname="sandbox"))
    try:
        member = _pod_member(layout, spid)
        bundle = make_bundle(["sh", "-c", PRINT_NS + "; hostname; cat /proc/1/cmdline; echo"],
                             edit=set_namespaces(member, hostname=None))
        out = run_out(ocirt, bundle)
        seen = parse_ns(out)
        for ns in member:
            name = NS[ns["type"]]
            if "path" in ns:
                assert seen[name] == proc_ns(spid, name), f"{name} not joined"
            else:
                assert seen[name] not in (proc_ns(spid, name), host_ns(name)), f"{name} not new"
        for spec_type in set(NS) - {ns["type"] for ns in member}:
            assert seen[NS[spec_type]] == host_ns(NS[spec_type])
        lines = out.splitlines()
        assert lines[len(NS)] == "sandbox"  # the sandbox's UTS namespace
        pid1 = lines[len(NS) + 1].split("\0")[0]
        # In the sandbox's pid namespace its sleep is pid 1; in a new one, our shell is.
        assert pid1 == ("sleep" if any(ns["type"] == "pid" and "path" in ns for ns in member) else "sh")
        assert ocirt.state(sandbox)["status"] == "running"
    finally:
        ocirt("delete", "--force", sandbox)


@pytest.mark.parametrize("ns_type", ["cgroup", "time", "ipc"])
def test_join_one_namespace_by_path(ocirt, make_bundle, ns_type):
    def sandbox_edit(cfg):
        if ns_type == "time":
            _time_edit(cfg)
        elif not any(ns["type"] == ns_type for ns in cfg["linux"]["namespaces"]):
            cfg["linux"]["namespaces"].append({"type": ns_type})

    sandbox, spid = start_sleeper(ocirt, make_bundle, edit=sandbox_edit)
    try:
        name = NS[ns_type]
        bundle = make_bundle(["sh", "-c", PRINT_NS],
                             edit=set_namespaces(["mount", "uts", {"type": ns_type, "path": f"/proc/{spid}/ns/{name}"}]))
        seen = parse_ns(run_out(ocirt, bundle))
        assert seen[name] == proc_ns(spid, name) != host_ns(name)
    finally:
        ocirt("delete", "--force", sandbox)


def test_join_user_namespace_by_path(ocirt, make_bundle, shared_dir):
    sandbox, spid = start_sleeper(ocirt, make_bundle, edit=_userns_edit(shared_dir))
    try:
        joined = [{"type": t, "path": f"/proc/{spid}/ns/{NS[t]}"}
                  for t in ("user", "pid", "network", "ipc", "uts")]
        bundle = make_bundle(["sh", "-c", PRINT_NS + "; cat /proc/self/uid_map; id -u; ls /sys/class/net"],
                             rootfs=os.path.join(os.path.dirname(shared_dir), "rootfs"), edit=set_namespaces(joined + [{"type": "mount"}], hostname=None))
        out = run_out(ocirt, bundle)
        seen = parse_ns(out)
        for ns in joined:
            assert seen[NS[ns["type"]]] == proc_ns(spid, NS[ns["type"]])
        lines = out.splitlines()[len(NS):]
        assert lines[0].split() == ["0", "100000", "65536"]
        assert lines[1:] == ["0", "lo"]
    finally:
        ocirt("delete", "--force", sandbox)


def test_join_user_namespace_with_matching_mappings(ocirt, make_bundle, shared_dir):
    sandbox, spid = start_sleeper(ocirt, make_bundle, edit=_userns_edit(shared_dir))
    try:
        joined = [{"type": t, "path": f"/proc/{spid}/ns/{NS[t]}"}
                  for t in ("user", "pid", "network", "ipc", "uts")]
        bundle = make_bundle(["sh", "-c", "cat /proc/self/uid_map"],
                             rootfs=os.path.join(os.path.dirname(shared_dir), "rootfs"), edit=set_namespaces(joined + [{"type": "mount"}], mappings=True, hostname=None))
        assert run_out(ocirt, bundle).split() == ["0", "100000", "65536"]
    finally:
        ocirt("delete", "--force", sandbox)


def test_bad_namespace_path_missing(ocirt, make_bundle, tmp_path):
    cid = new_id()
    missing = str(tmp_path / "no-such-netns")
    bundle = make_bundle(["true"], edit=set_namespaces(
        ["pid", "mount", "uts", {"type": "network", "path": missing}]))
    out = ocirt("create", "--bundle", bundle, cid, check=False)
    assert out.returncode != 0
    assert missing in out.stderr and "network" in out.stderr, out.stderr
    assert_nothing_left(ocirt, cid)


@pytest.mark.parametrize("what", ["other-type", "regular-file", "directory"])
def test_bad_namespace_path_not_that_type(ocirt, make_bundle, tmp_path, what):
    cid = new_id()
    if what == "other-type":
        path = f"/proc/{os.getpid()}/ns/ipc"
    elif what == "regular-file":
        path = str(tmp_path / "file")
        open(path, "w").close()
    else:
        path = str(tmp_path)
    bundle = make_bundle(["true"], edit=set_namespaces(
        ["pid", "mount", "uts", {"type": "network", "path": path}]))
    out = ocirt("create", "--bundle", bundle, cid, check=False)
    assert out.returncode != 0
    assert path in out.stderr and "network namespace" in out.stderr, out.stderr
    assert_nothing_left(ocirt, cid)


def test_relative_namespace_path_is_an_error(ocirt, make_bundle):
    cid = new_id()
    bundle = make_bundle(["true"], edit=set_namespaces(
        ["pid", "mount", "uts", {"type": "network", "path": "proc/1/ns/net"}]))
    out = ocirt("create", "--bundle", bundle, cid, check=False)
    assert out.returncode != 0 and "linux.namespaces[3].path" in out.stderr, out.stderr
    assert_nothing_left(ocirt, cid)


def test_duplicate_namespace_is_an_error(ocirt, make_bundle):
    cid = new_id()
    bundle = make_bundle(["true"], edit=set_namespaces(["pid", "mount", "uts", "pid"]))
    out = ocirt("create", "--bundle", bundle, cid, check=False)
    assert out.returncode != 0 and "duplicate" in out.stderr, out.stderr
    assert_nothing_left(ocirt, cid)


# ------------------------------------------------------------ no mount namespace

def _private_rootfs(tmp_path):
    rootfs = tmp_path / "rootfs"
    subprocess.run(["sh", os.path.join(REPO, "bundles", "busybox", "make-rootfs"), str(rootfs)],
                   check=True, capture_output=True)
    (rootfs / "marker").write_text("private rootfs\n")
    return str(rootfs)


def _umount_under(path):
    """Lazily unmount whatever a test left mounted under `path` (deepest first)."""
    with open("/proc/self/mountinfo") as f:
        targets = [line.split()[4] for line in f]
    for target in sorted({t for t in targets if t == path or t.startswith(path + "/")},
                         key=len, reverse=True):
        subprocess.run(["umount", "-l", target], check=False)


def _no_mount_ns_edit(mounts):
    def edit(cfg):
        set_namespaces(["pid", "network", "ipc", "uts", "cgroup"])(cfg)
        cfg["mounts"] = mounts
        cfg["root"]["readonly"] = False  # a chroot is not a mount point: cannot be remounted
        cfg["linux"].pop("maskedPaths")
        cfg["linux"].pop("readonlyPaths")
    return edit


def test_no_mount_namespace_chroots(ocirt, make_bundle, tmp_path):
    """Allowed by the spec: ocirt then chroots into the rootfs (linux/rootfs.py chroot_only).

    Every mount of the config lands in the host's mount namespace and stays
    there after delete (nothing unmounts it): here the proc mount at
    <rootfs>/proc, which the container needs (ocirt lists /proc/self/fd
    before exec). This test removes it itself.
    """
    rootfs = _private_rootfs(tmp_path)
    proc = [{"destination": "/proc", "type": "proc", "source": "proc"}]
    bundle = make_bundle(["sh", "-c", PRINT_NS + "; cat /marker; echo $$"],
                         rootfs=rootfs, edit=_no_mount_ns_edit(proc))
    try:
        out = run_out(ocirt, bundle)
        seen = parse_ns(out)
        assert seen["mnt"] == host_ns("mnt")
        assert seen["pid"] != host_ns("pid")
        assert out.splitlines()[len(NS):] == ["private rootfs", "1"]
        with open("/proc/self/mountinfo") as f:
            leaked = [line.split()[4] for line in f if line.split()[4] == os.path.join(rootfs, "proc")]
        assert leaked, "the proc mount of a container without a mount namespace is on the host"
    finally:
        _umount_under(rootfs)


def test_no_mount_namespace_and_no_mounts(ocirt, make_bundle, tmp_path):
    rootfs = _private_rootfs(tmp_path)
    bundle = make_bundle(["sh", "-c", "cat /marker"], rootfs=rootfs, edit=_no_mount_ns_edit([]))
    try:
        assert run_out(ocirt, bundle) == "private rootfs\n"
    finally:
        _umount_under(rootfs)


def test_readonly_paths_without_mount_namespace_are_refused(ocirt, make_bundle, tmp_path):
    rootfs = _private_rootfs(tmp_path)
    cid = new_id()

    def edit(cfg):
        _no_mount_ns_edit([{"destination": "/proc", "type": "proc", "source": "proc"}])(cfg)
        cfg["linux"]["readonlyPaths"] = ["/proc/sys"]

    try:
        out = ocirt("create", "--bundle", make_bundle(["true"], rootfs=rootfs, edit=edit), cid, check=False)
        assert out.returncode != 0 and "mount namespace" in out.stderr, out.stderr
        assert_nothing_left(ocirt, cid)
        with open("/proc/self/mountinfo") as f:
            assert rootfs not in f.read()
    finally:
        ocirt("delete", "--force", cid)
        _umount_under(rootfs)
