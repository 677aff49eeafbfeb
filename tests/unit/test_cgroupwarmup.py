"""The cgroup-migration warm-up of `create`: it moves ocirt only into the cgroup it is already in."""
import _thread
import os
import time

import pytest

from ocirt.linux import cgroupwarmup
from ocirt.linux.cgroups import cgroup_mounts

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="moves this process between cgroups")


def _mounts():
    with open("/proc/self/mountinfo") as f:
        return {key: mount for key, (mount, _) in cgroup_mounts(f.read()).items()}


def _own_cgroups():
    with open("/proc/self/cgroup") as f:
        return f.read()


def test_no_cgroup_mount_means_no_warmup():
    assert cgroupwarmup.start({}) is None


def test_a_cgroup_that_does_not_list_us_is_never_used(tmp_path):
    # A directory standing in for a mount whose root is not the hierarchy's:
    # our path below it does not exist, or does not list our pid.
    fake = tmp_path / "unified"
    fake.mkdir()
    (fake / "cgroup.procs").write_text("1\n")
    assert cgroupwarmup._own_procs_file({"unified": str(fake)}) is None


@needs_root
def test_the_warmup_leaves_this_process_where_it_was():
    mounts = _mounts()
    if not mounts:
        pytest.skip("no cgroup hierarchy mounted")
    before, threads = _own_cgroups(), _thread._count()
    path = cgroupwarmup._own_procs_file(mounts)
    assert path is not None and str(os.getpid()) in open(path).read().split()
    warmup = cgroupwarmup.start(mounts)
    assert warmup is not None
    time.sleep(0.05)  # a grace period and some repeats
    warmup.stop()
    warmup.stop()  # twice is harmless
    time.sleep(0.01)
    assert _own_cgroups() == before
    assert _thread._count() == threads  # the thread has ended
