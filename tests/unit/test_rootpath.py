import os

import pytest

from ocirt.errors import OcirtError
from ocirt.linux.rootpath import (fd_path_in_root, mkdir_in_root, open_dir_in_root, open_file_in_root,
                                  open_in_root, open_parent_in_root, resolve_in_root, touch_in_root)


@pytest.fixture
def tree(tmp_path):
    """A host dir with an `outside` sibling and a rootfs full of traps."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host")
    root = tmp_path / "root"
    for d in ("usr/lib", "var/run", "real"):
        (root / d).mkdir(parents=True)
    (root / "real" / "file").write_text("x")
    links = {
        "etc": "/",                          # absolute, to the root itself
        "a": "../../..",                     # relative, climbs far above root
        "b": str(outside),                   # absolute host path
        "c": "a/outside",                    # chain through an escaping link
        "d": "b/secret",
        "chain1": "chain2", "chain2": "/usr/lib",
        "loop1": "loop2", "loop2": "loop1",
        "self": "self",
        "dangling": "/nowhere/deeper",
        "reldangling": "../../nowhere",
        "filelink": "real/file",
        "var/lib": "../../../outside",
        "usr/lib/up": "../../..",
    }
    for name, target in links.items():
        os.symlink(target, root / name)
    return str(root), str(outside)


def inside(root, path):
    return path == root or path.startswith(root + "/")


@pytest.mark.parametrize("path, expected", [
    ("/", ""),
    ("", ""),
    ("usr/lib", "/usr/lib"),
    ("/usr//lib/.", "/usr/lib"),
    ("/etc", ""),
    ("/etc/passwd", "/passwd"),
    ("/etc/etc/etc/usr", "/usr"),
    ("/a", ""),
    ("/a/usr/lib", "/usr/lib"),
    ("/b", "/tmp-outside"),   # rewritten below: the host path re-rooted
    ("/b/secret", "/tmp-outside/secret"),
    ("/d", "/tmp-outside/secret"),
    ("/c", "/outside"),
    ("/chain1/x", "/usr/lib/x"),
    ("/dangling", "/nowhere/deeper"),
    ("/reldangling/f", "/nowhere/f"),
    ("/../../..", ""),
    ("../../../etc/shadow", "/shadow"),
    ("/usr/../../../x", "/x"),
    ("/usr/lib/up/usr/lib/up/x", "/x"),
    ("/var/lib/secret", "/outside/secret"),
    ("/missing/a/../b", "/missing/b"),
    ("/missing/../usr/lib", "/usr/lib"),
    ("/filelink", "/real/file"),
    ("/real/file/x", "/real/file/x"),
    ("/real/file/../file", "/real/file"),
])
def test_resolve_stays_inside(tree, path, expected):
    root, outside = tree
    expected = expected.replace("/tmp-outside", outside)
    result = resolve_in_root(root, path)
    assert result == root + expected
    assert inside(root, result)


@pytest.mark.parametrize("path", ["/loop1", "/self/x", "/loop2/a/b"])
def test_symlink_loops_are_an_error(tree, path):
    root, _ = tree
    with pytest.raises(OcirtError, match="too many levels of symbolic links"):
        resolve_in_root(root, path)


def test_long_chain_within_limit(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    for i in range(100):
        os.symlink(f"l{i + 1}", root / f"l{i}")
    (root / "l100").mkdir()
    assert resolve_in_root(str(root), "/l0/x") == str(root / "l100" / "x")


@pytest.mark.parametrize("path, expected", [
    ("/etc/newdir", "/newdir"),
    ("/a/new/nested", "/new/nested"),
    ("/b/made", "/tmp-outside/made"),
    ("/dangling", "/nowhere/deeper"),
    ("/var/lib/x", "/outside/x"),
    ("/usr/lib/up/usr/lib/up/y", "/y"),
])
def test_mkdir_never_creates_outside(tree, path, expected):
    root, outside = tree
    expected = expected.replace("/tmp-outside", outside)
    before = sorted(os.listdir(outside)), sorted(os.listdir(os.path.dirname(root)))
    result = mkdir_in_root(root, path)
    assert result == root + expected
    assert os.path.isdir(result) and not os.path.islink(result)
    assert before == (sorted(os.listdir(outside)), sorted(os.listdir(os.path.dirname(root))))


def test_mkdir_existing_and_mode(tree):
    root, _ = tree
    assert mkdir_in_root(root, "/usr/lib") == root + "/usr/lib"
    old = os.umask(0)
    try:
        path = mkdir_in_root(root, "/m1/m2", mode=0o700)
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o777 == 0o700
    assert os.stat(root + "/m1").st_mode & 0o777 == 0o700


def test_mkdir_through_a_file_is_an_error(tree):
    root, _ = tree
    with pytest.raises(OcirtError, match="real/file is not a directory"):
        mkdir_in_root(root, "/real/file/sub")
    with pytest.raises(OcirtError, match="exists and is not a directory"):
        mkdir_in_root(root, "/filelink")


def test_touch_creates_file_and_parents_inside(tree):
    root, outside = tree
    path = touch_in_root(root, "/etc/resolv.conf")
    assert path == root + "/resolv.conf"
    assert os.path.isfile(path) and os.path.getsize(path) == 0
    path = touch_in_root(root, "/b/new/hosts")
    assert path == root + outside + "/new/hosts"
    assert os.path.isfile(path)
    assert sorted(os.listdir(outside)) == ["secret"]


def test_touch_keeps_existing(tree):
    root, _ = tree
    assert touch_in_root(root, "/filelink") == root + "/real/file"
    assert open(root + "/real/file").read() == "x"
    assert touch_in_root(root, "/usr/lib") == root + "/usr/lib"


def test_touch_dangling_link_creates_target_inside(tree):
    root, _ = tree
    path = touch_in_root(root, "/dangling")
    assert path == root + "/nowhere/deeper"
    assert os.path.isfile(path)
    assert not os.path.exists("/nowhere")


def test_touch_under_a_file_is_an_error(tree):
    root, _ = tree
    with pytest.raises(OcirtError, match="not a directory"):
        touch_in_root(root, "/real/file/x")


def test_kernel_errors_are_ocirt_errors(tmp_path):
    with pytest.raises(OcirtError, match="cannot open the container root .*/nope: No such file"):
        resolve_in_root(str(tmp_path / "nope"), "/x")
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(OcirtError, match=r"cannot create '/x+' inside .*: File name too long"):
        mkdir_in_root(str(root), "/" + "x" * 300)
    with pytest.raises(OcirtError, match=r"cannot resolve '/x+' inside .*: File name too long"):
        resolve_in_root(str(root), "/" + "x" * 300)


# ---- the fd forms: the fd names the file the walk found, whatever is renamed after

def fd_target(fd):
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


@pytest.mark.parametrize("path, expected", [
    ("/usr/lib", "/usr/lib"),
    ("/etc/usr/lib/up/real", "/real"),
    ("/filelink", "/real/file"),   # a non-directory at the end: its own fd
    ("/chain1", "/usr/lib"),
    ("/", ""),
])
def test_open_in_root_gives_an_fd_of_what_resolve_names(tree, path, expected):
    root, _ = tree
    assert fd_target(open_in_root(root, path)) == root + expected == resolve_in_root(root, path)


@pytest.mark.parametrize("path", ["/missing", "/b", "/dangling", "/real/file/x", "/usr/lib/nope"])
def test_open_in_root_of_a_missing_path_is_none(tree, path):
    root, _ = tree
    assert open_in_root(root, path) is None


def test_open_dir_and_file_create_inside(tree):
    root, outside = tree
    assert fd_target(open_dir_in_root(root, "/b/made/here")) == root + outside + "/made/here"
    fd = open_file_in_root(root, "/var/lib/newfile")
    assert fd_target(fd) == root + "/outside/newfile"
    assert os.path.isfile(root + "/outside/newfile")
    assert fd_target(open_file_in_root(root, "/filelink")) == root + "/real/file"
    assert sorted(os.listdir(outside)) == ["secret"]
    with pytest.raises(OcirtError, match="exists and is not a directory"):
        open_dir_in_root(root, "/filelink")


def test_open_parent_resolves_a_last_symlink_and_creates_parents(tree):
    root, _ = tree
    fd, name = open_parent_in_root(root, "/filelink")
    assert (fd_target(fd), name) == (root + "/real", "file")
    fd, name = open_parent_in_root(root, "/a/new/dir/node")
    assert (fd_target(fd), name) == (root + "/new/dir", "node")
    fd, name = open_parent_in_root(root, "/dangling")
    assert (fd_target(fd), name) == (root + "/nowhere", "deeper")
    with pytest.raises(OcirtError, match="the root itself"):
        open_parent_in_root(root, "/etc/..")


def test_an_fd_stays_on_its_directory_when_a_symlink_is_swapped_in(tree):
    """The race of CVE-2023-27561: after the walk, usr is renamed away and
    replaced by a symlink out of the root; the fd still names the rootfs's own
    directory, and a rename of it out of the root is caught."""
    root, outside = tree
    fd = open_dir_in_root(root, "/usr/lib")
    try:
        os.rename(root + "/usr", root + "/usr.old")
        os.symlink(outside, root + "/usr")
        assert fd_path_in_root(root, fd) == f"/proc/self/fd/{fd}"
        assert os.readlink(f"/proc/self/fd/{fd}") == root + "/usr.old/lib"
        os.rename(root + "/usr.old", outside + "/moved")
        with pytest.raises(OcirtError, match="moved out of the container root"):
            fd_path_in_root(root, fd)
    finally:
        os.close(fd)
