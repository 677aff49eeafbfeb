"""Idmapped bind mounts: mounts[i].uidMappings/gidMappings and the idmap and
ridmap options (runtime-spec config.md). The mappings are written as given
into the user namespace the mount is idmapped with, as runc does:
containerID is the id on the source filesystem, hostID the id seen through
the mount (see ocirt/linux/idmap.py).

What the container sees is asserted from inside it (`stat -c %u:%g`), and
what it writes through the mount from the host (os.stat of the source)."""
import json
import os
import shutil
import tempfile

import pytest

from conftest import new_id

from test_filesystem import add_mounts, chain, host_mount, sh  # noqa: F401
from test_namespaces import MAPPING, set_namespaces, start_sleeper, userns_dir  # noqa: F401

OVERFLOW_ID = "65534"  # what an unmapped id reads as (/proc/sys/kernel/overflowuid)
STAT = 'for f in "$@"; do echo "$f $(stat -c %u:%g "$f")"; done'


def owners(out):
    """`path uid:gid` lines -> {path: "uid:gid"}."""
    return dict(line.split() for line in out.stdout.splitlines() if line.startswith("/"))


def idmapped(source, destination="/data", options=("bind", "idmap"), uid=None, gid=None):
    """A mount entry; uid/gid: [(containerID, hostID, size)]."""
    entry = {"destination": destination, "type": "bind", "source": str(source), "options": list(options)}
    if uid is not None:
        entry["uidMappings"] = [{"containerID": c, "hostID": h, "size": n} for c, h, n in uid]
    if gid is not None:
        entry["gidMappings"] = [{"containerID": c, "hostID": h, "size": n} for c, h, n in gid]
    return entry


def stat_in(ocirt, make_bundle, paths, script="", **bundle_kw):
    return owners(sh(ocirt, make_bundle, f'{script}\nset -- {" ".join(paths)}; {STAT}', **bundle_kw))


@pytest.fixture
def source(tmp_path):
    """A host directory owned by 1000:1000 holding `user` (1000:1000) and `root` (0:0)."""
    src = tmp_path / "src"
    src.mkdir()
    for name, owner in (("user", 1000), ("root", 0)):
        (src / name).write_text(name + "\n")
        os.chown(src / name, owner, owner)
    os.chown(src, 1000, 1000)
    return src


def test_host_uid_1000_shows_as_0_and_writes_come_back_as_1000(ocirt, make_bundle, source):
    """No user namespace: the mapping 1000 -> 0 makes the host user's files root's
    inside; host root's own files are unmapped there; what root creates through the
    mount is stored as 1000:1000."""
    mount = idmapped(source, uid=[(1000, 0, 1)], gid=[(1000, 0, 1)])
    seen = stat_in(ocirt, make_bundle, ["/data", "/data/user", "/data/root", "/data/new", "/data/newdir"],
                   "touch /data/new && mkdir /data/newdir", edit=add_mounts(mount))
    assert seen == {"/data": "0:0", "/data/user": "0:0", "/data/root": f"{OVERFLOW_ID}:{OVERFLOW_ID}",
                    "/data/new": "0:0", "/data/newdir": "0:0"}
    for name in ("new", "newdir"):
        st = os.stat(source / name)
        assert (st.st_uid, st.st_gid) == (1000, 1000), name
    assert os.stat(source / "user").st_uid == 1000  # the source itself is unchanged


def test_uid_and_gid_mappings_apply_separately(ocirt, make_bundle, source):
    mount = idmapped(source, uid=[(1000, 2000, 1), (0, 3000, 1)], gid=[(1000, 4000, 1)])
    seen = stat_in(ocirt, make_bundle, ["/data/user", "/data/root"], edit=add_mounts(mount))
    assert seen == {"/data/user": "2000:4000", "/data/root": f"3000:{OVERFLOW_ID}"}


def test_plain_bind_is_not_idmapped(ocirt, make_bundle, source):
    """Calibration: the same mount without mappings or idmap shows the host's ids."""
    mount = idmapped(source, options=["bind"])
    seen = stat_in(ocirt, make_bundle, ["/data/user", "/data/root"], edit=add_mounts(mount))
    assert seen == {"/data/user": "1000:1000", "/data/root": "0:0"}


def test_mount_flags_and_a_file_source(ocirt, make_bundle, source):
    """An idmapped mount gets its other options like any bind; a file can be idmapped too."""
    mounts = add_mounts(idmapped(source, options=["bind", "ro", "nosuid", "idmap"], uid=[(1000, 0, 1)],
                                 gid=[(1000, 0, 1)]),
                        idmapped(source / "user", "/user-file", uid=[(1000, 5, 1)], gid=[(1000, 6, 1)]))
    out = sh(ocirt, make_bundle, f"set -- /data/user /user-file; {STAT}; touch /data/x; echo \"touch $?\"; "
             "grep -E ' /(data|user-file) ' /proc/self/mountinfo", edit=mounts)
    assert owners(out) == {"/data/user": "0:0", "/user-file": "5:6"}
    assert "touch 1" in out.stdout, out.stdout
    data = next(line for line in out.stdout.splitlines() if " /data " in line)
    assert " ro," in data and "nosuid" in data, data
    assert "idmapped" in data, data  # the kernel's own mount option for it
    assert not os.path.exists(source / "x")


@pytest.mark.parametrize("option, sub_owner", [("idmap", "1000:1000"), ("ridmap", "0:0")])
def test_idmap_maps_the_top_of_an_rbind_and_ridmap_all_of_it(ocirt, make_bundle, source, host_mount, option,
                                                            sub_owner):
    (source / "sub").mkdir()
    host_mount("-t", "tmpfs", "-o", "size=1m,uid=1000,gid=1000", "tmpfs", source / "sub")
    mount = idmapped(source, options=["rbind", option], uid=[(1000, 0, 1)], gid=[(1000, 0, 1)])
    seen = stat_in(ocirt, make_bundle, ["/data", "/data/sub"], edit=add_mounts(mount))
    assert seen == {"/data": "0:0", "/data/sub": sub_owner}


# ---------------------------------------------------------------- with a user namespace

@pytest.fixture
def userns_source(userns_dir):  # noqa: F811
    """Like `source`, reachable by the container's root (host uid 100000), in the
    userns rootfs whose /shared is an existing mount point."""
    src = tempfile.mkdtemp(dir=userns_dir)
    os.chmod(src, 0o755)
    for name, owner in (("user", 1000), ("root", 0)):
        path = os.path.join(src, name)
        with open(path, "w") as f:
            f.write(name + "\n")
        os.chown(path, owner, owner)
    yield src
    shutil.rmtree(src)


def in_userns(userns_dir, *mounts):  # noqa: F811
    def edit(config):
        set_namespaces(["pid", "network", "ipc", "uts", "mount", "cgroup", "user"], mappings=True)(config)
        config["root"]["path"] = os.path.join(userns_dir, "rootfs")
        config["mounts"].extend(mounts)
    return edit


@pytest.mark.parametrize("options, expect", [
    (["rbind"], {"/shared/user": f"{OVERFLOW_ID}:{OVERFLOW_ID}", "/shared/root": f"{OVERFLOW_ID}:{OVERFLOW_ID}"}),
    (["rbind", "idmap"], {"/shared/user": "1000:1000", "/shared/root": "0:0"}),
])
def test_idmap_without_mappings_takes_the_container_user_namespace(ocirt, make_bundle, userns_dir, userns_source,
                                                                   options, expect):
    """The container maps 0 -> 100000 (65536 ids): host ids 0 and 1000 are nobody in
    it, unless the mount is idmapped with the same mappings, which shows the ids of
    the source filesystem unchanged (and stores container root's files as 0)."""
    mount = idmapped(userns_source, "/shared", options)
    script = 'echo "uid_map $(cat /proc/self/uid_map)"'
    if "idmap" in options:
        script += "; touch /shared/made-by-root"
    out = sh(ocirt, make_bundle, f"{script}\nset -- /shared/user /shared/root; {STAT}",
             edit=in_userns(userns_dir, mount))
    assert "100000" in out.stdout
    assert owners(out) == expect
    if "idmap" in options:
        st = os.stat(os.path.join(userns_source, "made-by-root"))
        assert (st.st_uid, st.st_gid) == (0, 0)


def test_explicit_mappings_with_a_user_namespace_are_host_ids(ocirt, make_bundle, userns_dir, userns_source):
    """hostID is the id as the host sees it: mapping the source's 1000 to host 100000
    makes it root in a container whose root is host 100000."""
    mount = idmapped(userns_source, "/shared", uid=[(1000, 100000, 1)], gid=[(1000, 100000, 1)])
    seen = stat_in(ocirt, make_bundle, ["/shared/user", "/shared/root"], edit=in_userns(userns_dir, mount))
    assert seen == {"/shared/user": "0:0", "/shared/root": f"{OVERFLOW_ID}:{OVERFLOW_ID}"}


def test_idmap_without_mappings_in_a_joined_user_namespace(ocirt, make_bundle, userns_dir, userns_source):
    """Joining a user namespace by path (a pod's sandbox), idmap uses that namespace."""
    sandbox, spid = start_sleeper(ocirt, make_bundle, edit=in_userns(userns_dir))
    try:
        def edit(config):
            in_userns(userns_dir, idmapped(userns_source, "/shared"))(config)
            config["linux"]["namespaces"] = [{"type": t, "path": f"/proc/{spid}/ns/{name}"} for t, name in
                                             (("user", "user"), ("pid", "pid"), ("network", "net"), ("ipc", "ipc"))]
            config["linux"]["namespaces"].append({"type": "mount"})
            del config["linux"]["uidMappings"], config["linux"]["gidMappings"], config["hostname"]
        seen = stat_in(ocirt, make_bundle, ["/shared/user", "/shared/root"], edit=edit)
        assert seen == {"/shared/user": "1000:1000", "/shared/root": "0:0"}
    finally:
        ocirt("delete", "--force", sandbox)


# ---------------------------------------------------------------- refused

def create_fails(ocirt, make_bundle, edit):
    cid = new_id()
    out = ocirt("create", "--bundle", make_bundle(["true"], edit=edit), cid, check=False)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr and "internal error" not in out.stderr, out.stderr
    assert not os.path.exists(os.path.join(ocirt.root, cid))
    return lines[0]


M = "mounts[7]"  # the first mount after the busybox bundle's seven


@pytest.mark.parametrize("entry, path, words", [
    (dict(options=["bind", "idmap"]), f"{M}.options", "has none"),
    (dict(options=["bind", "ridmap"]), f"{M}.options", "has none"),
    (dict(uid=[(0, 1000, 0)], gid=[(0, 1000, 1)]), f"{M}.uidMappings[0].size", "size 0"),
    (dict(uid=[(0, 1000, 10)], gid=[(0, 1000, 10), (5, 2000, 1)]), f"{M}.gidMappings[1]", "overlaps"),
    (dict(uid=[(0, 1000, 10), (100, 1005, 1)], gid=[(0, 1000, 1)]), f"{M}.uidMappings[1]", "hostID range overlaps"),
    (dict(uid=[(4294967290, 0, 10)], gid=[(0, 1000, 1)]), f"{M}.uidMappings[0]", "past the last id"),
    (dict(uid=[(0, 1000, 1)] * 341, gid=[(0, 1000, 1)]), f"{M}.uidMappings", "at most 340"),
    (dict(uid=[], gid=[(0, 1000, 1)]), f"{M}.uidMappings", "both"),
])
def test_bad_mappings_are_refused_before_anything_is_built(ocirt, make_bundle, source, entry, path, words):
    options = entry.pop("options", ["bind", "idmap"])
    line = create_fails(ocirt, make_bundle, add_mounts(idmapped(source, options=options, **entry)))
    assert f"config.json: {path}: " in line and words in line, line


def test_idmap_on_a_filesystem_mount_is_refused(ocirt, make_bundle):
    entry = {"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"],
             "uidMappings": MAPPING, "gidMappings": MAPPING}
    line = create_fails(ocirt, make_bundle, add_mounts(entry))
    assert f"config.json: {M}: idmapped mounts are bind mounts only" in line, line


def test_a_filesystem_without_idmapped_mounts_is_a_clear_error(ocirt, make_bundle):
    """sysfs cannot be idmapped: the error names the mount and the filesystem."""
    line = create_fails(ocirt, make_bundle, add_mounts(idmapped("/sys/kernel", "/data", uid=[(0, 1000, 1)],
                                                                gid=[(0, 1000, 1)])))
    assert line.startswith(f"ocirt: config.json: {M}: ") or f"{M}: " in line, line
    assert "/sys/kernel" in line and "sysfs" in line and "does not support idmapped mounts" in line, line


def test_features_report_idmapped_mounts(ocirt):
    features = json.loads(ocirt("features").stdout)
    assert features["linux"]["mountExtensions"] == {"idmap": {"enabled": True}}
    assert {"idmap", "ridmap"} <= set(features["mountOptions"])
