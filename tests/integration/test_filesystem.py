"""The container's filesystem: root, mounts, propagation, /dev, masked and
read-only paths, as the container itself sees them (its /proc/self/mountinfo,
stat of its files, writes that succeed or fail), and nothing of it on the host."""
import json
import os
import shutil
import subprocess
import uuid

import pytest

from conftest import new_id

FIXTURES = "/work/shared/fixtures"


# ------------------------------------------------------------------ helpers

def parse_mountinfo(text):
    """[{id, parent, dev, root, point, opts, tags, fstype, source, super}] from mountinfo text."""
    mounts = []
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        f = left.split()
        fstype, source, sup = (right.split() + ["", "", ""])[:3]
        mounts.append({
            "id": f[0], "parent": f[1], "dev": f[2], "root": _unescape(f[3]), "point": _unescape(f[4]),
            "opts": set(f[5].split(",")), "tags": f[6:], "fstype": fstype, "source": source,
            "super": set(sup.split(",")),
        })
    return mounts


def _unescape(field):
    return field.encode().decode("unicode_escape") if "\\" in field else field


def mount_at(mounts, point):
    """The top mount on `point` (the last listed one wins)."""
    found = [m for m in mounts if m["point"] == point]
    assert found, f"nothing mounted on {point}: {[m['point'] for m in mounts]}"
    return found[-1]


def tag(m, name):
    """The value of an optional field ("shared:3" -> "3"), True for "unbindable", None if absent."""
    for t in m["tags"]:
        key, _, value = t.partition(":")
        if key == name:
            return value or True
    return None


def host_mountinfo():
    with open("/proc/self/mountinfo") as f:
        return f.read()


def host_mounts_under(path):
    path = str(path)
    return sorted(line.split(" - ")[0].split()[4] for line in host_mountinfo().splitlines()
                  if line.split()[4] == path or line.split()[4].startswith(path + "/"))


def copy_rootfs(busybox_rootfs, target):
    """A private, writable copy of the busybox tree."""
    shutil.copytree(busybox_rootfs, target, symlinks=True)
    return str(target)


def sh(ocirt, make_bundle, script, *, expect_rc=0, run_args=(), cid=None, **bundle_kw):
    """Run `sh -c script` in a new container in the foreground; return its CompletedProcess."""
    bundle = make_bundle(["sh", "-c", script], **bundle_kw)
    out = ocirt("run", *run_args, "--bundle", bundle, cid or new_id(), check=False)
    if expect_rc is not None:
        assert out.returncode == expect_rc, f"rc {out.returncode}\nstdout: {out.stdout}\nstderr: {out.stderr}"
    return out


def container_mounts(ocirt, make_bundle, script="", **bundle_kw):
    """The container's mount table (after `script` ran), parsed."""
    out = sh(ocirt, make_bundle, f"{script}\ncat /proc/self/mountinfo", **bundle_kw)
    return parse_mountinfo(out.stdout)


def add_mounts(*entries):
    def edit(config):
        config["mounts"].extend(entries)
    return edit


def without_namespace(kind):
    def edit(config):
        config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"] if n["type"] != kind]
    return edit


def chain(*edits):
    def edit(config):
        for e in edits:
            e(config)
    return edit


def run_detached(ocirt, make_bundle, args, **bundle_kw):
    cid = new_id()
    ocirt("run", "-d", "--bundle", make_bundle(args, **bundle_kw), cid)
    return cid, ocirt.state(cid)["pid"]


def read_proc(pid, name):
    with open(f"/proc/{pid}/{name}") as f:
        return f.read()


@pytest.fixture
def host_mount(tmp_path):
    """host_mount(args...) runs `mount args` on the host; everything is unmounted afterwards."""
    made = []

    def mount(*args):
        subprocess.run(["mount", *map(str, args)], check=True, capture_output=True)
        made.append(str(args[-1]))

    yield mount
    for target in reversed(made):
        subprocess.run(["umount", "-l", target], capture_output=True)


def peer_group(path):
    """The shared:N peer group of the host mount on `path`."""
    m = mount_at(parse_mountinfo(host_mountinfo()), str(path))
    group = tag(m, "shared")
    assert group, m
    return group


# ------------------------------------------------------------------ root

@pytest.mark.parametrize("form", ["relative", "absolute"])
def test_root_path_relative_and_absolute(ocirt, make_bundle, busybox_rootfs, tmp_path, form):
    bundle = tmp_path / "mybundle"
    bundle.mkdir()
    rootfs = copy_rootfs(busybox_rootfs, bundle / "rootfs")
    marker = uuid.uuid4().hex
    with open(os.path.join(rootfs, "marker"), "w") as f:
        f.write(marker)
    with open(os.path.join(make_bundle(["true"]), "config.json")) as f:
        config = json.load(f)
    config["root"] = {"path": "rootfs" if form == "relative" else rootfs, "readonly": True}
    config["process"]["args"] = ["sh", "-c", "cat /marker; echo; cat /proc/self/mountinfo"]
    (bundle / "config.json").write_text(json.dumps(config))
    # from another working directory: a relative root.path is relative to the bundle, not to the cwd
    out = ocirt("run", "--bundle", bundle, new_id(), cwd="/")
    lines = out.stdout.splitlines()
    assert lines[0] == marker
    root = mount_at(parse_mountinfo("\n".join(lines[1:])), "/")
    assert root["root"] == rootfs  # the bind of exactly this directory is "/"


def test_readonly_root(ocirt, make_bundle):
    out = sh(ocirt, make_bundle, "touch /newfile; echo rc=$?; cat /proc/self/mountinfo")
    assert "rc=1" in out.stdout and "Read-only file system" in out.stderr
    root = mount_at(parse_mountinfo(out.stdout.split("\n", 1)[1]), "/")
    assert "ro" in root["opts"]
    # the mounts on top of it stay writable
    sh(ocirt, make_bundle, "echo hi > /dev/shm/x && cat /dev/shm/x")


def test_writable_root(ocirt, make_bundle, busybox_rootfs, tmp_path):
    rootfs = copy_rootfs(busybox_rootfs, tmp_path / "rw-rootfs")
    out = sh(ocirt, make_bundle, "echo written > /newfile && mkdir /newdir && cat /proc/self/mountinfo",
             edit=lambda c: c["root"].update(path=rootfs, readonly=False))
    root = mount_at(parse_mountinfo(out.stdout), "/")
    assert "rw" in root["opts"] and root["root"] == rootfs
    with open(os.path.join(rootfs, "newfile")) as f:
        assert f.read() == "written\n"
    assert os.path.isdir(os.path.join(rootfs, "newdir"))
    assert not os.path.exists(os.path.join(busybox_rootfs, "newfile"))  # the private copy only


# ------------------------------------------------------------------ filesystem mounts

def test_proc_sysfs_mqueue_and_their_flags(ocirt, make_bundle):
    def edit(config):
        config["mounts"][0]["options"] = ["nosuid", "noexec", "nodev"]  # as containerd sends /proc
    mounts = container_mounts(ocirt, make_bundle, edit=edit)
    proc = mount_at(mounts, "/proc")
    assert proc["fstype"] == "proc" and {"nosuid", "noexec", "nodev", "rw"} <= proc["opts"]
    sysfs = mount_at(mounts, "/sys")
    assert sysfs["fstype"] == "sysfs" and {"ro", "nosuid", "noexec", "nodev"} <= sysfs["opts"]
    mq = mount_at(mounts, "/dev/mqueue")
    assert mq["fstype"] == "mqueue" and {"nosuid", "noexec", "nodev"} <= mq["opts"]
    # a fresh proc: the container's pid namespace, in which sh is pid 1
    out = sh(ocirt, make_bundle, "cat /proc/1/comm; echo $$")
    assert out.stdout.split() == ["sh", "1"]


def test_sysfs_is_read_only(ocirt, make_bundle):
    out = sh(ocirt, make_bundle, "echo 1 > /sys/kernel/uevent_helper; echo rc=$?")
    assert "rc=1" in out.stdout and "Read-only file system" in out.stderr


def test_tmpfs_mode_size_and_atime(ocirt, make_bundle):
    mounts = container_mounts(
        ocirt, make_bundle, edit=add_mounts(
            {"destination": "/data", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "relatime", "mode=1750", "size=2m"]},
            {"destination": "/data-strict", "type": "tmpfs", "source": "tmpfs",
             "options": ["noexec", "strictatime", "mode=700", "size=65536k"]}))
    data = mount_at(mounts, "/data")
    assert data["fstype"] == "tmpfs"
    assert {"size=2048k", "mode=1750"} <= data["super"]
    assert {"nosuid", "nodev", "relatime", "rw"} <= data["opts"] and "noexec" not in data["opts"]
    strict = mount_at(mounts, "/data-strict")
    assert {"size=65536k", "mode=700"} <= strict["super"]
    assert "noexec" in strict["opts"] and not {"relatime", "noatime"} & strict["opts"]
    dev = mount_at(mounts, "/dev")  # the config's: nosuid, strictatime, mode=755, size=65536k
    assert {"size=65536k", "mode=755"} <= dev["super"] and "relatime" not in dev["opts"]
    shm = mount_at(mounts, "/dev/shm")  # mode=1777 is tmpfs's default, which mountinfo leaves out
    assert {"nosuid", "noexec", "nodev"} <= shm["opts"] and "size=65536k" in shm["super"]


def test_tmpfs_mode_is_what_the_container_stats(ocirt, make_bundle):
    out = sh(ocirt, make_bundle, "stat -c '%n %a' /data /tmp /dev/shm",
             edit=add_mounts({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                              "options": ["mode=1750"]},
                             {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                              "options": ["mode=0710", "size=1m"]}))
    assert out.stdout.split("\n")[:3] == ["/data 1750", "/tmp 710", "/dev/shm 1777"]


def test_tmpfs_size_is_enforced(ocirt, make_bundle):
    out = sh(ocirt, make_bundle, "head -c 2097152 /dev/zero > /small/f; echo rc=$?; wc -c < /small/f",
             edit=add_mounts({"destination": "/small", "type": "tmpfs", "source": "tmpfs",
                              "options": ["size=1m"]}))
    assert out.stdout.split() == ["rc=1", "1048576"]  # the write stopped at 1 MiB


def test_tmpfs_without_mode_keeps_the_directory_mode(ocirt, make_bundle, busybox_rootfs, tmp_path):
    rootfs = copy_rootfs(busybox_rootfs, tmp_path / "rootfs")
    os.chmod(os.path.join(rootfs, "run"), 0o750)
    out = sh(ocirt, make_bundle, "stat -c '%a' /run",
             edit=lambda c: (c["root"].update(path=rootfs),
                             add_mounts({"destination": "/run", "type": "tmpfs", "source": "tmpfs",
                                         "options": ["nosuid", "nodev"]})(c)))
    assert out.stdout == "750\n"


def test_tmpfs_tmpcopyup(ocirt, make_bundle, busybox_rootfs, tmp_path):
    """podman's tmpcopyup: the tmpfs starts with the image directory's contents."""
    rootfs = copy_rootfs(busybox_rootfs, tmp_path / "rootfs")
    seed = os.path.join(rootfs, "var", "tmp")
    os.makedirs(os.path.join(seed, "sub"))
    os.chmod(seed, 0o1777)
    with open(os.path.join(seed, "sub", "file"), "w") as f:
        f.write("from the image\n")
    os.chmod(os.path.join(seed, "sub", "file"), 0o646)
    os.chown(os.path.join(seed, "sub", "file"), 1000, 100)
    os.symlink("sub/file", os.path.join(seed, "link"))
    out = sh(ocirt, make_bundle,
             "cat /var/tmp/link; stat -c '%n %a %u %g' /var/tmp /var/tmp/sub/file; "
             "echo new > /var/tmp/new && echo > /var/tmp/sub/file && grep ' /var/tmp ' /proc/self/mountinfo",
             edit=lambda c: (c["root"].update(path=rootfs),
                             add_mounts({"destination": "/var/tmp", "type": "tmpfs", "source": "tmpfs",
                                         "options": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]})(c)))
    lines = out.stdout.splitlines()
    assert lines[:3] == ["from the image", "/var/tmp 1777 0 0", "/var/tmp/sub/file 646 1000 100"]
    assert " - tmpfs " in lines[3]
    # the writes went to the tmpfs, not to the image
    assert not os.path.exists(os.path.join(seed, "new"))
    with open(os.path.join(seed, "sub", "file")) as f:
        assert f.read() == "from the image\n"


def test_devpts_newinstance(ocirt, make_bundle):
    out = sh(ocirt, make_bundle, "stat -c '%a %t:%T' /dev/pts/ptmx; readlink /dev/ptmx; cat /proc/self/mountinfo")
    lines = out.stdout.splitlines()
    assert lines[0] == "666 5:2"  # ptmxmode=0666
    assert lines[1] == "pts/ptmx"
    pts = mount_at(parse_mountinfo("\n".join(lines[2:])), "/dev/pts")
    assert pts["fstype"] == "devpts"
    assert {"gid=5", "mode=620", "ptmxmode=666"} <= pts["super"]
    assert {"nosuid", "noexec"} <= pts["opts"]
    # newinstance: not the host's devpts
    host_devs = {m["dev"] for m in parse_mountinfo(host_mountinfo()) if m["fstype"] == "devpts"}
    assert pts["dev"] not in host_devs


def test_cgroup_mount_with_cgroup_namespace(ocirt, make_bundle):
    out = sh(ocirt, make_bundle,
             "cat /proc/self/cgroup; echo ==; cat /sys/fs/cgroup/memory/memory.limit_in_bytes; "
             "cat /sys/fs/cgroup/pids/pids.max; touch /sys/fs/cgroup/memory/x; echo rc=$?",
             edit=lambda c: c["linux"]["resources"].update(memory={"limit": 64 << 20}, pids={"limit": 77}))
    own, _, rest = out.stdout.partition("==\n")
    assert own and all(line.endswith(":/") for line in own.splitlines()), own
    assert rest.split() == [str(64 << 20), "77", "rc=1"]  # its own limits, read-only


def test_cgroup_mount_without_cgroup_namespace(ocirt, make_bundle):
    cid = new_id()
    out = sh(ocirt, make_bundle,
             "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; "
             "cat /proc/self/mountinfo", cid=cid,
             edit=chain(without_namespace("cgroup"),
                        lambda c: c["linux"]["resources"].update(memory={"limit": 32 << 20},
                                                                 pids={"limit": 55})))
    lines = out.stdout.splitlines()
    assert lines[:2] == [str(32 << 20), "55"]
    mounts = parse_mountinfo("\n".join(lines[2:]))
    top = mount_at(mounts, "/sys/fs/cgroup")
    assert "ro" in top["opts"]
    memory = mount_at(mounts, "/sys/fs/cgroup/memory")
    assert memory["fstype"] == "cgroup" and "ro" in memory["opts"]
    assert memory["root"].endswith("/" + cid)  # the container's own cgroup, not the hierarchy's root


# ------------------------------------------------------------------ bind mounts

@pytest.fixture
def host_dir(tmp_path):
    d = tmp_path / "hostdir"
    (d / "sub").mkdir(parents=True)
    (d / "hello").write_text("hello from the host\n")
    (d / "prog").write_text("#!/bin/sh\necho ran\n")
    (d / "prog").chmod(0o755)
    return d


def test_bind_dir_and_file_rw_and_ro(ocirt, make_bundle, host_dir, tmp_path):
    single = tmp_path / "single.txt"
    single.write_text("one file\n")
    out = sh(ocirt, make_bundle,
             "cat /rw/hello /one; echo from-container > /rw/written; echo more >> /one; "
             "touch /ro/x; echo ro-rc=$?; echo nope > /one-ro; echo ro-file-rc=$?; "
             "test -f /one && test -d /rw && echo types-ok; cat /proc/self/mountinfo",
             edit=add_mounts(
                 {"destination": "/rw", "type": "bind", "source": str(host_dir), "options": ["rbind", "rw"]},
                 {"destination": "/ro", "type": "bind", "source": str(host_dir), "options": ["bind", "ro"]},
                 {"destination": "/one", "type": "bind", "source": str(single), "options": ["bind"]},
                 {"destination": "/one-ro", "type": "bind", "source": str(single), "options": ["rbind", "ro"]}))
    lines = out.stdout.splitlines()
    assert lines[:5] == ["hello from the host", "one file", "ro-rc=1", "ro-file-rc=1", "types-ok"]
    assert (host_dir / "written").read_text() == "from-container\n"
    assert single.read_text() == "one file\nmore\n"
    mounts = parse_mountinfo("\n".join(lines[5:]))
    assert mount_at(mounts, "/rw")["root"] == str(host_dir) and "rw" in mount_at(mounts, "/rw")["opts"]
    assert "ro" in mount_at(mounts, "/ro")["opts"]
    assert mount_at(mounts, "/one")["root"] == str(single)
    assert "ro" in mount_at(mounts, "/one-ro")["opts"]


def test_bind_flags(ocirt, make_bundle, host_dir):
    out = sh(ocirt, make_bundle,
             "/noexec/prog; echo noexec-rc=$?; /exec/prog; cat /proc/self/mountinfo",
             expect_rc=0,
             edit=add_mounts(
                 {"destination": "/noexec", "type": "bind", "source": str(host_dir),
                  "options": ["rbind", "nosuid", "nodev", "noexec", "relatime"]},
                 {"destination": "/exec", "type": "bind", "source": str(host_dir),
                  "options": ["bind", "ro", "nosuid", "strictatime"]}))
    lines = out.stdout.splitlines()
    assert lines[:2] == ["noexec-rc=126", "ran"]
    mounts = parse_mountinfo("\n".join(lines[2:]))
    noexec = mount_at(mounts, "/noexec")
    assert {"rw", "nosuid", "nodev", "noexec", "relatime"} <= noexec["opts"]
    exe = mount_at(mounts, "/exec")
    assert {"ro", "nosuid"} <= exe["opts"]
    assert not {"noexec", "nodev", "relatime", "noatime"} & exe["opts"]  # strictatime


def test_bind_and_rbind_of_a_tree_with_submounts(ocirt, make_bundle, host_dir, host_mount):
    host_mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", host_dir / "sub")
    (host_dir / "sub" / "in-submount").write_text("x")
    out = sh(ocirt, make_bundle, "ls /r/sub; echo ==; ls /b/sub; echo ==; cat /proc/self/mountinfo",
             edit=add_mounts(
                 {"destination": "/r", "type": "bind", "source": str(host_dir), "options": ["rbind", "ro"]},
                 {"destination": "/b", "type": "bind", "source": str(host_dir), "options": ["bind", "ro"]}))
    rbind, bind, info = out.stdout.split("==\n")
    assert rbind == "in-submount\n"  # rbind brings the submount along
    assert bind == ""  # bind shows the directory under it
    mounts = parse_mountinfo(info)
    assert mount_at(mounts, "/r/sub")["fstype"] == "tmpfs"
    assert "ro" in mount_at(mounts, "/r")["opts"]
    assert mount_at(mounts, "/r/sub")["fstype"] == "tmpfs"
    assert not [m for m in mounts if m["point"] == "/b/sub"]


def test_relative_destination_and_relative_source(ocirt, make_bundle):
    def edit(config):
        config["mounts"].append({"destination": "data", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]})
        config["mounts"].append({"destination": "/in-bundle", "type": "bind", "source": "payload",
                                 "options": ["rbind", "ro"]})
    bundle = make_bundle(["sh", "-c", "cat /in-bundle/file; grep -E ' /(data|in-bundle) ' /proc/self/mountinfo"],
                         edit=edit)
    os.mkdir(os.path.join(bundle, "payload"))
    with open(os.path.join(bundle, "payload", "file"), "w") as f:
        f.write("bundle payload\n")
    out = ocirt("run", "--bundle", bundle, new_id(), cwd="/")  # the source is relative to the bundle, not the cwd
    lines = out.stdout.splitlines()
    assert lines[0] == "bundle payload"
    mounts = parse_mountinfo("\n".join(lines[1:]))
    assert mount_at(mounts, "/data")["fstype"] == "tmpfs"
    assert mount_at(mounts, "/in-bundle")["root"] == os.path.join(bundle, "payload")


def test_bind_source_missing_is_an_error(ocirt, make_bundle, tmp_path):
    out = sh(ocirt, make_bundle, "true", expect_rc=None,
             edit=add_mounts({"destination": "/x", "type": "bind", "source": str(tmp_path / "nope"),
                              "options": ["rbind"]}))
    assert out.returncode != 0 and "nope" in out.stderr and "mounts[" in out.stderr


def test_destination_under_a_symlink_stays_in_the_rootfs(ocirt, make_bundle, busybox_rootfs, tmp_path, host_dir):
    """rootfs/evil -> /tmp/<host dir>: mounts at /evil/... land in the rootfs's own /tmp/<host dir>."""
    rootfs = copy_rootfs(busybox_rootfs, tmp_path / "rootfs")
    outside = f"/tmp/ocirt-test-escape-{uuid.uuid4().hex[:8]}"
    os.symlink(outside, os.path.join(rootfs, "evil"))
    os.symlink("../../../../../../../../.." + outside, os.path.join(rootfs, "evil2"))
    try:
        out = sh(ocirt, make_bundle, "grep -E ' /tmp/ocirt-test-escape' /proc/self/mountinfo; cat /evil2/b/hello",
                 edit=lambda c: (c["root"].update(path=rootfs, readonly=False), add_mounts(
                     {"destination": "/evil/x", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
                     {"destination": "/evil2/b", "type": "bind", "source": str(host_dir), "options": ["rbind"]},
                 )(c)))
        mounts = parse_mountinfo("\n".join(out.stdout.splitlines()[:-1]))
        assert mount_at(mounts, outside + "/x")["fstype"] == "tmpfs"
        assert mount_at(mounts, outside + "/b")["root"] == str(host_dir)
        assert out.stdout.splitlines()[-1] == "hello from the host"
        assert not os.path.lexists(outside)  # nothing on the host
        assert os.path.isdir(os.path.join(rootfs, outside.lstrip("/"), "x"))  # all inside the rootfs
        assert not host_mounts_under(outside)
    finally:
        shutil.rmtree(outside, ignore_errors=True)


# ------------------------------------------------------------------ propagation

@pytest.fixture
def shared_source(tmp_path, host_mount):
    """A host dir that is a shared mount with a submount, as volumes on a host with systemd are."""
    src = tmp_path / "shared-src"
    src.mkdir()
    host_mount("--bind", src, src)
    host_mount("--make-shared", src)
    (src / "sub").mkdir()
    host_mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", src / "sub")
    return src


@pytest.mark.parametrize("option, recursive, expect", [
    ("private", False, set()),
    ("rprivate", True, set()),
    ("slave", False, {"master"}),
    ("rslave", True, {"master"}),
    ("shared", False, {"shared", "master"}),
    ("rshared", True, {"shared", "master"}),
    ("unbindable", False, {"unbindable"}),
    (None, True, {"master"}),  # default: a slave of the host's mount, like the rest of the tree
])
def test_mount_propagation_flags(ocirt, make_bundle, shared_source, host_mount, option, recursive, expect):
    group = peer_group(shared_source)
    options = ["rbind"] + ([option] if option else [])
    cid, pid = run_detached(ocirt, make_bundle, ["sleep", "1000"],
                            edit=add_mounts({"destination": "/vol", "type": "bind",
                                             "source": str(shared_source), "options": options}))
    try:
        mounts = parse_mountinfo(read_proc(pid, "mountinfo"))
        vol, sub = mount_at(mounts, "/vol"), mount_at(mounts, "/vol/sub")
        for m in (vol, sub) if recursive else (vol,):
            found = {t.partition(":")[0] for t in m["tags"]}
            assert found == expect, (option, m)
        if "master" in expect:
            assert tag(vol, "master") == group
        # what the tags mean: a host mount under the source shows up in a slave
        (shared_source / "late").mkdir()
        host_mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", shared_source / "late")
        # (propagation is done when mount(2) returns)
        seen = "/vol/late" in [m["point"] for m in parse_mountinfo(read_proc(pid, "mountinfo"))]
        assert seen == ("master" in expect)
    finally:
        ocirt("delete", "--force", cid)


def test_container_mounts_do_not_propagate_to_a_shared_source(ocirt, make_bundle, shared_source):
    """By default even an "rshared" volume is a slave of the host's: the container's mounts stay inside."""
    before = host_mounts_under(shared_source)
    out = sh(ocirt, make_bundle, "grep ' /vol/inner ' /proc/self/mountinfo",
             edit=add_mounts({"destination": "/vol", "type": "bind", "source": str(shared_source),
                              "options": ["rbind", "rshared"]},
                             {"destination": "/vol/inner", "type": "tmpfs", "source": "tmpfs",
                              "options": ["size=1m"]}))
    assert " - tmpfs " in out.stdout
    assert host_mounts_under(shared_source) == before


def test_bidirectional_volume_with_rootfs_propagation_shared(ocirt, make_bundle, shared_source):
    """Kubernetes' Bidirectional propagation: rootfsPropagation rshared and an "rshared" bind make
    the volume a peer of the host's, so a mount the container makes in it shows up on the host
    (as under runc), while the container's other mounts do not."""
    before = host_mounts_under(shared_source.parent)
    inner = shared_source / "inner"
    try:
        sh(ocirt, make_bundle, "true",
           edit=lambda c: (c["linux"].update(rootfsPropagation="rshared"), add_mounts(
               {"destination": "/vol", "type": "bind", "source": str(shared_source), "options": ["rbind", "rshared"]},
               {"destination": "/vol/inner", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]})(c)))
        assert host_mounts_under(shared_source.parent) == sorted(before + [str(inner)])
    finally:
        subprocess.run(["umount", "-l", str(inner)], capture_output=True)


@pytest.fixture
def shared_rootfs(busybox_rootfs, tmp_path, host_mount):
    """A rootfs that is itself a shared mount on the host (as an overlay under a shared /var/lib would be)."""
    rootfs = copy_rootfs(busybox_rootfs, tmp_path / "shared-rootfs")
    os.makedirs(os.path.join(rootfs, "mnt"), exist_ok=True)  # earlier tests may have made it in the shared rootfs
    host_mount("--bind", rootfs, rootfs)
    host_mount("--make-shared", rootfs)
    return rootfs


@pytest.mark.parametrize("propagation, expect", [
    ("slave", {"master"}),
    ("rslave", {"master"}),
    ("private", set()),
    ("rprivate", set()),
    # the mount holding the rootfs is made private (as runc does), so that the
    # container's mounts stay in the container; its "/" is then shared with no one outside
    ("shared", {"shared"}),
    ("rshared", {"shared"}),
    ("unbindable", {"unbindable"}),  # an unbindable mount is no slave (the kernel drops the master)
    ("runbindable", {"unbindable"}),
    (None, {"master"}),
])
def test_rootfs_propagation(ocirt, make_bundle, shared_rootfs, tmp_path, host_mount, propagation, expect):
    group = peer_group(shared_rootfs)
    before = host_mounts_under(tmp_path)

    def edit(config):
        config["root"]["path"] = shared_rootfs
        if propagation:
            config["linux"]["rootfsPropagation"] = propagation
    cid, pid = run_detached(ocirt, make_bundle, ["sleep", "1000"], edit=edit)
    try:
        mounts = parse_mountinfo(read_proc(pid, "mountinfo"))
        root = mount_at(mounts, "/")
        assert {t.partition(":")[0] for t in root["tags"]} == expect, root
        if "master" in expect:
            assert tag(root, "master") == group
        if "shared" in expect:
            # a peer group of the container's own, not the host's
            assert tag(root, "shared") != group
        # the container's mounts (/proc, /dev, ...) never reach the host
        assert host_mounts_under(tmp_path) == before
        # and a slave sees what the host mounts later
        host_mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", os.path.join(shared_rootfs, "mnt"))
        seen = "/mnt" in [m["point"] for m in parse_mountinfo(read_proc(pid, "mountinfo"))]
        assert seen == ("master" in expect)
    finally:
        ocirt("delete", "--force", cid)
    assert host_mounts_under(tmp_path) == before + [os.path.join(shared_rootfs, "mnt")]


@pytest.mark.parametrize("propagation, expect", [("slave", {"master"}), ("shared", {"shared"}),
                                                 ("private", set()), ("unbindable", {"unbindable"})])
def test_no_pivot_rootfs_propagation(ocirt, make_bundle, shared_rootfs, tmp_path, propagation, expect):
    """With --no-pivot (MS_MOVE over "/" and chroot) the same propagation, and nothing on the host."""
    before = host_mounts_under(tmp_path)
    out = sh(ocirt, make_bundle, "cat /proc/self/mountinfo", run_args=("--no-pivot",),
             edit=lambda c: (c["root"].update(path=shared_rootfs), c["linux"].update(rootfsPropagation=propagation)))
    root = mount_at(parse_mountinfo(out.stdout), "/")
    assert root["root"] == shared_rootfs
    assert {t.partition(":")[0] for t in root["tags"]} == expect, root
    assert host_mounts_under(tmp_path) == before


def test_rootfs_propagation_on_the_hosts_own_mounts(ocirt, make_bundle, busybox_rootfs):
    """The rootfs in a plain directory: "/" is private, a slave, or shared/unbindable as asked."""
    holder = max((m for m in parse_mountinfo(host_mountinfo())
                  if busybox_rootfs.startswith(m["point"].rstrip("/") + "/")), key=lambda m: len(m["point"]))
    slave = {"master"} if tag(holder, "shared") else set()  # private here; shared under systemd
    for propagation, expect in (("private", set()), ("slave", slave), ("shared", {"shared"}),
                                ("unbindable", {"unbindable"})):
        mounts = container_mounts(ocirt, make_bundle,
                                  edit=lambda c: c["linux"].update(rootfsPropagation=propagation))
        root = mount_at(mounts, "/")
        assert {t.partition(":")[0] for t in root["tags"]} == expect, (propagation, root)


def test_no_pivot(ocirt, make_bundle, busybox_rootfs):
    out = sh(ocirt, make_bundle, "ls /; echo ==; cat /proc/self/mountinfo", run_args=("--no-pivot",))
    listing, _, info = out.stdout.partition("==\n")
    assert sorted(listing.split()) == sorted(os.listdir(busybox_rootfs))
    mounts = parse_mountinfo(info)
    root = mount_at(mounts, "/")
    assert root["root"] == busybox_rootfs and "ro" in root["opts"]
    # only the container's own mounts are visible, none of the host's
    points = {m["point"] for m in mounts}
    assert "/work" not in points and not [p for p in points if p.startswith("/mnt/sandboxing")]
    assert {"/proc", "/dev", "/dev/pts", "/sys"} <= points


# ------------------------------------------------------------------ /dev

DEFAULT_DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}


def test_default_devices(ocirt, make_bundle):
    names = " ".join(f"/dev/{n}" for n in DEFAULT_DEVICES)
    out = sh(ocirt, make_bundle, f"stat -c '%n %F %t:%T %a %u:%g' {names}")
    got = {line.split()[0]: line.split(" ", 1)[1] for line in out.stdout.splitlines()}
    for name, (major, minor) in DEFAULT_DEVICES.items():
        assert got[f"/dev/{name}"] == f"character special file {major:x}:{minor:x} 666 0:0"


def test_default_devices_are_usable(ocirt, make_bundle):
    out = sh(ocirt, make_bundle,
             "echo x > /dev/null && echo null-ok; head -c 16 /dev/urandom | wc -c; head -c 16 /dev/random | wc -c; "
             "head -c 4 /dev/zero | od -An -tx1; echo x > /dev/full; echo full-rc=$?; "
             "cat /dev/null | wc -c; head -c 0 /dev/tty; echo tty-rc=$?", expect_rc=0)
    assert out.stdout.split() == ["null-ok", "16", "16", "00", "00", "00", "00", "full-rc=1", "0", "tty-rc=1"]
    assert "No space left on device" in out.stderr
    # the device cgroup lets it through: no controlling terminal, not "Operation not permitted"
    assert "No such device or address" in out.stderr and "not permitted" not in out.stderr


def test_default_dev_symlinks(ocirt, make_bundle):
    out = sh(ocirt, make_bundle, "for l in fd stdin stdout stderr ptmx; do echo $l $(readlink /dev/$l); done; "
                                 "echo via-stdin | cat /dev/stdin; ls /dev/fd/ | head -1")
    lines = out.stdout.splitlines()
    assert lines[:5] == ["fd /proc/self/fd", "stdin /proc/self/fd/0", "stdout /proc/self/fd/1",
                         "stderr /proc/self/fd/2", "ptmx pts/ptmx"]
    assert lines[5:] == ["via-stdin", "0"]


def test_linux_devices(ocirt, make_bundle):
    def edit(config):
        config["linux"]["devices"] = [
            {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600, "uid": 1000, "gid": 100},
            {"path": "/dev/sub/dir/myzero", "type": "c", "major": 1, "minor": 5, "fileMode": 0o644},
            {"path": "/dev/myfifo", "type": "p", "fileMode": 0o640, "uid": 1, "gid": 2},
        ]
        config["process"]["user"] = {"uid": 1000, "gid": 1000}
    out = sh(ocirt, make_bundle,
             "stat -c '%n %F %t:%T %a %u %g' /dev/mynull /dev/sub/dir/myzero /dev/myfifo; "
             "echo x > /dev/mynull && echo mynull-ok; head -c 2 /dev/sub/dir/myzero | wc -c", edit=edit)
    assert out.stdout.splitlines() == [
        "/dev/mynull character special file 1:3 600 1000 100",
        "/dev/sub/dir/myzero character special file 1:5 644 0 0",
        "/dev/myfifo fifo 0:0 640 1 2",
        "mynull-ok",  # usable: owned by uid 1000, allowed by the device cgroup
        "2",
    ]


def test_device_cgroup_denies_what_is_not_allowed(ocirt, make_bundle):
    """The busybox config denies all devices: only the defaults and linux.devices are allowed."""
    def edit(config):
        caps = config["process"]["capabilities"]
        for kind in ("bounding", "effective", "permitted"):
            caps[kind].append("CAP_MKNOD")
        # device nodes reached through bind mounts are no devices the container was given
        for node in ("/dev/kmsg", "/dev/fuse"):
            config["mounts"].append({"destination": node, "type": "bind", "source": node, "options": ["bind"]})
        # a configured device gets an allow rule of its own
        config["linux"]["devices"] = [{"path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200,
                                       "fileMode": 0o666}]
    out = sh(ocirt, make_bundle,
             "head -c 1 /dev/kmsg >/dev/null; echo kmsg=$?; (exec 3<>/dev/fuse); echo fuse=$?; "
             "mknod /dev/sda-like b 8 0; echo mknod-block=$?; "
             "mknod /dev/null2 c 1 3 && echo x > /dev/null2; echo mknod-null=$?; "
             "(exec 3<>/dev/net/tun); echo tun=$?", edit=edit)
    assert out.stdout.split() == ["kmsg=1", "fuse=1", "mknod-block=1", "mknod-null=0", "tun=0"]
    errors = out.stderr.splitlines()
    assert len(errors) == 3 and all("Operation not permitted" in e for e in errors), errors
    assert "kmsg" in errors[0] and "fuse" in errors[1] and "sda-like" in errors[2]


def test_dev_bind_from_host_gets_no_default_devices(ocirt, make_bundle, tmp_path):
    """/dev given as a bind mount is left as it is (runc: no device nodes created in it)."""
    devdir = tmp_path / "mydev"
    devdir.mkdir()
    (devdir / "keep").write_text("")

    def edit(config):
        config["mounts"] = [m for m in config["mounts"] if not m["destination"].startswith("/dev")]
        config["mounts"].append({"destination": "/dev", "type": "bind", "source": str(devdir), "options": ["rbind"]})
        config["linux"]["maskedPaths"] = []
    sh(ocirt, make_bundle, "ls /dev", edit=edit)
    assert os.listdir(devdir) == ["keep"]


# ------------------------------------------------------------------ masked and read-only paths

def test_masked_paths(ocirt, make_bundle):
    out = sh(ocirt, make_bundle,
             "wc -c < /proc/keys; wc -c < /proc/timer_list; ls -A /proc/acpi /sys/firmware | wc -w; "
             "touch /proc/acpi/x; echo acpi-write=$?; test -e /proc/kcore && wc -c < /proc/kcore || echo no-kcore; "
             "cat /proc/self/mountinfo")
    lines = out.stdout.splitlines()
    assert lines[:5] == ["0", "0", "2", "acpi-write=1", "0" if os.path.exists("/proc/kcore") else "no-kcore"]
    mounts = parse_mountinfo("\n".join(lines[5:]))
    for d in ("/proc/acpi", "/sys/firmware"):
        m = mount_at(mounts, d)
        assert m["fstype"] == "tmpfs" and "ro" in m["opts"]
    # the files are /dev/null bind mounts (the container's own /dev/null)
    null_dev = mount_at(mounts, "/dev")["dev"]
    assert mount_at(mounts, "/proc/keys")["dev"] == null_dev and mount_at(mounts, "/proc/keys")["root"] == "/null"


def test_readonly_paths(ocirt, make_bundle):
    out = sh(ocirt, make_bundle,
             "echo other > /proc/sys/kernel/hostname; echo hostname=$?; cat /proc/sys/kernel/hostname; "
             "echo 1 > /proc/sys/vm/drop_caches; echo drop=$?; cat /proc/self/mountinfo")
    lines = out.stdout.splitlines()
    assert lines[:3] == ["hostname=1", "ocirt", "drop=1"]
    assert out.stderr.count("Read-only file system") == 2
    mounts = parse_mountinfo("\n".join(lines[3:]))
    for p in ("/proc/sys", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sysrq-trigger"):
        if os.path.exists(p):  # the missing ones are skipped (see below)
            assert "ro" in mount_at(mounts, p)["opts"], p
    assert "rw" in mount_at(mounts, "/proc")["opts"]


def test_missing_masked_and_readonly_paths_are_ignored(ocirt, make_bundle):
    def edit(config):
        config["linux"]["maskedPaths"] = ["/proc/does-not-exist", "/sys/no/such/dir", "/nothing-here", "/proc/keys"]
        config["linux"]["readonlyPaths"] = ["/proc/nope", "/not/there", "/proc/sys"]
    out = sh(ocirt, make_bundle, "test -e /nothing-here || echo absent; wc -c < /proc/keys; "
                                 "echo x > /proc/sys/kernel/hostname; echo rc=$?", edit=edit)
    assert out.stdout.split() == ["absent", "0", "rc=1"]


# ------------------------------------------------------------------ callers' mount lists

def _fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


def test_containerd_mounts_masked_and_readonly_paths(ocirt, make_bundle):
    ctrd = _fixture("containerd-config.json")

    def edit(config):
        config["mounts"] = ctrd["mounts"]
        config["linux"]["maskedPaths"] = ctrd["linux"]["maskedPaths"]
        config["linux"]["readonlyPaths"] = ctrd["linux"]["readonlyPaths"]
        config["linux"]["resources"]["devices"] = ctrd["linux"]["resources"]["devices"]
    out = sh(ocirt, make_bundle,
             "echo x > /dev/null && echo x > /run/x && echo x > /dev/shm/x && cat /run/x; "
             "echo y > /proc/sys/kernel/hostname; echo sys=$?; wc -c < /proc/keys; cat /proc/self/mountinfo",
             edit=edit)
    lines = out.stdout.splitlines()
    assert lines[:3] == ["x", "sys=1", "0"]
    mounts = parse_mountinfo("\n".join(lines[3:]))
    for entry in ctrd["mounts"]:
        m = mount_at(mounts, entry["destination"])
        assert m["fstype"] == entry["type"], entry
        flags = {o for o in entry["options"] if o in ("nosuid", "noexec", "nodev", "ro")}
        assert flags <= m["opts"], (entry, m)
        for opt in entry["options"]:
            if opt.startswith(("size=", "mode=", "gid=", "ptmxmode=")) and opt != "mode=1777":
                key, _, value = opt.partition("=")
                value = {"size=65536k": "65536k"}.get(opt, value.lstrip("0") or "0")
                assert f"{key}={value}" in m["super"], (opt, m)
    for path in ctrd["linux"]["maskedPaths"] + ctrd["linux"]["readonlyPaths"]:
        if os.path.exists(path):
            assert "ro" in mount_at(mounts, path)["opts"] or mount_at(mounts, path)["root"] == "/null", path


def test_podman_mounts(ocirt, make_bundle, tmp_path):
    """podman's list: /etc/hosts etc. as single-file binds, cgroup with rprivate, /dev/shm bind."""
    pod = _fixture("podman-config.json")
    userdata = tmp_path / "userdata"
    userdata.mkdir()
    for name in ("hosts", "hostname", ".containerenv"):
        (userdata / name).write_text(f"podman {name}\n")
    (userdata / "shm").mkdir()

    def edit(config):
        mounts = []
        for m in pod["mounts"]:
            m = dict(m)
            if m["type"] == "bind":
                m["source"] = str(userdata / os.path.basename(m["source"]))
            mounts.append(m)
        config["mounts"] = mounts
        config["linux"]["maskedPaths"] = pod["linux"]["maskedPaths"]
        config["linux"]["readonlyPaths"] = pod["linux"]["readonlyPaths"]
    out = sh(ocirt, make_bundle, "cat /etc/hosts /etc/hostname /run/.containerenv; ls /sys/fs/cgroup; "
                                 "echo x > /dev/shm/x; cat /proc/self/mountinfo", edit=edit)
    assert out.stdout.startswith("podman hosts\npodman hostname\npodman .containerenv\n")
    if os.path.isdir("/sys/fs/cgroup/memory"):
        assert "\nmemory\n" in out.stdout
    assert (userdata / "shm" / "x").read_text() == "x\n"
    mounts = parse_mountinfo("\n".join(line for line in out.stdout.splitlines() if " - " in line))
    for entry in pod["mounts"]:
        m = mount_at(mounts, entry["destination"])
        if entry["type"] == "bind":
            assert m["root"] == str(userdata / os.path.basename(entry["source"])), (entry, m)
        elif entry["type"] != "cgroup":
            assert m["fstype"] == entry["type"], (entry, m)
        assert {o for o in entry["options"] if o in ("nosuid", "noexec", "nodev", "ro")} <= m["opts"], (entry, m)
        if "rprivate" in entry["options"]:
            assert not m["tags"], m


# ------------------------------------------------------------------ the host

def test_nothing_leaks_to_the_host(ocirt, make_bundle, busybox_rootfs, tmp_path, host_dir):
    rootfs = copy_rootfs(busybox_rootfs, tmp_path / "rootfs")
    before_all = host_mountinfo()
    cid, pid = run_detached(ocirt, make_bundle, ["sleep", "1000"],
                            edit=lambda c: (c["root"].update(path=rootfs), add_mounts(
                                {"destination": "/vol", "type": "bind", "source": str(host_dir),
                                 "options": ["rbind", "rshared"]},
                                {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": []})(c)))
    try:
        inside = {m["point"] for m in parse_mountinfo(read_proc(pid, "mountinfo"))}
        assert {"/", "/proc", "/vol", "/scratch", "/sys/fs/cgroup", "/proc/sys"} <= inside
        assert str(tmp_path) not in host_mountinfo()  # tmp_path holds the rootfs, the volume, the bundle
        # the host's own mount table did not grow by the container's mounts
        gained = set(host_mountinfo().splitlines()) - set(before_all.splitlines())
        assert not [line for line in gained if rootfs in line or "/sys/fs/cgroup" in line.split()[4]]
    finally:
        ocirt("delete", "--force", cid)
    assert rootfs not in host_mountinfo() and str(tmp_path) not in host_mountinfo()
