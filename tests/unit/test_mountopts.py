import pytest

from ocirt.linux import mountopts as m
from ocirt.linux.mountopts import MOUNT_OPTION_NAMES, parse_mount_options


def test_kernel_values():
    # Spot checks against linux/mount.h.
    assert (m.MS_RDONLY, m.MS_NOSUID, m.MS_NODEV, m.MS_NOEXEC) == (1, 2, 4, 8)
    assert (m.MS_BIND, m.MS_REC, m.MS_SILENT) == (4096, 16384, 32768)
    assert (m.MS_PRIVATE, m.MS_SLAVE, m.MS_SHARED, m.MS_UNBINDABLE) == (1 << 18, 1 << 19, 1 << 20, 1 << 17)
    assert (m.MS_RELATIME, m.MS_STRICTATIME, m.MS_LAZYTIME, m.MS_I_VERSION) == (1 << 21, 1 << 24, 1 << 25, 1 << 23)
    assert m.MS_NOSYMFOLLOW == 256
    assert m.MOUNT_ATTR__ATIME == 0x70 and m.MOUNT_ATTR_NOSYMFOLLOW == 0x200000
    assert m.MOUNT_ATTR_IDMAP == 0x100000 and m.AT_RECURSIVE == 0x8000


def test_empty_and_defaults():
    for options in (None, [], ["defaults"]):
        o = parse_mount_options(options)
        assert (o.flags, o.clear_flags, o.propagation, o.data) == (0, 0, [], "")
        assert (o.recursive_set, o.recursive_clear) == (0, 0)
        assert not (o.is_bind or o.idmap or o.ridmap or o.tmpcopyup)


def test_typical_proc_and_tmpfs():
    o = parse_mount_options(["nosuid", "noexec", "nodev"])
    assert o.flags == m.MS_NOSUID | m.MS_NOEXEC | m.MS_NODEV
    o = parse_mount_options(["nosuid", "strictatime", "mode=755", "size=65536k"])
    assert o.flags == m.MS_NOSUID | m.MS_STRICTATIME
    assert o.data == "mode=755,size=65536k"


@pytest.mark.parametrize("option, bit", [
    ("ro", m.MS_RDONLY), ("nosuid", m.MS_NOSUID), ("nodev", m.MS_NODEV),
    ("noexec", m.MS_NOEXEC), ("sync", m.MS_SYNCHRONOUS), ("remount", m.MS_REMOUNT),
    ("mand", m.MS_MANDLOCK), ("dirsync", m.MS_DIRSYNC), ("noatime", m.MS_NOATIME),
    ("nodiratime", m.MS_NODIRATIME), ("silent", m.MS_SILENT), ("relatime", m.MS_RELATIME),
    ("strictatime", m.MS_STRICTATIME), ("lazytime", m.MS_LAZYTIME),
    ("nosymfollow", m.MS_NOSYMFOLLOW), ("iversion", m.MS_I_VERSION),
])
def test_set_flags(option, bit):
    o = parse_mount_options([option])
    assert (o.flags, o.clear_flags, o.data) == (bit, 0, "")


@pytest.mark.parametrize("option, bit", [
    ("rw", m.MS_RDONLY), ("suid", m.MS_NOSUID), ("dev", m.MS_NODEV),
    ("exec", m.MS_NOEXEC), ("async", m.MS_SYNCHRONOUS), ("atime", m.MS_NOATIME),
    ("diratime", m.MS_NODIRATIME), ("norelatime", m.MS_RELATIME),
    ("nostrictatime", m.MS_STRICTATIME), ("loud", m.MS_SILENT),
    ("nomand", m.MS_MANDLOCK), ("nolazytime", m.MS_LAZYTIME),
    ("symfollow", m.MS_NOSYMFOLLOW), ("noiversion", m.MS_I_VERSION),
])
def test_clear_flags(option, bit):
    o = parse_mount_options([option])
    assert (o.flags, o.clear_flags) == (0, bit)


def test_last_option_wins():
    o = parse_mount_options(["ro", "rw"])
    assert (o.flags, o.clear_flags) == (0, m.MS_RDONLY)
    o = parse_mount_options(["rw", "ro", "exec", "noexec"])
    assert (o.flags, o.clear_flags) == (m.MS_RDONLY | m.MS_NOEXEC, 0)


def test_bind():
    o = parse_mount_options(["bind"])
    assert o.is_bind and o.flags == m.MS_BIND
    o = parse_mount_options(["rbind", "ro"])
    assert o.is_bind and o.flags == m.MS_BIND | m.MS_REC | m.MS_RDONLY
    assert not parse_mount_options(["ro"]).is_bind


def test_propagation_in_order():
    o = parse_mount_options(["rbind", "rprivate", "shared", "rslave", "unbindable",
                             "runbindable", "private", "rshared", "slave"])
    assert o.propagation == [
        m.MS_PRIVATE | m.MS_REC, m.MS_SHARED, m.MS_SLAVE | m.MS_REC, m.MS_UNBINDABLE,
        m.MS_UNBINDABLE | m.MS_REC, m.MS_PRIVATE, m.MS_SHARED | m.MS_REC, m.MS_SLAVE]
    assert o.flags == m.MS_BIND | m.MS_REC  # propagation is not a mount flag


@pytest.mark.parametrize("option, set_, clear", [
    ("rro", m.MOUNT_ATTR_RDONLY, 0), ("rrw", 0, m.MOUNT_ATTR_RDONLY),
    ("rnosuid", m.MOUNT_ATTR_NOSUID, 0), ("rsuid", 0, m.MOUNT_ATTR_NOSUID),
    ("rnodev", m.MOUNT_ATTR_NODEV, 0), ("rdev", 0, m.MOUNT_ATTR_NODEV),
    ("rnoexec", m.MOUNT_ATTR_NOEXEC, 0), ("rexec", 0, m.MOUNT_ATTR_NOEXEC),
    ("rnodiratime", m.MOUNT_ATTR_NODIRATIME, 0), ("rdiratime", 0, m.MOUNT_ATTR_NODIRATIME),
    ("rnosymfollow", m.MOUNT_ATTR_NOSYMFOLLOW, 0), ("rsymfollow", 0, m.MOUNT_ATTR_NOSYMFOLLOW),
    # atime is a mode: always clear the whole field, then set the mode.
    ("rnoatime", m.MOUNT_ATTR_NOATIME, m.MOUNT_ATTR__ATIME),
    ("rstrictatime", m.MOUNT_ATTR_STRICTATIME, m.MOUNT_ATTR__ATIME),
    ("rrelatime", m.MOUNT_ATTR_RELATIME, m.MOUNT_ATTR__ATIME),
    ("ratime", m.MOUNT_ATTR_RELATIME, m.MOUNT_ATTR__ATIME),
    ("rnostrictatime", m.MOUNT_ATTR_RELATIME, m.MOUNT_ATTR__ATIME),
    ("rnorelatime", m.MOUNT_ATTR_STRICTATIME, m.MOUNT_ATTR__ATIME),
])
def test_recursive_attributes(option, set_, clear):
    o = parse_mount_options(["rbind", option])
    assert (o.recursive_set, o.recursive_clear) == (set_, clear)
    assert o.flags == m.MS_BIND | m.MS_REC and o.data == ""


def test_recursive_combinations():
    o = parse_mount_options(["rro", "rnosuid", "rnoatime", "rstrictatime", "rrw"])
    assert o.recursive_set == m.MOUNT_ATTR_NOSUID | m.MOUNT_ATTR_STRICTATIME
    assert o.recursive_clear == m.MOUNT_ATTR_RDONLY | m.MOUNT_ATTR__ATIME
    # The kernel's rule: atime bits in attr_set need all of _ATIME in attr_clr.
    for name in MOUNT_OPTION_NAMES:
        o = parse_mount_options([name])
        if o.recursive_set & m.MOUNT_ATTR__ATIME or o.recursive_clear & m.MOUNT_ATTR__ATIME:
            assert o.recursive_clear & m.MOUNT_ATTR__ATIME == m.MOUNT_ATTR__ATIME
        assert o.recursive_set & o.recursive_clear & ~m.MOUNT_ATTR__ATIME == 0


def test_extensions():
    o = parse_mount_options(["bind", "idmap"])
    assert o.idmap and not o.ridmap and o.data == ""
    o = parse_mount_options(["rbind", "ridmap"])
    assert o.ridmap and not o.idmap
    o = parse_mount_options(["tmpcopyup", "mode=1777"])
    assert o.tmpcopyup and o.data == "mode=1777"


def test_unknown_options_are_data_in_order():
    o = parse_mount_options(["uid=0", "ro", "gid=5", "newinstance", "ptmxmode=0666"])
    assert o.data == "uid=0,gid=5,newinstance,ptmxmode=0666"
    assert o.flags == m.MS_RDONLY


def test_option_names():
    assert MOUNT_OPTION_NAMES == sorted(set(MOUNT_OPTION_NAMES))
    for name in ("ro", "rw", "rbind", "rprivate", "rro", "rnoatime", "idmap",
                 "ridmap", "tmpcopyup", "defaults", "nosymfollow", "rnosymfollow"):
        assert name in MOUNT_OPTION_NAMES
    # Every listed option is understood: none ends up as filesystem data.
    for name in MOUNT_OPTION_NAMES:
        assert parse_mount_options([name]).data == ""


def test_repr_names_fields():
    assert "is_bind=True" in repr(parse_mount_options(["bind"]))
